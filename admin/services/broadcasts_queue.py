"""A broadcast's messages queued, one chunk of recipients at a time (broadcasts_recipients.CHUNK):
the chunk's missing codes issued (one INSERT, nothing read back), its messages rendered and
COPYed (by a thread, while the next chunk renders). A broadcast's message writes no history
event: the contact's history reads it from messages (admin.models.HistoryEntry). All of it in
the caller's transaction: a broadcast that fails leaves no code or message behind, and the
codes' outbox rows commit with the codes. Python holds two chunks at most (one rendering, one
being COPYed), so memory stays flat however large the audience (docs/performance.md: a
broadcast to 1 M contacts).

``STAGES`` lets a bench read where the time goes (loadtest/broadcast_bench.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from admin.models import Broadcast, Link
from admin.services import codes, quiet_hours, segments
from admin.services.broadcasts_recipients import (
    CODE,
    OPTED_OUT,
    TIME_ZONE,
    UNREACHABLE,
    Audience,
    Row,
    driver_connection,
    recipient_chunks,
    renderer,
)
from admin.services.message_body import Body
from core.merge import parse_template

NOTIFY_CHANNEL = "messages_queued"  # the sender LISTENs (admin/sender/worker.py)

# Seconds per stage of the broadcasts queued in this context, when a bench sets a dict here.
STAGES: ContextVar[dict[str, float] | None] = ContextVar("broadcast_stages", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    seconds = STAGES.get()
    if seconds is None:
        yield
        return
    started = perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + perf_counter() - started


def code_source(link: Link, source: str) -> str | None:
    """The source a broadcast's codes carry: its refcode when the link's destination merges
    ``{{source}}``, else None (the contact's one code for the link, as any other message)."""
    return source if parse_template(link.destination).uses_source else None


@dataclass
class Queued:
    messages: int = 0
    opted_out: int = 0  # left out: they opted out
    unreachable: int = 0  # left out: the carrier refused their latest message


_COPY_MESSAGES = (
    "COPY messages (org_id, contact_id, broadcast_id, link_id, direction, to_phone, body,"
    " segments, encoding, status, next_attempt_at) FROM STDIN"
)


def _copy_messages(conn: Any, items: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(_COPY_MESSAGES) as copy:
        for item in items:
            copy.write_row(item)


def queue_broadcast(
    broadcast: Broadcast,
    body: Body,
    link: Link | None,
    audience: Audience,
    *,
    scheme: str,
    send_at: datetime | None,
    quiet: bool,
) -> Queued:
    """Queue the broadcast's messages (see the module) and count them."""
    org_id, broadcast_id = broadcast.org_id, broadcast.id
    link_id = link.id if link is not None else None
    source = code_source(link, broadcast.source) if link is not None else None
    # The short URL around its code, split once: a code has a fixed length and alphabet.
    head, _, tail = (
        codes.short_url(link, "\0", scheme).partition("\0") if link is not None else ("", "", "")
    )
    render = renderer(body)
    due = send_at or datetime.now(UTC)
    hold = quiet_hours.hold_until
    zone_field = quiet_hours.FIELD
    count = segments.count
    queued = Queued()
    codes.hold_parents(org_id, link_id)  # once for the broadcast's million rows (codes.py)
    conn = driver_connection()
    chunks = recipient_chunks(org_id, audience, with_fields=body.uses_fields, time_zone=quiet,
                              link_id=link_id, source=source)  # fmt: skip

    def rendered(chosen: list[Row], new: dict[int, str]) -> list[tuple[Any, ...]]:
        items: list[tuple[Any, ...]] = []
        for r in chosen:
            url = head + (r[CODE] or new[r[0]]) + tail if link is not None else ""
            text_ = render(r, url)
            seg = count(text_)
            not_before = (
                hold(due, r[1], {zone_field: r[TIME_ZONE]} if r[TIME_ZONE] else None)
                if quiet else None
            ) or send_at  # fmt: skip
            items.append((org_id, r[0], broadcast_id, link_id, "out", r[1], text_,
                          max(1, seg.segments), seg.encoding, "queued", not_before))  # fmt: skip
        return items

    # One chunk's messages are COPYed (by a thread) while the next chunk renders: Postgres'
    # inserts and Python's rendering then run on two cores at once instead of taking turns.
    # The connection is the thread's alone meanwhile: the next fetch and codes wait for it.
    items: list[tuple[Any, ...]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="broadcast-copy") as copier:
        while True:
            with stage("recipients"):
                rows = next(chunks, None)
            chosen: list[Row] = []
            new: dict[int, str] = {}
            if rows is not None:
                chosen = [r for r in rows if not r[OPTED_OUT] and not r[UNREACHABLE]]
                opted_out = sum(1 for r in rows if r[OPTED_OUT])
                queued.opted_out += opted_out
                queued.unreachable += len(rows) - len(chosen) - opted_out
                queued.messages += len(chosen)
                if link_id is not None and (missing := [r[0] for r in chosen if r[CODE] is None]):
                    with stage("codes"):
                        new = codes.issue_new(org_id, link_id, missing, source)
            copied = copier.submit(_copy_messages, conn, items) if items else None
            with stage("render"):  # beside the previous chunk's COPY
                items = rendered(chosen, new)
            if copied is not None:
                with stage("copy"):  # what the COPY took beyond the render
                    copied.result()
            if rows is None:
                break
    conn.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return queued
