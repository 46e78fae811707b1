"""Click metrics of a link: counters, time series, breakdowns and the contacts behind them.

The counters are one row (``link_counters``) kept by the drain in each batch's transaction, so
``counters`` costs one index lookup however many clicks a link has and is current as soon as
the batch commits. Series and breakdowns read the rollups the drain keeps beside them
(sync/clicks/rollups.py): a series one row per point of its own grain, a breakdown a few rows. The
drill-down reads ``link_contact_clicks`` (one row per link and contact, keyed for keyset
pagination); previews, rarer, aggregate ``clicks`` by contact.

Every function takes the caller's organisation and filters on it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from admin.errors import BadValue
from admin.extensions import db
from admin.models import Link
from admin.schemas.metrics import MetricContactOut
from admin.services import audit
from core.clicks import BOT, PREVIEW_KINDS, sql_list
from sync.clicks import rollups

METRICS = ("clicks", "unique_clicks", "previews", "bots")
BUCKETS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
DEFAULT_SPAN = {
    "minute": timedelta(hours=1),
    "hour": timedelta(hours=48),
    "day": timedelta(days=30),
}
MAX_POINTS = 5000
BREAKDOWN_TOP = 25
CSV_COLUMNS = (
    "contact_id",
    "phone",
    "first_name",
    "last_name",
    "email",
    "clicks",
    "first_at",
    "last_at",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV/formula injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class MetricsError(BadValue):
    """A metric, bucket or range the metrics cannot answer."""


def link_in_org(org_id: int, link_id: int) -> Link | None:
    return db.session.scalar(select(Link).where(Link.id == link_id, Link.org_id == org_id))


def _of_link(sql: str, org_id: int, link_id: int, **params: Any) -> Any:
    """``sql`` run with ``:link`` and ``:org`` bound: every rollup is read by both, so that
    another organisation's link reads as empty."""
    return db.session.execute(text(sql), {"link": link_id, "org": org_id, **params})


def counters(org_id: int, link_id: int) -> dict[str, Any]:
    row = _of_link(
        "SELECT clicks, unique_clicks, previews, bots, updated_at FROM link_counters"
        " WHERE link_id = :link AND org_id = :org",
        org_id,
        link_id,
    ).first()
    if row is None:
        return {"clicks": 0, "unique_clicks": 0, "previews": 0, "bots": 0, "updated_at": None}
    return {
        "clicks": row.clicks,
        "unique_clicks": row.unique_clicks,
        "previews": row.previews,
        "bots": row.bots,
        "updated_at": row.updated_at,
    }


def series(
    org_id: int,
    link_id: int,
    bucket: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Clicks and previews per bucket from ``start`` to ``end`` (UTC), empty buckets included."""
    if bucket not in BUCKETS:
        raise MetricsError("bucket", f"bucket must be one of {', '.join(BUCKETS)}")
    step = BUCKETS[bucket]
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_SPAN[bucket]
    if start >= end:
        raise MetricsError("from", "from must be before to")
    first, last = rollups.truncate(start, bucket), rollups.truncate(end, bucket)
    if (last - first) / step + 1 > MAX_POINTS:
        raise MetricsError("from", f"the range holds more than {MAX_POINTS} {bucket}s")
    # Keyed by epoch seconds: hashing 5,000 aware datetimes (their tz's utcoffset each time)
    # was half of a 3-day minute series.
    found = {
        row[0]: (row[1], row[2])
        for row in _of_link(
            "SELECT extract(epoch FROM t)::bigint, clicks, previews FROM link_series"
            " WHERE link_id = :link AND org_id = :org AND grain = :bucket"
            " AND t >= :start AND t <= :last",
            org_id,
            link_id,
            bucket=bucket,
            start=first,
            last=last,
        ).all()  # one fetchall: iterating the result fetched row by row, 40 ms for 4,000 rows
    }
    first_s, step_s = int(first.timestamp()), int(step.total_seconds())
    points = []
    for i in range(int((last - first) / step) + 1):
        clicks, previews = found.get(first_s + i * step_s, (0, 0))
        points.append({"t": first + i * step, "clicks": clicks, "previews": previews})
    return points


def breakdown(org_id: int, link_id: int) -> dict[str, Any]:
    """Human clicks by device, OS and browser, and per broadcast (from the rollups)."""
    rows = _of_link(
        "SELECT dimension, name, clicks FROM link_breakdown"
        " WHERE link_id = :link AND org_id = :org AND clicks > 0",
        org_id,
        link_id,
    ).all()
    groups: dict[str, list[dict[str, Any]]] = {d: [] for d in rollups.DIMENSIONS}
    for row in rows:
        groups[row.dimension].append({"name": row.name or "Other", "clicks": row.clicks})
    for key in groups:
        groups[key] = sorted(groups[key], key=lambda x: (-x["clicks"], x["name"]))[:BREAKDOWN_TOP]
    broadcasts = _of_link(
        "SELECT broadcast_id, clicks, unique_clicks FROM link_broadcast_clicks"
        " WHERE link_id = :link AND org_id = :org ORDER BY broadcast_id",
        org_id,
        link_id,
    ).all()
    return {
        **groups,
        "broadcasts": [
            {"broadcast_id": b.broadcast_id, "clicks": b.clicks, "unique_clicks": b.unique_clicks}
            for b in broadcasts
        ],
    }


_ISO_UTC = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""


def _metric_query(metric: str, times_as_text: bool = False) -> str:
    """The first ``:limit`` contacts after ``:after`` behind a metric, in contact id order (the
    keyset): contact id, clicks, first and last click (``times_as_text``: ISO 8601 UTC text,
    formatted by Postgres, for the CSV). One index range of the link's rows."""
    if metric in ("clicks", "unique_clicks"):
        source = """
            SELECT contact_id, clicks, first_at, last_at FROM link_contact_clicks
            WHERE link_id = :link AND org_id = :org AND contact_id > :after
        """
    elif metric in ("previews", "bots"):
        kinds = sql_list(PREVIEW_KINDS if metric == "previews" else (BOT,))
        source = f"""
            SELECT contact_id, count(*) AS clicks, min(at) AS first_at, max(at) AS last_at
            FROM clicks
            WHERE link_id = :link AND org_id = :org AND contact_id > :after
              AND kind IN {kinds}
            GROUP BY contact_id
        """
    else:
        raise MetricsError("metric", f"metric must be one of {', '.join(METRICS)}")
    times = (
        f"to_char(m.first_at AT TIME ZONE 'UTC', {_ISO_UTC}),"
        f" to_char(m.last_at AT TIME ZONE 'UTC', {_ISO_UTC})"
        if times_as_text
        else "m.first_at, m.last_at"
    )
    return f"""
        SELECT m.contact_id, m.clicks, {times}
        FROM ({source} ORDER BY contact_id LIMIT :limit) AS m ORDER BY m.contact_id
    """


# The page's contacts, joined to their ids rather than filtered by "id = ANY(ids)": with stale
# statistics Postgres scanned every contact and compared it with all 1,000 ids (1.2 s a page);
# joined, the worst plan is one hash of the ids and one pass over the contacts.
_PEOPLE = text(
    "SELECT c.id, c.phone, c.first_name, c.last_name, c.email"
    " FROM unnest(CAST(:ids AS bigint[])) AS page(id)"
    " JOIN contacts c ON c.id = page.id AND c.org_id = :org"
)


def _page(
    query: str, org_id: int, link_id: int, after: int, limit: int
) -> tuple[list[tuple[Any, ...]], int, int]:
    """The rows of one page (id, phone, first, last, email, clicks, first at, last at), how
    many metric rows it read and the last one's contact id (the next page's ``after``).

    Two queries, not one join of the metric's rows with the contacts: joined, the plan depends
    on the statistics, and with stale ones after a bulk load (100,000 contacts inserted, not yet
    analysed) Postgres looped over the contacts for every row and had not finished after 300 s
    on CI; a page of ids, then those ids' contacts, cost about the same whatever they say."""
    metric_rows = _of_link(query, org_id, link_id, after=after, limit=limit).all()
    people = {
        row[0]: row
        for row in db.session.execute(
            _PEOPLE, {"org": org_id, "ids": [m[0] for m in metric_rows]}
        )
    }
    # A link's clicks are only ever attributed to its organisation's contacts: every id is
    # found (a contact deleted meanwhile is skipped).
    rows = [(*people[m[0]], *m[1:]) for m in metric_rows if m[0] in people]
    return rows, len(metric_rows), (metric_rows[-1][0] if metric_rows else after)


def contacts_page(
    org_id: int, link_id: int, metric: str, after: int = 0, limit: int = 100
) -> tuple[list[MetricContactOut], int | None]:
    """One page of the contacts behind ``metric`` and the cursor of the next (None: last)."""
    rows, read, _last = _page(_metric_query(metric), org_id, link_id, after, limit + 1)
    page = [MetricContactOut(*row) for row in rows[:limit]]
    return page, (page[-1].id if read > limit and page else None)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def phone_cell(phone: str) -> str:
    """A phone exactly as the API shows it: a validated E.164 number (``+`` and digits only)
    cannot run as a formula, and an apostrophe would break matching and re-import. Anything
    else in the column is neutralised like text."""
    return phone if _E164.fullmatch(phone) else neutralise(phone)


def export_csv(org_id: int, link_id: int, metric: str, chunk_rows: int = 1000) -> Iterator[str]:
    """The CSV of ``contacts_page`` without pages: the same keyset pages, ``chunk_rows`` at a
    time, each chunk yielded as text, so memory stays flat for any number of rows (pages rather
    than one server-side cursor, for the reason in ``_page``)."""
    query = _metric_query(metric, times_as_text=True)  # raises MetricsError before anything
    # Personal data leaves the system: recorded (and committed) before the first row goes.
    audit.record(org_id, "export.link_contacts", f"link {link_id}", detail={"metric": metric})
    db.session.commit()

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        after = 0
        while True:
            rows, read, after = _page(query, org_id, link_id, after, chunk_rows)
            writer.writerows(
                (
                    row[0],
                    phone_cell(row[1]),
                    neutralise(row[2]),
                    neutralise(row[3]),
                    neutralise(row[4]),
                    row[5],
                    row[6],
                    row[7],
                )
                for row in rows
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if read < chunk_rows:
                return

    return generate()
