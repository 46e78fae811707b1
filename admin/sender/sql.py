"""The sender's statements on the messages queue (admin.sender.worker runs them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

DUE_ORGS = text(
    """
    SELECT DISTINCT org_id FROM messages
    WHERE status = 'queued' AND direction = 'out'
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    LIMIT 100
    """
)

# A claim is the idempotency record: ``claimed_at`` is committed before the provider call, so
# a message found in ``sending`` later is reconciled with the provider, never sent blindly.
# A contact who opted out after the message was queued gets nothing (but a compliance answer).
CLAIM = text(
    """
    WITH due AS (
        SELECT m.id, (c.opted_out AND NOT m.compliance) AS blocked
        FROM messages m JOIN contacts c ON c.id = m.contact_id
        WHERE m.status = 'queued' AND m.direction = 'out' AND m.org_id = :org_id
          AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= now())
        ORDER BY m.id
        LIMIT :limit
        FOR UPDATE OF m SKIP LOCKED
    )
    UPDATE messages m
    SET status = CASE WHEN due.blocked THEN 'opted_out' ELSE 'sending' END,
        attempts = m.attempts + CASE WHEN due.blocked THEN 0 ELSE 1 END,
        claimed_at = CASE WHEN due.blocked THEN m.claimed_at ELSE now() END,
        updated_at = now()
    FROM due WHERE m.id = due.id
    RETURNING m.id, m.org_id, m.to_phone, m.body, m.attempts, m.status
    """
)

NEXT_RETRY = text(
    "SELECT min(next_attempt_at) FROM messages WHERE status = 'queued' AND direction = 'out'"
)

SENT = text(
    """
    UPDATE messages SET status = :status, provider = :provider,
        provider_message_id = :provider_message_id, sent_at = now(), updated_at = now(),
        error = '', next_attempt_at = NULL
    WHERE id = :id AND status = 'sending'
    """
)

SENT_MANY = text(
    """
    UPDATE messages m SET status = u.status, provider = u.provider,
        provider_message_id = u.provider_message_id, sent_at = now(), updated_at = now(),
        error = '', next_attempt_at = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:providers AS text[]),
                CAST(:provider_message_ids AS text[]))
         AS u(id, status, provider, provider_message_id)
    WHERE m.id = u.id AND m.status = 'sending'
    """
)


def columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "ids": [r["id"] for r in rows],
        "statuses": [r["status"] for r in rows],
        "providers": [r["provider"] for r in rows],
        "provider_message_ids": [r["provider_message_id"] for r in rows],
    }


RETRY = text(
    """
    UPDATE messages SET status = 'queued', provider = :provider, error = :error,
        next_attempt_at = now() + make_interval(secs => :delay), updated_at = now()
    WHERE id = :id AND status = 'sending'
    """
)

FAILED = text(
    """
    UPDATE messages SET status = 'failed', provider = :provider, error = :error,
        next_attempt_at = NULL, updated_at = now()
    WHERE id = :id AND status = 'sending'
    """
)

RELEASE = text(
    "UPDATE messages SET status = 'queued', attempts = attempts - 1, claimed_at = NULL "
    "WHERE id = ANY(:ids) AND status = 'sending'"
)

ORG_SETTINGS = text("SELECT id, settings FROM organisations WHERE id = ANY(:ids)")

# Messages a dead sender left in ``sending``: each is reconciled with its provider (sent or
# not) before it may go to the queue again. The claim is renewed so that another sender does
# not reconcile the same message at once.
STALE = text(
    """
    WITH stale AS (
        SELECT id FROM messages
        WHERE status = 'sending' AND updated_at < clock_timestamp() - make_interval(secs => :stale)
        ORDER BY id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE messages m SET updated_at = now() FROM stale WHERE m.id = stale.id
    RETURNING m.id, m.org_id, m.to_phone, m.body, m.attempts, m.claimed_at
    """
)

REQUEUE = text(
    "UPDATE messages SET status = 'queued', updated_at = now() "
    "WHERE id = ANY(:ids) AND status = 'sending'"
)
