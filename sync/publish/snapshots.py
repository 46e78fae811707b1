"""Postgres rows -> core.records: what Redis should hold for each domain, link, contact and code.

Plain SQL over a psycopg 3 connection (no Flask, no ORM objects): the full rebuild streams
hundreds of thousands of rows through server-side cursors, and the per-batch loads read only
the ids named in an outbox batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from core.records import ContactRecord, DomainRecord, LinkRecord

# code, link id, contact id (None: the generic code), source (None: no broadcast refcode)
CodeRow = tuple[str, int, int | None, str | None]

# Only verified domains serve (docs/decisions/0007): a pending one is never in Redis.
DOMAINS = "published_domains"
DOMAIN_SELECT = f"SELECT d.id, d.org_id, d.hostname, d.fallback_url, d.version FROM {DOMAINS} d"
LINK_SELECT = (
    "SELECT l.id, l.org_id, l.domain_id, d.hostname, l.version, l.destination, l.name,"
    " l.extension, l.preview_title, l.preview_description, l.preview_image_url, l.archived,"
    " l.expires_at"
    " FROM links l JOIN domains d ON d.id = l.domain_id"
)
CONTACT_SELECT = (
    "SELECT c.id, c.org_id, c.version, c.phone, c.first_name, c.last_name, c.email, c.fields"
    " FROM contacts c"
)
CODE_SELECT = "SELECT code, link_id, contact_id, source FROM issued_codes"

STREAM_CHUNK = 10_000


def domain_record(row: Sequence[Any], version: int = 0) -> DomainRecord:
    id_, org_id, hostname, fallback_url, row_version = row
    return DomainRecord(
        id=id_,
        org_id=org_id,
        hostname=hostname,
        version=max(row_version, version),
        fallback_url=fallback_url or "",
    )


def link_record(row: Sequence[Any], version: int = 0) -> LinkRecord:
    (id_, org_id, domain_id, hostname, row_version, destination, name, extension) = row[:8]
    title, description, image_url, archived, expires_at = row[8:]
    return LinkRecord(
        id=id_,
        org_id=org_id,
        domain_id=domain_id,
        hostname=hostname,
        version=max(row_version, version),
        destination=destination,
        name=name or "",
        extension=extension or "",
        preview_title=title or "",
        preview_description=description or "",
        preview_image_url=image_url or "",
        archived=bool(archived),
        expires_at_ms=int(expires_at.timestamp() * 1000) if expires_at is not None else 0,
    )


def field_text(value: Any) -> str:
    """Custom field values are merged into URLs as text: JSON scalars become their usual text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def contact_record(row: Sequence[Any], version: int = 0) -> ContactRecord:
    id_, org_id, row_version, phone, first_name, last_name, email, fields = row
    return ContactRecord(
        id=id_,
        org_id=org_id,
        version=max(row_version, version),
        phone=phone or "",
        first_name=first_name or "",
        last_name=last_name or "",
        email=email or "",
        fields={str(k): field_text(v) for k, v in (fields or {}).items()},
    )


# Tombstones: the row is gone, so only the id and the version of the delete are known.


def domain_tombstone(domain_id: int, hostname: str, version: int) -> DomainRecord:
    return DomainRecord(id=domain_id, org_id=0, hostname=hostname, version=version, deleted=True)


def link_tombstone(link_id: int, version: int) -> LinkRecord:
    return LinkRecord(
        id=link_id,
        org_id=0,
        domain_id=0,
        hostname="",
        version=version,
        destination="",
        deleted=True,
    )


def contact_tombstone(contact_id: int, version: int) -> ContactRecord:
    return ContactRecord(id=contact_id, org_id=0, version=version, deleted=True)


# Loads by id, for one outbox batch (``versions``: the newest outbox version per id).


def load_domains(conn: psycopg.Connection, versions: dict[int, int]) -> dict[int, DomainRecord]:
    rows = conn.execute(DOMAIN_SELECT + " WHERE d.id = ANY(%s)", (list(versions),)).fetchall()
    return {r[0]: domain_record(r, versions[r[0]]) for r in rows}


def load_links(conn: psycopg.Connection, versions: dict[int, int]) -> dict[int, LinkRecord]:
    rows = conn.execute(LINK_SELECT + " WHERE l.id = ANY(%s)", (list(versions),)).fetchall()
    return {r[0]: link_record(r, versions[r[0]]) for r in rows}


def load_contacts(conn: psycopg.Connection, versions: dict[int, int]) -> dict[int, ContactRecord]:
    rows = conn.execute(CONTACT_SELECT + " WHERE c.id = ANY(%s)", (list(versions),)).fetchall()
    return {r[0]: contact_record(r, versions[r[0]]) for r in rows}


def load_outbox_codes(
    conn: psycopg.Connection, outbox_ids: list[int]
) -> tuple[list[CodeRow], list[str]]:
    """The codes named by these "codes" outbox rows: those still issued, and those gone."""
    rows = conn.execute(
        "SELECT c.code, ic.link_id, ic.contact_id, ic.source FROM sync_outbox o"
        " CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN"
        " jsonb_typeof(o.payload->'codes') = 'array' THEN o.payload->'codes' ELSE '[]' END) c(code)"
        " LEFT JOIN issued_codes ic ON ic.code = c.code"
        " WHERE o.id = ANY(%s)",
        (outbox_ids,),
    ).fetchall()
    found = [(r[0], r[1], r[2], r[3]) for r in rows if r[1] is not None]
    gone = [r[0] for r in rows if r[1] is None]
    return found, gone


def existing_ids(conn: psycopg.Connection, table: str, column: str, values: list[Any]) -> set[Any]:
    """Which of ``values`` exist in ``table.column`` (table and column are ours, never input)."""
    if not values:
        return set()
    rows = conn.execute(
        f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)", (values,)
    ).fetchall()
    return {r[0] for r in rows}


# Streams for the full rebuild: server-side cursors, one chunk of plain tuples at a time.


def _stream(conn: psycopg.Connection, name: str, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    with conn.transaction(), conn.cursor(name=name) as cur:
        cur.itersize = STREAM_CHUNK
        cur.execute(sql)
        while True:
            rows = cur.fetchmany(STREAM_CHUNK)
            if not rows:
                return
            yield rows


def stream_domains(conn: psycopg.Connection) -> Iterator[list[DomainRecord]]:
    for rows in _stream(conn, "sync_domains", DOMAIN_SELECT + " ORDER BY d.id"):
        yield [domain_record(r) for r in rows]


def stream_links(conn: psycopg.Connection) -> Iterator[list[LinkRecord]]:
    for rows in _stream(conn, "sync_links", LINK_SELECT + " ORDER BY l.id"):
        yield [link_record(r) for r in rows]


def stream_contacts(conn: psycopg.Connection) -> Iterator[list[ContactRecord]]:
    for rows in _stream(conn, "sync_contacts", CONTACT_SELECT + " ORDER BY c.id"):
        yield [contact_record(r) for r in rows]


def stream_codes(conn: psycopg.Connection) -> Iterator[list[CodeRow]]:
    for rows in _stream(conn, "sync_codes", CODE_SELECT):
        yield [(r[0], r[1], r[2], r[3]) for r in rows]
