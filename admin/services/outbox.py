"""Versions and outbox rows for every change that Redis must learn about."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from admin.extensions import db
from admin.models import SyncOutbox

NOTIFY_CHANNEL = "sync_outbox"


def next_version() -> int:
    """A version larger than any handed out before (one sequence for all records)."""
    return int(db.session.execute(text("SELECT nextval('record_versions')")).scalar_one())


def enqueue(
    entity: str, entity_id: int, version: int = 0, payload: dict[str, Any] | None = None
) -> None:
    """Add an outbox row in the caller's transaction; sync is woken when it commits."""
    db.session.add(SyncOutbox(entity=entity, entity_id=entity_id, version=version, payload=payload))
    # NOTIFY is transactional: it is delivered at commit, and never if the change rolls back.
    db.session.execute(
        text("SELECT pg_notify(:channel, :entity)"), {"channel": NOTIFY_CHANNEL, "entity": entity}
    )
