"""Reading what was sent: a broadcast and its messages, a message, a contact's conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from admin.extensions import db
from admin.models import Broadcast, HistoryEntry, Link, Message
from admin.services.lookup import owned


def get_broadcast(org_id: int, broadcast_id: int) -> Broadcast:
    return owned(Broadcast, org_id, broadcast_id, "broadcast_id", "no such broadcast")


def list_broadcasts(org_id: int, limit: int = 100) -> list[Broadcast]:
    return list(
        db.session.scalars(
            select(Broadcast)
            .where(Broadcast.org_id == org_id)
            .order_by(Broadcast.id.desc())
            .limit(limit)
        )
    )


def status_counts(org_id: int, broadcast_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Message.status, func.count())
        .where(Message.org_id == org_id, Message.broadcast_id == broadcast_id)
        .group_by(Message.status)
    ).all()
    return {status: int(n) for status, n in rows}


def broadcast_messages(
    org_id: int, broadcast_id: int, *, limit: int | None = None, after: int = 0
) -> list[Message]:
    get_broadcast(org_id, broadcast_id)
    query = (
        select(Message)
        .where(Message.org_id == org_id, Message.broadcast_id == broadcast_id, Message.id > after)
        .order_by(Message.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def get_message(org_id: int, message_id: int) -> Message:
    return owned(Message, org_id, message_id, "message_id", "no such message")


@dataclass(frozen=True)
class ConversationItem:
    type: str  # whisper | message_out | message_in
    text: str
    at: datetime
    link_name: str | None
    status: str | None
    error: str
    message_id: int | None


def conversation(org_id: int, contact_id: int, limit: int = 500) -> list[ConversationItem]:
    """The contact's history, oldest first, with each message's delivery status."""
    rows = db.session.execute(
        select(HistoryEntry, Message.status, Message.error, Link.name)
        .outerjoin(Message, (Message.id == HistoryEntry.message_id) & (Message.org_id == org_id))
        .outerjoin(Link, (Link.id == HistoryEntry.link_id) & (Link.org_id == org_id))
        .where(HistoryEntry.org_id == org_id, HistoryEntry.contact_id == contact_id)
        .order_by(HistoryEntry.at.desc(), HistoryEntry.origin.desc(), HistoryEntry.id.desc())
        .limit(limit)
    ).all()
    items = [
        ConversationItem(
            type=event.type,
            text=event.body,
            at=event.at,
            link_name=link_name,
            status=status,
            error=error or "",
            message_id=event.message_id,
        )
        for event, status, error, link_name in rows
    ]
    items.reverse()
    return items


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "contact_id": message.contact_id,
        "to": message.to_phone,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "segments": message.segments,
        "encoding": message.encoding,
        "provider": message.provider,
        "error": message.error,
        "broadcast_id": message.broadcast_id,
        "library_action_id": message.library_action_id,
        "link_id": message.link_id,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
    }
