"""The clicks table is partitioned by month of ``at`` (native range partitioning): a partition
per month, named ``clicks_pYYYYMM``, and a default partition that takes any click whose month
has none yet, so an insert never fails for want of a partition.

Partitions are made ahead (the current month and the next ``AHEAD`` months) by the drain at
start and then every hour (``ensure``). A month whose clicks already sit in the default
partition (the drain was down, or a click's clock was far off) is made all the same: the table
is created on its own, the month's rows moved into it from the default partition, then attached,
in one transaction. Retention is dropping a month (``drop_before``): no DELETE, no bloat, and the
rollups and counters keep the month's totals.

Plain SQL on a psycopg cursor, with no import of admin (the drain stays light): the drain,
the migration and the tests share it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import psycopg

TABLE = "clicks"
DEFAULT = "clicks_default"
AHEAD = 2  # months made ahead of the current one
# One lock id for partition changes: two drains starting together make each month once.
_LOCK = 0x5EC1_1C45
_NAME = re.compile(r"^clicks_p(\d{4})(\d{2})$")


def month_of(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def name_of(month: date) -> str:
    return f"clicks_p{month.year:04d}{month.month:02d}"


def months(cur: psycopg.Cursor[Any]) -> list[date]:
    """The months that have a partition, oldest first."""
    cur.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass",
        (TABLE,),
    )
    found = []
    for (name,) in cur.fetchall():
        m = _NAME.match(name)
        if m:
            found.append(date(int(m[1]), int(m[2]), 1))
    return sorted(found)


def create_month(cur: psycopg.Cursor[Any], month: date) -> bool:
    """The month's partition, with any of its rows moved out of the default partition; False
    when it exists already. Runs in the caller's transaction."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    if month in months(cur):
        return False
    name, low, high = name_of(month), month, next_month(month)
    bounds = (f"{low.isoformat()} 00:00:00+00", f"{high.isoformat()} 00:00:00+00")
    # LIKE copies columns, defaults, NOT NULL and CHECK; ATTACH adds the parent's indexes and
    # foreign keys, and checks the default partition holds no row of the month any more.
    cur.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cur.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE at >= %s AND at < %s RETURNING *)"
        f" INSERT INTO {name} SELECT * FROM moved",
        bounds,
    )
    # DDL takes no parameters; the bounds are made from dates here, never from input.
    cur.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name}"
        f" FOR VALUES FROM ('{bounds[0]}') TO ('{bounds[1]}')"
    )
    return True


def ensure(
    conn: psycopg.Connection[Any], now: datetime | None = None, ahead: int = AHEAD
) -> list[str]:
    """Partitions for the current month and ``ahead`` more, each in its own short transaction
    (lock_timeout: a busy table is tried again at the next call, clicks meanwhile go to the
    default partition). Returns the names made."""
    month = month_of(now or datetime.now(UTC))
    made = []
    for _ in range(ahead + 1):
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '5s'")
            if create_month(cur, month):
                made.append(name_of(month))
        month = next_month(month)
    return made


def drop_before(cur: psycopg.Cursor[Any], month: date) -> list[str]:
    """Retention: drop every month's partition older than ``month``. Returns the names."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    dropped = []
    for m in months(cur):
        if m < month:
            cur.execute(f"DROP TABLE {name_of(m)}")
            dropped.append(name_of(m))
    return dropped
