"""A broadcast before and after it is queued: a test send to one phone, and cancel before send.
(Composing and queueing are in sends.py; results and follow-up segments in results.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, text

from admin.extensions import db
from admin.models import Broadcast
from admin.services import contacts, inputs, provider_events, sends
from admin.services.errors import Conflict, NotFound, ValidationError

TEST_CONTACT_NAME = "Test send"
# The refcode of a test send composed without one: the broadcast's own (sl_b<id>) is not
# known before it is created, and a click on a test should not count as the broadcast's.
TEST_SOURCE = "sl_test"

_CANCEL = text(
    """
    UPDATE messages SET status = 'canceled', updated_at = now(), next_attempt_at = NULL
    WHERE broadcast_id = :b AND org_id = :o AND status = 'queued'
    RETURNING id
    """
)


def cancel(org_id: int, broadcast_id: int) -> tuple[Broadcast, int]:
    """Cancel what has not gone yet (queued, scheduled or held by quiet hours); a message the
    sender has claimed goes on. Returns the broadcast and how many were canceled."""
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.org_id != org_id:
        raise NotFound("broadcast_id", "no such broadcast")
    if broadcast.canceled_at is not None:
        raise Conflict("broadcast_id", "the broadcast was canceled already")
    count = len(db.session.execute(_CANCEL, {"b": broadcast.id, "o": org_id}).all())
    if not count:
        db.session.rollback()
        raise Conflict("broadcast_id", "every message has gone to the provider: nothing to cancel")
    broadcast.status = "canceled"
    broadcast.canceled_at = func.now()
    db.session.commit()
    return broadcast, count


def test_send(
    org_id: int, data: Mapping[str, Any], user_id: int | None, *, scheme: str
) -> int:
    """One message of a broadcast being composed, now (no quiet hours), to a chosen contact
    (``contact_id``) or to a phone (``phone``: the sender's own; a contact is made for it when
    there is none). It is rendered with that contact's data and own short URL, exactly as the
    broadcast will render it; its code carries the broadcast's ``source`` (TEST_SOURCE when none
    is given yet) where the link merges ``{{source}}``. Returns the message id."""
    source = inputs.text("source", data.get("source"), 64) or TEST_SOURCE
    contact_id = data.get("contact_id")
    phone = data.get("phone")
    if contact_id is None and not phone:
        raise ValidationError("contact_id", "choose a contact (contact_id) or a phone")
    if contact_id is None:
        number = contacts.normalize_phone(phone, "phone")
        found = provider_events.contact_by_phone(org_id, number)
        if found is None:
            found = contacts.create_contact(
                org_id, {"phone": number, "first_name": TEST_CONTACT_NAME},
                source="test send",
            )  # fmt: skip
        contact_id = found.id
    return sends.send_to_contact(org_id, contact_id, data.get("body"), data.get("link_id"),
                                 user_id=user_id, scheme=scheme, source=source)  # fmt: skip
