"""links: an optional expiry and a folder; an import's header row; a person's time zone

Revision ID: 0007_ui
Revises: 0002_message_retry
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_ui"
down_revision = "0006_sending"
branch_labels = None
depends_on = None


def upgrade():
    # NULL: the link never expires. After it, the edge answers the fallback or 410.
    op.add_column("links", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "links", sa.Column("folder", sa.String(100), nullable=False, server_default="")
    )
    op.create_index("ix_links_org_folder", "links", ["org_id", "folder"])
    # A person's own time zone (NULL: the organisation's, kept in organisations.settings).
    op.add_column("users", sa.Column("time_zone", sa.String(64), nullable=True))
    # An import's header row, for the CSV of its rejected rows.
    op.add_column(
        "import_jobs",
        sa.Column("header", postgresql.JSONB(), nullable=False, server_default="[]"),
    )


def downgrade():
    op.drop_column("users", "time_zone")
    op.drop_column("import_jobs", "header")
    op.drop_index("ix_links_org_folder", table_name="links")
    op.drop_column("links", "folder")
    op.drop_column("links", "expires_at")
