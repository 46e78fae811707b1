"""audit log with before and after; per-organisation click retention; indexes for both

Revision ID: 0008_audit_privacy
Revises: 0007_ui
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_audit_privacy"
down_revision = "0007_ui"
branch_labels = None
depends_on = None

VISITOR_DATA = "ip IS NOT NULL OR user_agent <> ''"


def upgrade():
    op.add_column("audit_events", sa.Column("kind", sa.String(32), nullable=False, server_default=""))
    op.add_column("audit_events", sa.Column("actor_user_id", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("before", postgresql.JSONB(), nullable=True))
    op.add_column("audit_events", sa.Column("after", postgresql.JSONB(), nullable=True))
    op.create_foreign_key(
        "audit_events_actor_user_id_fkey",
        "audit_events",
        "users",
        ["actor_user_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.execute("UPDATE audit_events SET kind = split_part(action, '.', 1)")
    op.drop_index("ix_audit_events_org_id", table_name="audit_events")
    op.create_index("ix_audit_events_org_id_id", "audit_events", ["org_id", "id"])
    op.create_index("ix_audit_events_org_kind_id", "audit_events", ["org_id", "kind", "id"])
    op.add_column(
        "organisations",
        sa.Column("click_retention_days", sa.Integer(), nullable=False, server_default="90"),
    )
    op.create_check_constraint(
        "ck_organisations_click_retention",
        "organisations",
        "click_retention_days BETWEEN 1 AND 3650",
    )
    # The retention job's scan: only clicks that still hold an IP address or a user agent, by
    # organisation and time (on the partitioned table, so every month's partition has one).
    op.create_index(
        "ix_clicks_visitor_data",
        "clicks",
        ["org_id", "at"],
        postgresql_where=sa.text(VISITOR_DATA),
    )
    # Deleting a contact finds their rows by contact: the clicks it clears (and the foreign
    # keys' own ON DELETE actions, which otherwise read every partition and table in full).
    op.create_index(
        "ix_clicks_contact",
        "clicks",
        ["contact_id"],
        postgresql_where=sa.text("contact_id IS NOT NULL"),
    )
    op.create_index("ix_link_contact_clicks_contact", "link_contact_clicks", ["contact_id"])
    op.create_index("ix_link_broadcast_contacts_contact", "link_broadcast_contacts", ["contact_id"])


def downgrade():
    op.drop_index("ix_link_broadcast_contacts_contact", table_name="link_broadcast_contacts")
    op.drop_index("ix_link_contact_clicks_contact", table_name="link_contact_clicks")
    op.drop_index("ix_clicks_contact", table_name="clicks")
    op.drop_index("ix_clicks_visitor_data", table_name="clicks")
    op.drop_constraint("ck_organisations_click_retention", "organisations", type_="check")
    op.drop_column("organisations", "click_retention_days")
    op.drop_index("ix_audit_events_org_kind_id", table_name="audit_events")
    op.drop_index("ix_audit_events_org_id_id", table_name="audit_events")
    op.create_index("ix_audit_events_org_id", "audit_events", ["org_id"])
    op.drop_constraint("audit_events_actor_user_id_fkey", "audit_events", type_="foreignkey")
    for column in ("after", "before", "actor_user_id", "kind"):
        op.drop_column("audit_events", column)
