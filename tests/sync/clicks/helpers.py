"""Helpers for the click pipeline's tests: links and contacts made with the models, click events
XADDed in exactly the edge's format, and the drain run in burst mode in this process."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import text

from admin.extensions import db
from admin.models import Domain, Link
from core import keys, records
from core.actions import DEFAULT_ACTIONS, to_json
from core.records import ClickAmendment, ClickEvent
from sync.clicks.drain import Drain, DrainSettings

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IMESSAGE = "facebookexternalhit/1.1 Facebot Twitterbot/1.0"

ACTIONS = [
    {"type": "whisper"},
    {"type": "add_tag", "tag": "gala-clicked"},
    {"type": "add_to_list", "list": "Clicked"},
    {"type": "remove_from_list", "list": "Not yet clicked"},
]


def make_domain(org_id: int, hostname: str = "go.example.test") -> int:
    domain = Domain(org_id=org_id, hostname=hostname, verified_at=datetime.now(UTC))
    db.session.add(domain)
    db.session.commit()
    return domain.id


def make_link(
    org_id: int,
    domain_id: int,
    name: str = "Gala RSVP",
    actions: list[dict[str, Any]] | None = None,
    extension: str = "",
) -> int:
    link = Link(
        org_id=org_id,
        domain_id=domain_id,
        name=name,
        destination="https://example.org/rsvp?first={{first_name}}",
        extension=extension,
        # Omitted: what the admin stores for an omitted ``actions`` (the default whisper).
        actions=actions if actions is not None else to_json(DEFAULT_ACTIONS),
    )
    db.session.add(link)
    db.session.commit()
    return link.id


def make_contacts(org_id: int, n: int, first: int = 0) -> list[int]:
    """``n`` contacts with distinct phones (+1555...), in one statement."""
    rows = db.session.execute(
        text(
            """
            INSERT INTO contacts (org_id, phone, first_name, last_name, email)
            SELECT :org, '+1555' || lpad(i::text, 7, '0'), 'First' || i, 'Last' || i,
                   'c' || i || '@example.test'
            FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) AS i
            RETURNING id
            """
        ),
        {"org": org_id, "a": first, "b": first + n - 1},
    ).all()
    db.session.commit()
    return sorted(r[0] for r in rows)


def click_fields(
    link_id: int,
    contact_id: int | None,
    domain_id: int,
    *,
    kind: str = "human",
    click_id: str | None = None,
    ts_ms: int | None = None,
    user_agent: str = IPHONE,
    ip: str = "203.0.113.7",
    code: str = "Ab3dE6g",
    host: str = "go.example.test",
) -> dict[str, bytes]:
    """One stream entry exactly as the edge's script appends it."""
    event = ClickEvent(
        click_id=click_id or secrets.token_hex(16),
        ts_ms=ts_ms if ts_ms is not None else time.time_ns() // 1_000_000,
        code=code,
        host=host,
        kind=kind,
        reason="" if kind == "human" else "user agent",
        user_agent=user_agent,
        ip=ip,
    )
    ref = f"{link_id}:{contact_id if contact_id is not None else ''}:{domain_id}"
    return {records.STREAM_EVENT: records.encode(event), records.STREAM_REF: ref.encode()}


def amendment_fields(click_id: str) -> dict[str, bytes]:
    return {records.STREAM_AMEND: records.encode(ClickAmendment(click_id, merge_fallback=True))}


def xadd_all(rdb: redis.Redis, entries: list[dict[str, bytes]]) -> list[str]:
    pipe = rdb.pipeline(transaction=False)
    for fields in entries:
        pipe.xadd(keys.CLICK_STREAM, fields)  # type: ignore[arg-type]
    return [i.decode() for i in pipe.execute()]


def settings(**overrides: Any) -> DrainSettings:
    base: dict[str, Any] = {
        "batch": 500,
        "claim_idle_ms": 30_000,
        "max_deliveries": 5,
        "scheme": "https",
    }
    base.update(overrides)
    return DrainSettings(**base)


def run_burst(drain: Drain) -> int:
    """What `smartlinks drain --burst` does: read until the stream has nothing new."""
    drain.burst = True
    drain.ensure_group()
    total = 0
    while n := drain.step():
        total += n
    return total


def record_clicks(redis_url: str, database_url: str, entries: list[dict[str, bytes]]) -> None:
    """XADD ``entries`` as the edge does and record them with a burst of a drain of their own."""
    client = redis.Redis.from_url(redis_url)
    try:
        xadd_all(client, entries)
        drain = Drain(client, database_url, "record-clicks", settings())
        try:
            run_burst(drain)
        finally:
            drain.close()
    finally:
        client.close()


def scalar(sql: str, **params: Any) -> Any:
    db.session.rollback()  # a fresh snapshot: the drain committed in its own connection
    return db.session.execute(text(sql), params).scalar()
