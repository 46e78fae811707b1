"""sending an organiser can trust: compliance messages, scheduling, cancel, exactly-once

Revision ID: 0006_sending
Revises: 0002_message_retry
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_sending"
down_revision = "0005_click_rollups"
branch_labels = None
depends_on = None


def upgrade():
    # A compliance message (an opt-out confirmation, a HELP answer) goes to a contact who may
    # have opted out; every other message to an opted-out contact is dropped by the sender.
    op.add_column(
        "messages",
        sa.Column("compliance", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    # When the sender claimed the message for the provider call (the idempotency record:
    # committed before the call, so a restarted sender asks the provider before sending again).
    op.add_column("messages", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "broadcasts", sa.Column("send_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "broadcasts",
        sa.Column("quiet_hours", sa.Boolean(), nullable=False, server_default=sa.text("true")),
    )
    op.add_column("broadcasts", sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True))
    # A follow-up names the broadcast and segment it went to (results: clicked, did not click).
    op.add_column("broadcasts", sa.Column("source", sa.String(64), nullable=False,
                                          server_default=""))
    op.create_index(
        "ix_messages_contact_out_in", "messages", ["org_id", "contact_id", "direction", "created_at"]
    )


def downgrade():
    op.drop_index("ix_messages_contact_out_in", table_name="messages")
    op.drop_column("broadcasts", "source")
    op.drop_column("broadcasts", "canceled_at")
    op.drop_column("broadcasts", "quiet_hours")
    op.drop_column("broadcasts", "send_at")
    op.drop_column("messages", "claimed_at")
    op.drop_column("messages", "compliance")
