"""links: an optional expiry and a folder

Revision ID: 0007_ui
Revises: 0002_message_retry
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ui"
down_revision = "0002_message_retry"
branch_labels = None
depends_on = None


def upgrade():
    # NULL: the link never expires. After it, the edge answers the fallback or 410.
    op.add_column("links", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "links", sa.Column("folder", sa.String(100), nullable=False, server_default="")
    )
    op.create_index("ix_links_org_folder", "links", ["org_id", "folder"])


def downgrade():
    op.drop_index("ix_links_org_folder", table_name="links")
    op.drop_column("links", "folder")
    op.drop_column("links", "expires_at")
