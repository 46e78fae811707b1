"""messages: when a message that failed for a passing reason is tried again

Revision ID: 0002_message_retry
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_message_retry"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # NULL: due now. The sender claims queued messages whose time has come.
    op.add_column(
        "messages", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade():
    op.drop_column("messages", "next_attempt_at")
