"""security: sessions that end, room for encrypted secrets, two-factor sign-in

Revision ID: 0004_security
Revises: 0002_message_retry
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_security"
down_revision = "0003_domain_ownership"
branch_labels = None
depends_on = None


def upgrade():
    # Part of every session's id: raising it (logout, role change, deactivation) ends them all.
    op.add_column(
        "users",
        sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"),
    )
    # Two-factor sign-in (TOTP): the secret, encrypted (sync/crypto.py), and the last time step
    # accepted, so that a code works once.
    op.add_column("users", sa.Column("totp_secret", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    # A webhook secret is stored encrypted (core.secrets): a Fernet token is longer than 128.
    op.alter_column("webhooks", "secret", type_=sa.Text(), existing_nullable=False)


def downgrade():
    op.alter_column("webhooks", "secret", type_=sa.String(128), existing_nullable=False)
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_secret")
    op.drop_column("users", "session_generation")
