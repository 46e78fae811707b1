"""A contact's personal data: erased everywhere when the contact is deleted, exported whole on
request, and the IP addresses and user agents of clicks kept only as long as the organisation
says (``set_retention``; sync/clicks/retention.py applies it).

Erasing keeps the numbers: clicks stay (the counts, the series, the breakdowns are built from
them or kept beside them) with no contact, IP address, user agent or referrer; what only
describes the person goes (their history, messages, codes, memberships) by the contacts
table's ON DELETE CASCADE; a rejected import row naming them is dropped. Redis learns through
the outbox, in the same transaction: a tombstone replaces the contact's record and their codes
are removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text

from admin.extensions import db
from admin.models import Click, Contact, HistoryEntry, IssuedCode, Link, Message, Organisation
from admin.services import audit, contacts, inputs, outbox
from admin.services.errors import NotFound, ValidationError

CODES_PER_OUTBOX_ROW = 10_000  # what one "codes" outbox row may name (sync/publish/publisher.py)
RETENTION_DAYS = (1, 3650)
CONSENT_TYPES = ("opt_out", "opt_in")

# Through ix_clicks_contact; the foreign key's own SET NULL then finds nothing left to do.
_SCRUB_CLICKS = text(
    "UPDATE clicks SET contact_id = NULL, ip = NULL, user_agent = '', referer = '',"
    " visitor_hash = '' WHERE contact_id = ANY(:ids) AND org_id = :org"
)
# A click webhook's payload names its contact: a delivery not yet made goes out without them.
_SCRUB_DELIVERIES = text(
    "UPDATE webhook_deliveries SET payload = jsonb_set(payload, '{contact}', 'null')"
    " WHERE org_id = :org AND jsonb_typeof(payload->'contact') = 'object'"
    " AND (payload->'contact'->>'id')::bigint = ANY(:ids)"
)

_SCRUB_REJECTED_ROWS = text(
    "UPDATE import_jobs SET errors = COALESCE((SELECT jsonb_agg(e ORDER BY n)"
    " FROM jsonb_array_elements(errors) WITH ORDINALITY AS x(e, n)"
    " WHERE NOT COALESCE(e->'cells', '[]') ?| CAST(:needles AS text[])), '[]')"
    " WHERE org_id = :org AND jsonb_array_length(errors) > 0"
)


def erase_contacts(org_id: int, contact_ids: Iterable[int]) -> int:
    """Delete these contacts of the organisation and every trace of their personal data, in
    one transaction (committed here). Returns how many were deleted; ids not theirs are
    ignored."""
    wanted = sorted({i for i in contact_ids if inputs.is_id(i)})
    if not wanted:
        return 0
    rows = db.session.execute(  # locked: an edit or an import meanwhile waits, then finds them gone
        select(Contact.id, Contact.phone, Contact.email)
        .where(Contact.org_id == org_id, Contact.id.in_(wanted))
        .order_by(Contact.id)
        .with_for_update()
    ).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    # A rejected import row keeps its cells (for the CSV of rejected rows): one naming them goes.
    needles = sorted({v for r in rows for v in (r.phone, r.phone.lstrip("+"), r.email) if v})
    codes = list(db.session.scalars(select(IssuedCode.code).where(IssuedCode.contact_id.in_(ids))))
    params = {"org": org_id, "ids": ids}
    db.session.execute(_SCRUB_CLICKS, params)
    db.session.execute(_SCRUB_DELIVERIES, params)
    db.session.execute(_SCRUB_REJECTED_ROWS, {"org": org_id, "needles": needles})
    db.session.execute(delete(Contact).where(Contact.org_id == org_id, Contact.id.in_(ids)))
    for contact_id in ids:
        outbox.enqueue("contact", contact_id, outbox.next_version())
    for start in range(0, len(codes), CODES_PER_OUTBOX_ROW):
        chunk = codes[start : start + CODES_PER_OUTBOX_ROW]
        outbox.enqueue("codes", ids[0], outbox.next_version(), {"codes": chunk})
    for contact_id in ids:  # only the id: the log must not keep what was erased
        audit.record(org_id, "contact.delete", f"contact {contact_id}")
    db.session.commit()
    return len(ids)


def erase_contact(org_id: int, contact_id: int) -> None:
    if not erase_contacts(org_id, [contact_id]):
        raise NotFound("contact_id", "no such contact")


def export_contact(org_id: int, contact_id: int) -> dict[str, Any]:
    """Everything held about one contact, as JSON-ready data (recorded in the audit log)."""
    contact = contacts.get_contact(org_id, contact_id)
    tags, lists = contacts.memberships([contact.id])[contact.id]
    history = contacts.history(org_id, contact.id)
    result = {
        "exported_at": datetime.now(UTC).isoformat(),
        "contact": audit.snapshot(
            contact,
            ("id", "phone", "first_name", "last_name", "email", "fields", "opted_out",
             "created_at", "updated_at"),
        ),  # fmt: skip
        "tags": tags,
        "lists": lists,
        "history": [_history(e) for e in history],
        "opt_outs": [_history(e) for e in history if e.type in CONSENT_TYPES],
        "messages": _messages(org_id, contact.id),
        "clicks": _clicks(org_id, contact.id),
        "short_codes": [
            {"code": code, "link_id": link_id}
            for code, link_id in db.session.execute(
                select(IssuedCode.code, IssuedCode.link_id)
                .where(IssuedCode.org_id == org_id, IssuedCode.contact_id == contact.id)
                .order_by(IssuedCode.link_id)
            )
        ],
    }
    audit.record(org_id, "export.contact", f"contact {contact.id}")
    db.session.commit()
    return result


def _history(event: HistoryEntry) -> dict[str, Any]:
    return {
        "type": event.type,
        "text": event.body,
        "at": audit.jsonable(event.at),
        "link_id": event.link_id,
    }


def _messages(org_id: int, contact_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(Message)
        .where(Message.org_id == org_id, Message.contact_id == contact_id)
        .order_by(Message.created_at, Message.id)
    )
    names = ("id", "direction", "to_phone", "body", "status", "error", "broadcast_id", "link_id",
             "created_at", "sent_at")  # fmt: skip
    return [audit.snapshot(m, names) for m in rows]


def _clicks(org_id: int, contact_id: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Click, Link.name)
        .join(Link, Link.id == Click.link_id)
        .where(Click.org_id == org_id, Click.contact_id == contact_id)
        .order_by(Click.at, Click.id)
    )
    names = ("at", "link_id", "code", "kind", "reason", "ip", "user_agent", "referer", "device",
             "os", "browser", "broadcast_id")  # fmt: skip
    return [{**audit.snapshot(c, names), "link_name": name} for c, name in rows]


def retention_days(org_id: int) -> int:
    days = db.session.scalar(
        select(Organisation.click_retention_days).where(Organisation.id == org_id)
    )
    if days is None:
        raise NotFound("org_id", "no such organisation")
    return int(days)


def set_retention(org_id: int, value: Any) -> int:
    """How many days clicks keep their IP address and user agent (committed here)."""
    low, high = RETENTION_DAYS
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            "click_retention_days", f"click_retention_days must be a whole number from {low} to {high}"
        )
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound("org_id", "no such organisation")
    audit.record(
        org_id,
        "settings.click_retention",
        "click retention",
        before={"click_retention_days": org.click_retention_days},
        after={"click_retention_days": value},
    )
    org.click_retention_days = value
    db.session.commit()
    return value

