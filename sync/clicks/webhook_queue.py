"""The webhook queue: the drain enqueues a click's deliveries (rows in ``webhook_deliveries``)
in its batch transaction, so they exist exactly when the click does. `smartlinks webhooks`
(sync.webhooks) delivers them from that queue, so a slow or dead endpoint delays only its own
deliveries, never the drain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

# NOTIFYed when deliveries are queued; the delivery workers LISTEN on it.
NOTIFY_CHANNEL = "webhook_deliveries"


@dataclass(frozen=True)
class ClickPayload:
    org_id: int
    click_id: str
    body: dict[str, Any]


def enqueue(cur: psycopg.Cursor[Any], clicks: Sequence[ClickPayload]) -> int:
    """One pending delivery per (active endpoint of the click's org, click), in the caller's
    transaction; the NOTIFY reaches the delivery workers when that transaction commits."""
    if not clicks:
        return 0
    cur.execute(
        "SELECT id, org_id FROM webhooks WHERE active AND org_id = ANY(%s::bigint[])",
        (sorted({c.org_id for c in clicks}),),
    )
    endpoints: dict[int, list[int]] = {}
    for webhook_id, org_id in cur.fetchall():
        endpoints.setdefault(org_id, []).append(webhook_id)
    rows = sorted(
        (webhook_id, c.org_id, c.click_id, json.dumps(c.body, separators=(",", ":")))
        for c in clicks
        for webhook_id in endpoints.get(c.org_id, ())
    )
    if not rows:
        return 0
    cur.execute(
        """
        INSERT INTO webhook_deliveries (webhook_id, org_id, click_id, payload)
        SELECT w, o, k, p::jsonb FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[])
            AS t(w, o, k, p)
        ON CONFLICT (webhook_id, click_id) DO NOTHING
        """,
        tuple(list(col) for col in zip(*rows, strict=True)),
    )
    inserted = cur.rowcount
    if inserted:
        cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return inserted
