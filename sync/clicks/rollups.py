"""Click rollups: what the metrics read instead of scanning a link's clicks.

- ``link_series``: per link, grain (minute, hour, day) and bucket start (UTC): human clicks,
  previews (known bots included, as the counters count them) and bots. A series reads one row
  per point of its own grain, so 90 days by hour are 2,160 rows however many clicks there were.
- ``link_breakdown``: per link, dimension (device, os, browser) and name: human clicks.
- ``link_broadcast_clicks``: per link and broadcast: human clicks and distinct contacts, with
  ``link_broadcast_contacts`` (link, broadcast, contact) telling a contact's first click apart.

The drain keeps them in each batch's transaction (``record``), from the clicks that batch
actually inserted, so a redelivered click changes nothing and the rollups always equal the
aggregate over ``clicks``. ``backfill`` builds them from ``clicks`` (the migration, the seed).
All of their SQL is here. Rows are sorted by key before each upsert so that concurrent drain
consumers lock them in one order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from core.clicks import BOT, HUMAN

GRAINS = ("minute", "hour", "day")
DIMENSIONS = ("device", "os", "browser")


@dataclass(frozen=True)
class RollupClick:
    """What the rollups need of one newly inserted click."""

    link_id: int
    org_id: int
    at: datetime
    kind: str
    device: str = ""
    os: str = ""
    browser: str = ""
    contact_id: int | None = None
    broadcast_id: int | None = None


def truncate(moment: datetime, grain: str) -> datetime:
    """The start (UTC) of the minute, hour or day holding ``moment``."""
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    if grain in ("hour", "day"):
        moment = moment.replace(minute=0)
    if grain == "day":
        moment = moment.replace(hour=0)
    return moment


def record(cur: psycopg.Cursor[Any], clicks: Sequence[RollupClick]) -> None:
    """Add newly inserted clicks to the rollups, in the caller's transaction."""
    if not clicks:
        return
    _series(cur, clicks)
    human = [c for c in clicks if c.kind == HUMAN]
    _breakdown(cur, human)
    _broadcasts(cur, [c for c in human if c.broadcast_id is not None])


def _series(cur: psycopg.Cursor[Any], clicks: Sequence[RollupClick]) -> None:
    counts: dict[tuple[int, str, datetime], list[int]] = {}
    for c in clicks:
        for grain in GRAINS:
            row = counts.setdefault((c.link_id, grain, truncate(c.at, grain)), [c.org_id, 0, 0, 0])
            if c.kind == HUMAN:
                row[1] += 1
            else:
                row[2] += 1
                row[3] += c.kind == BOT
    keys = sorted(counts)
    cur.execute(
        """
        INSERT INTO link_series (link_id, grain, t, org_id, clicks, previews, bots)
        SELECT * FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::bigint[],
                             %b::bigint[], %b::bigint[], %b::bigint[])
        ON CONFLICT (link_id, grain, t) DO UPDATE SET
            clicks = link_series.clicks + EXCLUDED.clicks,
            previews = link_series.previews + EXCLUDED.previews,
            bots = link_series.bots + EXCLUDED.bots
        """,
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            *([counts[k][i] for k in keys] for i in range(4)),
        ),
    )


def _breakdown(cur: psycopg.Cursor[Any], human: Sequence[RollupClick]) -> None:
    if not human:
        return
    counts: Counter[tuple[int, str, str]] = Counter()
    orgs: dict[int, int] = {}
    for c in human:
        orgs[c.link_id] = c.org_id
        counts[(c.link_id, "device", c.device)] += 1
        counts[(c.link_id, "os", c.os)] += 1
        counts[(c.link_id, "browser", c.browser)] += 1
    keys = sorted(counts)
    cur.execute(
        """
        INSERT INTO link_breakdown (link_id, dimension, name, org_id, clicks)
        SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::bigint[], %b::bigint[])
        ON CONFLICT (link_id, dimension, name) DO UPDATE SET
            clicks = link_breakdown.clicks + EXCLUDED.clicks
        """,
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [orgs[k[0]] for k in keys],
            [counts[k] for k in keys],
        ),
    )


def _broadcasts(cur: psycopg.Cursor[Any], human: Sequence[RollupClick]) -> None:
    if not human:
        return
    clicks: Counter[tuple[int, int]] = Counter()
    orgs: dict[int, int] = {}
    contacts: set[tuple[int, int, int]] = set()
    for c in human:
        assert c.broadcast_id is not None
        clicks[(c.link_id, c.broadcast_id)] += 1
        orgs[c.link_id] = c.org_id
        if c.contact_id is not None:
            contacts.add((c.link_id, c.broadcast_id, c.contact_id))
    firsts: Counter[tuple[int, int]] = Counter()
    if contacts:
        triples = sorted(contacts)
        cur.execute(
            """
            INSERT INTO link_broadcast_contacts (link_id, broadcast_id, contact_id)
            SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[])
            ON CONFLICT DO NOTHING
            RETURNING link_id, broadcast_id
            """,
            ([t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples]),
        )
        firsts.update((row[0], row[1]) for row in cur.fetchall())
    keys = sorted(clicks)
    cur.execute(
        """
        INSERT INTO link_broadcast_clicks (link_id, broadcast_id, org_id, clicks, unique_clicks)
        SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],
                             %b::bigint[])
        ON CONFLICT (link_id, broadcast_id) DO UPDATE SET
            clicks = link_broadcast_clicks.clicks + EXCLUDED.clicks,
            unique_clicks = link_broadcast_clicks.unique_clicks + EXCLUDED.unique_clicks
        """,
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [orgs[k[0]] for k in keys],
            [clicks[k] for k in keys],
            [firsts.get(k, 0) for k in keys],
        ),
    )


# Backfill: minutes from the clicks in one pass, then hours from minutes and days from hours,
# each written in key order so that a series' rows sit together on disk (hash-aggregate order
# scattered a 3-day minute series over 2,500 pages). ``%(link)s`` NULL: every link.
_BACKFILL = (
    """
    INSERT INTO link_series (link_id, grain, t, org_id, clicks, previews, bots)
    SELECT link_id, 'minute', date_trunc('minute', at, 'UTC'), org_id,
           count(*) FILTER (WHERE kind = 'human'), count(*) FILTER (WHERE kind <> 'human'),
           count(*) FILTER (WHERE kind = 'bot')
    FROM clicks WHERE %(link)s::bigint IS NULL OR link_id = %(link)s::bigint
    GROUP BY link_id, 3, org_id ORDER BY link_id, 3
    """,
    *(
        f"""
    INSERT INTO link_series (link_id, grain, t, org_id, clicks, previews, bots)
    SELECT link_id, '{coarse}', date_trunc('{coarse}', t, 'UTC'), org_id,
           sum(clicks), sum(previews), sum(bots)
    FROM link_series
    WHERE grain = '{fine}' AND (%(link)s::bigint IS NULL OR link_id = %(link)s::bigint)
    GROUP BY link_id, 3, org_id ORDER BY link_id, 3
    """
        for fine, coarse in (("minute", "hour"), ("hour", "day"))
    ),
    """
    INSERT INTO link_breakdown (link_id, dimension, name, org_id, clicks)
    SELECT link_id, d.dimension, d.name, org_id, count(*)
    FROM clicks
    CROSS JOIN LATERAL (VALUES ('device', device), ('os', os), ('browser', browser))
        AS d(dimension, name)
    WHERE kind = 'human' AND (%(link)s::bigint IS NULL OR link_id = %(link)s::bigint)
    GROUP BY link_id, d.dimension, d.name, org_id ORDER BY 1, 2, 3
    """,
    """
    INSERT INTO link_broadcast_contacts (link_id, broadcast_id, contact_id)
    SELECT DISTINCT link_id, broadcast_id, contact_id
    FROM clicks
    WHERE kind = 'human' AND broadcast_id IS NOT NULL AND contact_id IS NOT NULL
      AND (%(link)s::bigint IS NULL OR link_id = %(link)s::bigint)
    """,
    """
    INSERT INTO link_broadcast_clicks (link_id, broadcast_id, org_id, clicks, unique_clicks)
    SELECT link_id, broadcast_id, org_id, count(*), count(DISTINCT contact_id)
    FROM clicks
    WHERE kind = 'human' AND broadcast_id IS NOT NULL
      AND (%(link)s::bigint IS NULL OR link_id = %(link)s::bigint)
    GROUP BY link_id, broadcast_id, org_id
    """,
)


def backfill(cur: psycopg.Cursor[Any], link_id: int | None = None) -> None:
    """Build the rollups of one link (or of all) from its clicks; the rows must not exist yet."""
    for statement in _BACKFILL:
        cur.execute(statement, {"link": link_id})
