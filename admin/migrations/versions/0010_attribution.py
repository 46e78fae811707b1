"""issued codes: a broadcast's source (refcode) per code, for {{source}} in destinations

Revision ID: 0010_attribution
Revises: 0007_ui
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_attribution"
down_revision = "0008_audit_privacy"
branch_labels = None
depends_on = None


def upgrade():
    # NULL: the contact's one code for the link (every message but a broadcast's with
    # {{source}} in the link's destination); else one code per (link, contact, source). NULLS
    # NOT DISTINCT (PostgreSQL 15+): one plain code per (link, contact) still, and one index
    # whose (link_id, contact_id) prefix serves every lookup by link, as the old one did.
    op.add_column("issued_codes", sa.Column("source", sa.String(64), nullable=True))
    op.drop_constraint("uq_issued_codes_link_contact", "issued_codes", type_="unique")
    op.create_unique_constraint(
        "uq_issued_codes_link_contact", "issued_codes", ["link_id", "contact_id", "source"],
        postgresql_nulls_not_distinct=True,
    )  # fmt: skip


def downgrade():
    op.execute("DELETE FROM issued_codes WHERE source IS NOT NULL")
    op.drop_constraint("uq_issued_codes_link_contact", "issued_codes", type_="unique")
    op.create_unique_constraint(
        "uq_issued_codes_link_contact", "issued_codes", ["link_id", "contact_id"]
    )
    op.drop_column("issued_codes", "source")
