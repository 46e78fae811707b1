"""clicks: rollup tables for the metrics, and the clicks table partitioned by month

Revision ID: 0005_click_rollups
Revises: 0002_message_retry

Metrics on a link with millions of clicks read rollups (sync/clicks/rollups.py) kept by the drain,
not the clicks. The clicks table becomes a table partitioned by month of ``at`` with a default
partition (sync/clicks/partitions.py): retention drops a month. Partitioning an existing table means
a new table: the rows are copied over (a few minutes for 10 million clicks; the drain's batches
wait on the lock meanwhile and the stream holds the clicks), then the rollups are built from
them. The primary key and the click id's unique key gain ``at`` (a unique key on a partitioned
table must hold the partition column); the drain's ``ON CONFLICT (click_id, at)`` still catches
a redelivered event, whose ``at`` is the event's own timestamp.

Downgrade copies the clicks back into a plain table and drops the rollups.
"""

from datetime import UTC, datetime

from alembic import op

from sync.clicks import partitions, rollups

revision = "0005_click_rollups"
down_revision = "0004_security"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, click_id, org_id, link_id, domain_id, code, contact_id, broadcast_id, at, recorded_at,"
    " kind, reason, user_agent, ip, referer, visitor_hash, device, os, browser, merge_fallback"
)


def _create_clicks(name: str, partitioned: bool) -> None:
    op.execute(
        f"""
        CREATE TABLE {name} (
            id bigint NOT NULL DEFAULT nextval('clicks_id_seq'),
            click_id varchar(40) NOT NULL,
            org_id bigint NOT NULL,
            link_id bigint NOT NULL,
            domain_id bigint,
            code varchar(8) NOT NULL,
            contact_id bigint,
            broadcast_id bigint,
            at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            kind varchar(8) NOT NULL,
            reason varchar(100) NOT NULL DEFAULT '',
            user_agent varchar(512) NOT NULL DEFAULT '',
            ip inet,
            referer varchar(512) NOT NULL DEFAULT '',
            visitor_hash varchar(64) NOT NULL DEFAULT '',
            device varchar(64) NOT NULL DEFAULT '',
            os varchar(64) NOT NULL DEFAULT '',
            browser varchar(64) NOT NULL DEFAULT '',
            merge_fallback boolean NOT NULL DEFAULT false,
            CONSTRAINT ck_clicks_kind CHECK (kind IN ('human', 'preview', 'bot'))
        ) {"PARTITION BY RANGE (at)" if partitioned else ""}
        """
    )


def _swap_in(new: str, key: str) -> None:
    """Drop ``clicks``, rename ``new`` to it, and give it its keys, indexes and foreign keys
    (built once over the copied rows, faster than kept up row by row)."""
    op.execute("ALTER SEQUENCE clicks_id_seq OWNED BY NONE")
    op.execute("DROP TABLE clicks")
    op.execute(f"ALTER TABLE {new} RENAME TO clicks")
    op.execute("ALTER SEQUENCE clicks_id_seq OWNED BY clicks.id")
    op.execute(f"ALTER TABLE clicks ADD CONSTRAINT clicks_pkey PRIMARY KEY ({key})")
    unique = "click_id, at" if key == "id, at" else "click_id"
    op.execute(f"ALTER TABLE clicks ADD CONSTRAINT clicks_click_id_key UNIQUE ({unique})")
    op.execute("CREATE INDEX ix_clicks_link_at ON clicks (link_id, at)")
    op.execute("CREATE INDEX ix_clicks_link_contact ON clicks (link_id, contact_id)")
    op.execute(
        "ALTER TABLE clicks ADD CONSTRAINT clicks_contact_id_fkey FOREIGN KEY (contact_id)"
        " REFERENCES contacts (id) ON DELETE SET NULL"
    )
    op.execute(
        "ALTER TABLE clicks ADD CONSTRAINT clicks_link_id_fkey FOREIGN KEY (link_id)"
        " REFERENCES links (id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE clicks ADD CONSTRAINT clicks_org_id_fkey FOREIGN KEY (org_id)"
        " REFERENCES organisations (id) ON DELETE CASCADE"
    )


def upgrade():
    op.execute(
        """
        CREATE TABLE link_series (
            link_id bigint NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            grain varchar(8) NOT NULL,
            t timestamptz NOT NULL,
            org_id bigint NOT NULL,
            clicks bigint NOT NULL DEFAULT 0,
            previews bigint NOT NULL DEFAULT 0,
            bots bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (link_id, grain, t)
        );
        CREATE TABLE link_breakdown (
            link_id bigint NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            dimension varchar(8) NOT NULL,
            name varchar(64) NOT NULL,
            org_id bigint NOT NULL,
            clicks bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (link_id, dimension, name)
        );
        CREATE TABLE link_broadcast_clicks (
            link_id bigint NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            broadcast_id bigint NOT NULL,
            org_id bigint NOT NULL,
            clicks bigint NOT NULL DEFAULT 0,
            unique_clicks bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (link_id, broadcast_id)
        );
        CREATE TABLE link_broadcast_contacts (
            link_id bigint NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            broadcast_id bigint NOT NULL,
            contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
            PRIMARY KEY (link_id, broadcast_id, contact_id)
        );
        """
    )
    cur = op.get_bind().connection.driver_connection.cursor()
    _create_clicks("clicks_partitioned", partitioned=True)
    cur.execute("SELECT DISTINCT date_trunc('month', at, 'UTC') FROM clicks")
    wanted = {partitions.month_of(row[0]) for row in cur.fetchall()}
    month = partitions.month_of(datetime.now(UTC))
    for _ in range(partitions.AHEAD + 1):
        wanted.add(month)
        month = partitions.next_month(month)
    for m in sorted(wanted):
        op.execute(
            f"CREATE TABLE {partitions.name_of(m)} PARTITION OF clicks_partitioned"
            f" FOR VALUES FROM ('{m.isoformat()} 00:00:00+00')"
            f" TO ('{partitions.next_month(m).isoformat()} 00:00:00+00')"
        )
    op.execute(f"CREATE TABLE {partitions.DEFAULT} PARTITION OF clicks_partitioned DEFAULT")
    op.execute(f"INSERT INTO clicks_partitioned ({COLUMNS}) SELECT {COLUMNS} FROM clicks")
    _swap_in("clicks_partitioned", "id, at")
    rollups.backfill(cur)


def downgrade():
    _create_clicks("clicks_plain", partitioned=False)
    # Fails (and changes nothing) if one click id was recorded at two times, which the plain
    # table's unique click id cannot hold.
    op.execute(f"INSERT INTO clicks_plain ({COLUMNS}) SELECT {COLUMNS} FROM clicks")
    _swap_in("clicks_plain", "id")  # dropping the partitioned table drops its partitions
    op.execute(
        "DROP TABLE link_broadcast_contacts, link_broadcast_clicks, link_breakdown, link_series"
    )
