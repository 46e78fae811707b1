"""Record one batch of click events in Postgres: the drain's transaction.

Everything a click changes is written in the caller's transaction, so the batch is all or
nothing: the clicks (``ON CONFLICT (click_id, at) DO NOTHING RETURNING``: the table is
partitioned by ``at``, and a redelivered event carries the same ``at``), and, for the rows that
statement actually inserted, the counters and rollups behind the metrics, the actions of human
clicks and their webhook deliveries. A redelivered event finds its click already there and changes nothing.

Rows are sorted by their keys before each statement so that concurrent drain consumers lock
rows in one order (no deadlock between them); the hot ``link_counters`` rows are touched last,
to hold their locks for the shortest time.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from core import urls
from core.actions import Action, parse_stored
from core.clicks import BOT, CLICK_KINDS, HUMAN, REASON_MAX
from core.records import ClickAmendment, ClickEvent
from sync.clicks import actions, rollups, webhook_queue
from sync.clicks.useragents import describe

# String column widths of the clicks table.
_CLICK_ID_MAX, _CODE_MAX, _TEXT_MAX = 40, 8, 512


@dataclass(frozen=True)
class StreamClick:
    entry_id: str
    event: ClickEvent
    link_id: int
    contact_id: int | None
    domain_id: int


@dataclass(frozen=True)
class StreamAmendment:
    entry_id: str
    amendment: ClickAmendment


@dataclass
class BatchResult:
    done: list[str] = field(default_factory=list)  # entry ids to acknowledge
    dead: list[tuple[str, str]] = field(default_factory=list)  # (entry id, reason)
    deferred: list[str] = field(default_factory=list)  # stay pending, retried later
    inserted: int = 0
    human: int = 0
    duplicates: int = 0
    webhook_deliveries: int = 0
    actions: actions.ActionCounts = field(default_factory=actions.ActionCounts)


@dataclass(frozen=True)
class _Link:
    id: int
    org_id: int
    name: str
    scheme: str
    hostname: str
    extension: str
    actions: tuple[Action, ...]
    visitor_salt: str
    webhooks: bool = False  # the organisation has an active webhook endpoint

    def short_url(self, code: str) -> str:
        return urls.short_url(self.scheme, self.hostname, code, self.extension)


@dataclass
class _Row:
    """One click as it is inserted, with what the effects need."""

    click: StreamClick
    link: _Link
    contact: dict[str, Any] | None
    at: datetime
    broadcast_id: int | None = None
    visitor_hash: str = ""
    ip: str | None = None


def visitor_hash(salt: str, at: datetime, ip: str, user_agent: str) -> str:
    """Distinct visitors of a generic URL: the same IP and agent on one UTC day are one visitor;
    the organisation's salt keeps the hash from being reversed with a table of IPs."""
    day = at.date().isoformat()
    return hashlib.sha256("\x00".join((salt, day, ip, user_agent)).encode()).hexdigest()


def record_batch(
    conn: psycopg.Connection[Any],
    clicks: Sequence[StreamClick],
    amendments: Sequence[StreamAmendment],
    scheme: str,
) -> BatchResult:
    """Write the batch in one transaction; raise (and roll back) on any database error."""
    result = BatchResult()
    # Array parameters go as %b (binary): thousands of strings are packed, not quoted and escaped.
    with conn.transaction(), conn.cursor() as cur:
        rows = _prepare(cur, clicks, scheme, result)
        new_ids = _insert_clicks(cur, rows)
        new_rows = [r for r in rows if r.click.event.click_id in new_ids]
        result.inserted = len(new_rows)
        result.duplicates += len(rows) - len(new_rows)
        human = [r for r in new_rows if r.click.event.kind == HUMAN]
        result.human = len(human)
        uniques = _count_uniques(cur, human)
        result.actions = actions.run(cur, [_action_click(r) for r in human if r.contact])
        # Payloads only for organisations with an active endpoint (known from the links query):
        # most have none, and building a JSON body per click was a fifth of the Python per batch.
        result.webhook_deliveries = webhook_queue.enqueue(
            cur, [_webhook_click(r) for r in human if r.link.webhooks]
        )
        _update_rollups(cur, new_rows)
        _update_counters(cur, new_rows, uniques)
        _apply_amendments(cur, amendments, result)
    return result


def _prepare(
    cur: psycopg.Cursor[Any], clicks: Sequence[StreamClick], scheme: str, result: BatchResult
) -> list[_Row]:
    links = _load_links(cur, {c.link_id for c in clicks}, scheme)
    contacts = _load_contacts(cur, {c.contact_id for c in clicks if c.contact_id is not None})
    rows: list[_Row] = []
    seen: set[str] = set()
    for click in clicks:
        ev = click.event
        link = links.get(click.link_id)
        if not ev.click_id or len(ev.click_id) > _CLICK_ID_MAX:
            result.dead.append((click.entry_id, "invalid click id"))
            continue
        if ev.kind not in CLICK_KINDS:
            result.dead.append((click.entry_id, f"unknown click kind {ev.kind[:20]!r}"))
            continue
        if link is None:
            result.dead.append((click.entry_id, f"unknown link {click.link_id}"))
            continue
        try:
            at = datetime.fromtimestamp(ev.ts_ms / 1000, UTC)
        except (OverflowError, ValueError, OSError):
            result.dead.append((click.entry_id, f"invalid timestamp {ev.ts_ms}"))
            continue
        result.done.append(click.entry_id)
        if ev.click_id in seen:  # the same event twice in one batch
            result.duplicates += 1
            continue
        seen.add(ev.click_id)
        contact = contacts.get(click.contact_id) if click.contact_id is not None else None
        if contact is not None and contact["org_id"] != link.org_id:
            contact = None  # never attribute a click across organisations
        row = _Row(click, link, contact, at, ip=_valid_ip(ev.ip))
        if contact is None:
            row.visitor_hash = visitor_hash(link.visitor_salt, at, ev.ip, ev.user_agent)
        rows.append(row)
    _attribute_broadcasts(cur, rows)
    rows.sort(key=lambda r: r.click.event.click_id)
    return rows


def _valid_ip(ip: str) -> str | None:
    if not ip:
        return None
    if ":" not in ip:  # IPv4, nearly every click: the C parser accepts what ipaddress does
        try:
            socket.inet_pton(socket.AF_INET, ip)
        except (OSError, ValueError, UnicodeError):
            return None
        return ip
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def _load_links(cur: psycopg.Cursor[Any], ids: set[int], scheme: str) -> dict[int, _Link]:
    if not ids:
        return {}
    cur.execute(
        """
        SELECT l.id, l.org_id, l.name, l.extension, l.actions, d.hostname, o.visitor_salt,
               EXISTS (SELECT 1 FROM webhooks w WHERE w.active AND w.org_id = l.org_id)
        FROM links l JOIN domains d ON d.id = l.domain_id JOIN organisations o ON o.id = l.org_id
        WHERE l.id = ANY(%b::bigint[])
        """,
        (sorted(ids),),
    )
    return {
        row[0]: _Link(
            id=row[0],
            org_id=row[1],
            name=row[2],
            extension=row[3],
            actions=parse_stored(row[4]),
            scheme=scheme,
            hostname=row[5],
            visitor_salt=row[6],
            webhooks=row[7],
        )
        for row in cur.fetchall()
    }


def _load_contacts(cur: psycopg.Cursor[Any], ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    cur.execute(
        "SELECT id, org_id, phone, first_name, last_name, email FROM contacts"
        " WHERE id = ANY(%b::bigint[])",
        (sorted(ids),),
    )
    names = ("id", "org_id", "phone", "first_name", "last_name", "email")
    return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _attribute_broadcasts(cur: psycopg.Cursor[Any], rows: list[_Row]) -> None:
    """A contact's click belongs to the latest broadcast that sent them this link, if any."""
    pairs = sorted({(r.link.id, r.contact["id"]) for r in rows if r.contact})
    if not pairs:
        return
    cur.execute(
        """
        SELECT DISTINCT ON (m.link_id, m.contact_id) m.link_id, m.contact_id, m.broadcast_id
        FROM messages m
        JOIN unnest(%b::bigint[], %b::bigint[]) AS t(l, c) ON m.link_id = t.l AND m.contact_id = t.c
        WHERE m.broadcast_id IS NOT NULL
        ORDER BY m.link_id, m.contact_id, m.created_at DESC
        """,
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    )
    found = {(link_id, contact_id): b for link_id, contact_id, b in cur.fetchall()}
    for r in rows:
        if r.contact:
            r.broadcast_id = found.get((r.link.id, r.contact["id"]))


def _insert_clicks(cur: psycopg.Cursor[Any], rows: list[_Row]) -> set[str]:
    if not rows:
        return set()
    table: list[tuple[Any, ...]] = []
    for r in rows:
        ev = r.click.event
        ua = describe(ev.user_agent)
        table.append(
            (
                ev.click_id,
                r.link.org_id,
                r.link.id,
                r.click.domain_id,
                ev.code[:_CODE_MAX],
                r.contact["id"] if r.contact else None,
                r.broadcast_id,
                r.at,
                ev.kind,
                ev.reason[:REASON_MAX],
                ev.user_agent[:_TEXT_MAX],
                r.ip,
                ev.referer[:_TEXT_MAX],
                r.visitor_hash,
                ua.device,
                ua.os,
                ua.browser,
                ev.merge_fallback,
            )
        )
    cur.execute(
        """
        INSERT INTO clicks (click_id, org_id, link_id, domain_id, code, contact_id, broadcast_id,
                            at, kind, reason, user_agent, ip, referer, visitor_hash, device, os,
                            browser, merge_fallback)
        SELECT * FROM unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::text[],
                             %b::bigint[], %b::bigint[], %b::timestamptz[], %b::text[],
                             %b::text[], %b::text[], %b::inet[], %b::text[], %b::text[],
                             %b::text[], %b::text[], %b::text[], %b::bool[])
        ON CONFLICT (click_id, at) DO NOTHING
        RETURNING click_id
        """,
        tuple(list(column) for column in zip(*table, strict=True)),
    )
    return {row[0] for row in cur.fetchall()}


def _count_uniques(cur: psycopg.Cursor[Any], human: list[_Row]) -> Counter[int]:
    """New distinct contacts (link_contact_clicks) and new distinct visitors of generic URLs
    (link_visitors) per link: the unique_clicks increments."""
    uniques: Counter[int] = Counter()
    per_contact: dict[tuple[int, int], list[Any]] = {}
    for r in human:
        if r.contact:
            key = (r.link.id, r.contact["id"])
            agg = per_contact.setdefault(key, [r.link.org_id, 0, r.at, r.at])
            agg[1] += 1
            agg[2], agg[3] = min(agg[2], r.at), max(agg[3], r.at)
    if per_contact:
        keys = sorted(per_contact)
        cur.execute(
            """
            INSERT INTO link_contact_clicks (link_id, contact_id, org_id, clicks, first_at, last_at)
            SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],
                                 %b::timestamptz[], %b::timestamptz[])
            ON CONFLICT (link_id, contact_id) DO UPDATE SET
                clicks = link_contact_clicks.clicks + EXCLUDED.clicks,
                first_at = LEAST(link_contact_clicks.first_at, EXCLUDED.first_at),
                last_at = GREATEST(link_contact_clicks.last_at, EXCLUDED.last_at)
            RETURNING link_id, (xmax = 0) AS inserted
            """,
            (
                [k[0] for k in keys],
                [k[1] for k in keys],
                [per_contact[k][0] for k in keys],
                [per_contact[k][1] for k in keys],
                [per_contact[k][2] for k in keys],
                [per_contact[k][3] for k in keys],
            ),
        )
        uniques.update(link_id for link_id, inserted in cur.fetchall() if inserted)
    visitors = sorted({(r.link.id, r.visitor_hash): r.at for r in human if not r.contact}.items())
    if visitors:
        cur.execute(
            """
            INSERT INTO link_visitors (link_id, visitor_hash, first_at)
            SELECT * FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[])
            ON CONFLICT DO NOTHING
            RETURNING link_id
            """,
            ([k[0] for k, _ in visitors], [k[1] for k, _ in visitors], [at for _, at in visitors]),
        )
        uniques.update(row[0] for row in cur.fetchall())
    return uniques


def _update_rollups(cur: psycopg.Cursor[Any], new_rows: list[_Row]) -> None:
    """The metrics' rollups (series, breakdown, broadcasts) from the newly inserted clicks."""
    clicks = []
    for r in new_rows:
        ua = describe(r.click.event.user_agent)  # cached: parsed once for the insert already
        clicks.append(
            rollups.RollupClick(
                link_id=r.link.id,
                org_id=r.link.org_id,
                at=r.at,
                kind=r.click.event.kind,
                device=ua.device,
                os=ua.os,
                browser=ua.browser,
                contact_id=r.contact["id"] if r.contact else None,
                broadcast_id=r.broadcast_id,
            )
        )
    rollups.record(cur, clicks)


def _update_counters(cur: psycopg.Cursor[Any], new_rows: list[_Row], uniques: Counter[int]) -> None:
    if not new_rows:
        return
    per_link: dict[int, list[int]] = {}
    for r in new_rows:
        c = per_link.setdefault(r.link.id, [r.link.org_id, 0, 0, 0])
        kind = r.click.event.kind
        if kind == HUMAN:
            c[1] += 1
        else:  # the contract counts known bots under previews too; bots is their share
            c[2] += 1
            if kind == BOT:
                c[3] += 1
    ids = sorted(per_link)
    cur.execute(
        """
        INSERT INTO link_counters (link_id, org_id, clicks, unique_clicks, previews, bots)
        SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],
                             %b::bigint[], %b::bigint[])
        ON CONFLICT (link_id) DO UPDATE SET
            clicks = link_counters.clicks + EXCLUDED.clicks,
            unique_clicks = link_counters.unique_clicks + EXCLUDED.unique_clicks,
            previews = link_counters.previews + EXCLUDED.previews,
            bots = link_counters.bots + EXCLUDED.bots,
            updated_at = now()
        """,
        (
            ids,
            [per_link[i][0] for i in ids],
            [per_link[i][1] for i in ids],
            [uniques.get(i, 0) for i in ids],
            [per_link[i][2] for i in ids],
            [per_link[i][3] for i in ids],
        ),
    )


def _apply_amendments(
    cur: psycopg.Cursor[Any], amendments: Sequence[StreamAmendment], result: BatchResult
) -> None:
    wanted = [a for a in amendments if a.amendment.merge_fallback and a.amendment.click_id]
    result.done.extend(
        a.entry_id for a in amendments if not (a.amendment.merge_fallback and a.amendment.click_id)
    )
    if not wanted:
        return
    cur.execute(
        "UPDATE clicks SET merge_fallback = true WHERE click_id = ANY(%b::text[])"
        " RETURNING click_id",
        (sorted({a.amendment.click_id for a in wanted}),),
    )
    found = {row[0] for row in cur.fetchall()}
    for a in wanted:
        # An amendment read before its click (a reclaimed click): retried until it is recorded.
        (result.done if a.amendment.click_id in found else result.deferred).append(a.entry_id)


def _action_click(r: _Row) -> actions.ActionClick:
    assert r.contact is not None
    return actions.ActionClick(
        click_id=r.click.event.click_id,
        org_id=r.link.org_id,
        link_id=r.link.id,
        contact_id=r.contact["id"],
        at=r.at,
        link_name=r.link.name,
        short_url=r.link.short_url(r.click.event.code),
        actions=r.link.actions,
    )


def _webhook_click(r: _Row) -> webhook_queue.ClickPayload:
    ev = r.click.event
    ua = describe(ev.user_agent)
    contact = None
    if r.contact:
        contact = {k: r.contact[k] for k in ("id", "phone", "first_name", "last_name", "email")}
    return webhook_queue.ClickPayload(
        org_id=r.link.org_id,
        click_id=ev.click_id,
        body={
            "type": "click",
            "click_id": ev.click_id,
            "at": r.at.isoformat().replace("+00:00", "Z"),
            "link": {"id": r.link.id, "name": r.link.name, "url": r.link.short_url(ev.code)},
            "contact": contact,
            "broadcast_id": r.broadcast_id,
            "device": ua.device,
            "os": ua.os,
            "browser": ua.browser,
            "merge_fallback": ev.merge_fallback,
        },
    )
