"""Retention of visitors' data: a click older than its organisation's
``click_retention_days`` (default 90) loses its IP address and user agent; the click itself
stays, so every count, series and breakdown is unchanged.

The drain runs ``apply`` every ``EVERY_SECONDS``, between its batches, for at most
``BUDGET_SECONDS``: a first run over a large backlog (say, after the setting is lowered) is
spread over several runs instead of holding up the drain's own work. Each batch is one short
transaction of at most ``BATCH`` clicks, found through a partial index that holds only clicks
still carrying either (ix_clicks_visitor_data on org_id, at), so a run over clicks already
cleared reads nothing.

Plain SQL on psycopg, no import of admin (the drain stays light).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import psycopg

EVERY_SECONDS = 300.0
BUDGET_SECONDS = 5.0
BATCH = 5000
# One drain at a time clears (several drain processes share the database): the others skip.
_LOCK = 0x5EC1_1C46

# Per organisation (LATERAL): its own cutoff, through the partial index of each partition.
_CLEAR = """
WITH due AS (
    SELECT c.id, c.at FROM organisations o
    CROSS JOIN LATERAL (
        SELECT id, at FROM clicks
        WHERE org_id = o.id
          AND at < COALESCE(%(now)s::timestamptz, now())
              - make_interval(days => o.click_retention_days)
          AND (ip IS NOT NULL OR user_agent <> '')
        LIMIT %(batch)s
    ) c
    LIMIT %(batch)s
)
UPDATE clicks SET ip = NULL, user_agent = ''
FROM due WHERE clicks.id = due.id AND clicks.at = due.at
"""


def apply(
    conn: psycopg.Connection[Any],
    now: datetime | None = None,
    batch: int = BATCH,
    budget_seconds: float = BUDGET_SECONDS,
) -> int:
    """Clear what retention says is too old (as of ``now``, default the database's clock),
    batch by batch until none is left or ``budget_seconds`` have passed; returns how many
    clicks were cleared."""
    total = 0
    stop_at = time.monotonic() + budget_seconds
    while time.monotonic() < stop_at:
        with conn.transaction():
            held = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,)).fetchone()
            if not (held and held[0]):
                return total
            cur = conn.execute(_CLEAR, {"now": now, "batch": batch})
        total += cur.rowcount
        if cur.rowcount < batch:
            break
    return total
