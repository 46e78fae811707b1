"""What comes back from a provider: delivery statuses of our messages, and contacts' replies.

A reply is stored as an incoming message with a ``message_in`` history event. Carrier opt-out
words (STOP ...) opt the contact out with one confirmation, START opts them back in, HELP gets
the organisation's help text (admin/services/consent.py); any other reply that is exactly a
library action's keyword fires that action, which answers with the contact's own short URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from admin.extensions import db
from admin.models import Contact, HistoryEvent, Message
from admin.providers.base import STATUS_RANK
from admin.services import consent, library, segments, sends
from admin.services.errors import ServiceError, ValidationError

MAX_INBOUND_LENGTH = 1600


@dataclass(frozen=True)
class Inbound:
    message_id: int
    contact_id: int
    # The answer: a library action's message, or a consent confirmation / HELP text.
    reply_message_id: int | None = None
    library_action_id: int | None = None
    opted_out: bool | None = None  # the contact's new opt-out state, when the reply changed it
    duplicate: bool = False


def receive(
    org_id: int,
    contact: Contact,
    body: Any,
    *,
    provider: str = "outbox",
    provider_message_id: str | None = None,
    scheme: str,
) -> Inbound:
    """Record a contact's reply and act on it; a provider's retry of the same message
    (same provider id) is recognised and does nothing twice. ``scheme`` (SHORT_URL_SCHEME) is
    for the short URL of a library action the reply fires."""
    if not isinstance(body, str):
        raise ValidationError("body", "body must be a string")
    # Stored as the contact sent it, but for what Postgres cannot hold (NUL, lone surrogates).
    body = body[:MAX_INBOUND_LENGTH].replace("\x00", "").encode("utf-8", "replace").decode()
    if provider_message_id:
        seen = db.session.scalar(
            select(Message.id).where(
                Message.org_id == org_id,
                Message.provider_message_id == provider_message_id,
                Message.direction == "in",
            )
        )
        if seen is not None:
            return Inbound(seen, contact.id, duplicate=True)
    seg = segments.count(body)
    message = Message(
        org_id=org_id,
        contact_id=contact.id,
        direction="in",
        to_phone=contact.phone,  # for an incoming message: the contact's number it came from
        body=body,
        segments=max(1, seg.segments),
        encoding=seg.encoding,
        status="received",
        provider=provider,
        provider_message_id=provider_message_id,
    )
    db.session.add(message)
    db.session.flush()
    db.session.add(
        HistoryEvent(org_id=org_id, contact_id=contact.id, type="message_in", body=body,
                     message_id=message.id)
    )  # fmt: skip
    kind = consent.keyword(body)
    result = Inbound(message.id, contact.id)
    if kind is not None:
        answer: int | None = None
        changed = kind == "help" or consent.set_opted_out(
            org_id, contact, kind == "opt_out", f"replied {body.strip()[:40]!r} ({provider})"
        )
        if changed:  # one confirmation: a second STOP changes nothing and gets no answer
            (answer,) = sends.queue_messages(
                org_id, [(contact.id, contact.phone, consent.answer(org_id, kind))],
                link_id=None, compliance=True,
            )  # fmt: skip
        opted = None if kind == "help" else contact.opted_out
        result = Inbound(message.id, contact.id, answer, opted_out=opted)
    else:
        action = library.action_for_keyword(org_id, body)
        if action is not None and not contact.opted_out:
            try:
                reply = library.send_action(
                    org_id, action.id, contact.id, commit=False, scheme=scheme
                )
            except ServiceError:
                reply = None  # e.g. the action's link was archived: the reply is still kept
            result = Inbound(message.id, contact.id, reply, action.id)
    db.session.commit()
    return result


def contact_by_phone(org_id: int, phone: str) -> Contact | None:
    return db.session.scalar(
        select(Contact).where(Contact.org_id == org_id, Contact.phone == phone.strip())
    )


_UPDATE_STATUS = text(
    """
    UPDATE messages SET status = :status, updated_at = now(),
        error = CASE WHEN :error = '' THEN error ELSE :error END
    WHERE org_id = :org_id AND provider_message_id = :sid AND direction = 'out'
      AND status = ANY(:lower)
    RETURNING id
    """
)


def delivery_status(org_id: int, provider_message_id: str, status: str, error: str = "") -> bool:
    """Move a message to ``status`` (ours, see providers.base) unless it is already as far or
    further (callbacks come out of order); True when a message of the organisation matched."""
    rank = STATUS_RANK.get(status)
    if rank is None or not provider_message_id:
        return False
    lower = [s for s, r in STATUS_RANK.items() if r < rank]
    updated = db.session.execute(
        _UPDATE_STATUS,
        {"status": status, "error": error, "org_id": org_id, "sid": provider_message_id,
         "lower": lower},
    ).first()  # fmt: skip
    exists = (
        updated is not None
        or db.session.scalar(
            select(Message.id).where(
                Message.org_id == org_id, Message.provider_message_id == provider_message_id
            )
        )
        is not None
    )
    db.session.commit()
    return exists
