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

CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM messages
        WHERE status = 'queued' AND direction = 'out' AND org_id = :org_id
          AND (next_attempt_at IS NULL OR next_attempt_at <= now())
        ORDER BY id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE messages m
    SET status = 'sending', attempts = m.attempts + 1, updated_at = now()
    FROM due WHERE m.id = due.id
    RETURNING m.id, m.org_id, m.to_phone, m.body, m.attempts
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
    "UPDATE messages SET status = 'queued', attempts = attempts - 1 "
    "WHERE id = ANY(:ids) AND status = 'sending'"
)

ORG_SETTINGS = text("SELECT id, settings FROM organisations WHERE id = ANY(:ids)")

REQUEUE_STALE = text(
    """
    UPDATE messages SET status = 'queued', updated_at = now()
    WHERE status = 'sending' AND updated_at < now() - make_interval(secs => :stale)
    RETURNING id
    """
)
