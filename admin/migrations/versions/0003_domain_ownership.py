"""domains: ownership before service (pending until DNS proves it), an audit table

Revision ID: 0003_domain_ownership
Revises: 0002_message_retry

Existing domains served links before this change, so they are marked verified (via
"migration"): upgrading never takes a working domain off the air. The hostname stops being
unique across all rows: several organisations may claim it while pending, one may hold it
verified (docs/decisions/0007-domain-ownership.md). Sync publishes the view
``published_domains`` only.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_domain_ownership"
down_revision = "0002_message_retry"
branch_labels = None
depends_on = None

# Only the columns sync reads: a view pins the types of the columns it names.
PUBLISHED_VIEW = (
    "CREATE VIEW published_domains AS SELECT id, org_id, hostname, fallback_url, version"
    " FROM domains WHERE verified_at IS NOT NULL"
)


def upgrade():
    op.add_column("domains", sa.Column("verified_via", sa.String(16), server_default="", nullable=False))
    op.add_column("domains", sa.Column("dns_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("domains", sa.Column("dns_lost_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE domains SET verified_via = 'migration', verified_at = now()"
        " WHERE verified_at IS NULL"
    )
    op.drop_constraint("domains_hostname_key", "domains", type_="unique")
    op.create_unique_constraint("uq_domains_org_hostname", "domains", ["org_id", "hostname"])
    op.create_index(
        "uq_domains_verified_hostname",
        "domains",
        ["hostname"],
        unique=True,
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )
    op.execute(PUBLISHED_VIEW)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=True),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("detail", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_org_id", "audit_events", ["org_id"])


def downgrade():
    op.drop_index("ix_audit_events_org_id", table_name="audit_events")
    op.drop_table("audit_events")
    op.execute("DROP VIEW published_domains")
    op.drop_index("uq_domains_verified_hostname", table_name="domains")
    op.drop_constraint("uq_domains_org_hostname", "domains", type_="unique")
    op.create_unique_constraint("domains_hostname_key", "domains", ["hostname"])
    op.drop_column("domains", "dns_lost_at")
    op.drop_column("domains", "dns_checked_at")
    op.drop_column("domains", "verified_via")
