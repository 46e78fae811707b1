"""Who a broadcast goes to: the audience (chosen contacts, a list, a tag, or a segment of an
earlier broadcast), read from Postgres as plain tuples in chunks through a server-side cursor,
for the confirmation straight from the query, for queueing set apart first in a temporary
table: a broadcast to 1 M contacts holds one chunk in memory at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from admin.extensions import db
from admin.services.errors import NotFound
from admin.services.message_body import Body

CHUNK = 50_000  # recipients per chunk: flat memory, and few enough round trips
# The confirmation's rows are read and dropped one by one: a smaller chunk costs it nothing
# (400,000 recipients: +116 MB of peak memory at 50,000 rows a fetch).
READ_CHUNK = 10_000


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to: the union of chosen contacts, a list and a tag (by name)."""

    contact_ids: tuple[int, ...] = ()
    list_name: str | None = None
    tag: str | None = None
    follow_up: tuple[int, str] | None = None  # (broadcast id, segment)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.follow_up:
            out["follow_up"] = {"broadcast_id": self.follow_up[0], "segment": self.follow_up[1]}
        if self.contact_ids:
            out["contacts"] = len(self.contact_ids)
            if len(self.contact_ids) <= 1000:
                out["contact_ids"] = list(self.contact_ids)
        if self.list_name:
            out["list"] = self.list_name
        if self.tag:
            out["tag"] = self.tag
        return out

    @property
    def field(self) -> str:
        """The request field to blame when the audience holds no one to send to."""
        return "contact_ids" if self.contact_ids else ("list" if self.list_name else "tag")


# A recipient is a row of _RECIPIENTS_SQL: (id, phone, first_name, last_name, email, fields,
# opted_out, unreachable, time zone, code). Plain tuples, not objects: a broadcast may have
# 1,000,000 recipients. Fields is None unless asked for; the time zone (the contact's
# time_zone field as text, for quiet hours) and the code (the contact's code for the
# broadcast's link and source, if it has one) are None unless asked for.
Row = tuple[Any, ...]
COLUMNS = {"phone": 1, "first_name": 2, "last_name": 3, "email": 4}
FIELDS, OPTED_OUT, UNREACHABLE, TIME_ZONE, CODE = 5, 6, 7, 8, 9


def renderer(body: Body) -> Callable[[Sequence[Any], str], str]:
    """The body's text for a recipient's row and short URL."""
    return body.row_renderer(COLUMNS, FIELDS)


# The recipients' ids first, deduplicated and materialised, then one join with contacts by
# primary key. Two plans that failed: three conditions joined by OR test each contact against
# each subquery, and a subquery too large to hash in work_mem (a tag on 1 M contacts) is
# rescanned per contact (a 1 M broadcast had not come back after 160 s); one IN over a UNION
# ALL, on contacts imported moments before (no ANALYZE yet), was planned as a nested loop that
# ran for minutes on 100,000. The materialised set cannot be rescanned per contact. Read in
# id order: the codes of a chunk are issued in contact order, the one lock order of every
# issuer (services/codes.py).
# Unreachable: the carrier refused the contact's latest message (failed or undelivered), so
# another would cost money and hurt the sender's reputation for nothing (not looked up for
# an opted-out contact, who is left out anyway). Every column named: the recipients fill a
# table (recipient_chunks), and two NULL::text would both be called "text".
_RECIPIENTS_SQL = """
    WITH wanted AS MATERIALIZED (
        SELECT unnest(CAST(%(contact_ids)s AS bigint[])) AS id
        UNION SELECT lm.contact_id FROM list_members lm WHERE lm.list_id = %(list_id)s
        UNION SELECT ct.contact_id FROM contact_tags ct WHERE ct.tag_id = %(tag_id)s
    )
    SELECT c.id, c.phone, c.first_name, c.last_name, c.email, {fields} AS fields, c.opted_out,
        CASE WHEN c.opted_out THEN false ELSE COALESCE(
            (SELECT m.status IN ('failed', 'undelivered') FROM messages m
             WHERE m.contact_id = c.id AND m.direction = 'out' AND NOT m.compliance
               AND m.status NOT IN ('queued', 'sending', 'canceled', 'opted_out')
             ORDER BY m.created_at DESC LIMIT 1), false) END AS unreachable,
        {time_zone} AS time_zone, {code} AS code
    FROM wanted w JOIN contacts c ON c.id = w.id{codes}
    WHERE c.org_id = %(org_id)s
"""
# The contact's code for the link and source, where it has one (one at most: the unique key).
_CODES_JOIN = """
    LEFT JOIN issued_codes ic ON ic.link_id = %(link_id)s AND ic.contact_id = c.id
        AND ic.source IS NOT DISTINCT FROM CAST(%(source)s AS text)"""


def driver_connection() -> Any:
    """The psycopg connection under the session, in the session's transaction: for COPY and
    for reading many rows as plain tuples."""
    return db.session.connection().connection.driver_connection


# The id of an organisation's list or tag by its name, by the field that names it.
_ID_BY_NAME = {
    "list": text("SELECT id FROM contact_lists WHERE org_id = :o AND name = :n"),
    "tag": text("SELECT id FROM tags WHERE org_id = :o AND name = :n"),
}


def _id_named(org_id: int, field: str, name: str) -> int:
    found: int | None = db.session.scalar(_ID_BY_NAME[field], {"o": org_id, "n": name})
    if found is None:
        raise NotFound(field, f"no {field} named {name!r}")
    return found


_MISSING_IDS = """
    SELECT given.id FROM unnest(CAST(%s AS bigint[])) WITH ORDINALITY AS given(id, n)
    WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = given.id AND c.org_id = %s)
    ORDER BY given.n LIMIT 10
"""


def _query(
    org_id: int,
    audience: Audience,
    *,
    with_fields: bool,
    time_zone: bool = False,
    link_id: int | None = None,
    source: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The recipients' SQL and parameters; NotFound for a chosen contact that is not the
    organisation's, or a list or tag that does not exist."""
    list_id = _id_named(org_id, "list", audience.list_name) if audience.list_name else None
    tag_id = _id_named(org_id, "tag", audience.tag) if audience.tag else None
    if audience.contact_ids:
        with driver_connection().cursor() as cur:
            missing = [r[0] for r in cur.execute(_MISSING_IDS, (list(audience.contact_ids), org_id))]
        if missing:
            shown = ", ".join(str(i) for i in missing)
            raise NotFound("contact_ids", f"no such contact: {shown}")
    sql = _RECIPIENTS_SQL.format(
        fields="c.fields" if with_fields else "NULL::jsonb",
        time_zone="c.fields->>'time_zone'" if time_zone else "NULL::text",
        code="ic.code" if link_id is not None else "NULL::text",
        codes=_CODES_JOIN if link_id is not None else "",
    )
    params = {
        "org_id": org_id, "contact_ids": list(audience.contact_ids), "list_id": list_id,
        "tag_id": tag_id, "link_id": link_id, "source": source,
    }  # fmt: skip
    return sql, params


def recipient_chunks(
    org_id: int,
    audience: Audience,
    *,
    with_fields: bool,
    time_zone: bool,
    link_id: int | None,
    source: str | None,
) -> Iterator[list[Row]]:
    """The recipients in chunks of CHUNK rows (see Row), through a server-side cursor in the
    session's transaction (so the caller may write between two chunks)."""
    sql, params = _query(org_id, audience, with_fields=with_fields, time_zone=time_zone,
                         link_id=link_id, source=source)  # fmt: skip
    conn = driver_connection()
    # Set apart first, before the caller writes: a cursor on the query itself would run its
    # joins and subqueries while this transaction adds codes and messages, and a plan made
    # with no statistics yet (contacts imported moments before) rescanned the new rows per
    # contact: 100,000 contacts took 180 s instead of 10.
    conn.execute("DROP TABLE IF EXISTS pg_temp.broadcast_recipients")
    conn.execute(f"CREATE TEMP TABLE broadcast_recipients ON COMMIT DROP AS {sql}", params)
    with conn.cursor(name="broadcast_recipients") as cur:
        cur.execute("SELECT * FROM broadcast_recipients ORDER BY id")
        while rows := cur.fetchmany(CHUNK):
            yield rows


def each_recipient(org_id: int, audience: Audience, with_fields: bool = True) -> Iterator[Row]:
    """Every row of the audience (see Row) in id order, those who opted out or are unreachable
    included, through a server-side cursor: READ_CHUNK rows in memory at a time (the
    confirmation of a broadcast to 200,000 held them all: 3.97 s and 240 MB). ``with_fields=False`` leaves
    the fields out (None) when neither the body nor quiet hours need them."""
    sql, params = _query(org_id, audience, with_fields=with_fields)
    conn = driver_connection()
    # A cursor's plan is made for its first rows (cursor_tuple_fraction 0.1); every row is read.
    conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    with conn.cursor(name="confirmation_recipients") as cur:
        cur.execute(sql + " ORDER BY c.id", params)
        while rows := cur.fetchmany(READ_CHUNK):
            yield from rows
