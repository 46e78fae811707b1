"""Contacts: the people an organisation texts, their custom fields, tags and lists."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, HistoryEntry, ListMember, Tag
from admin.services import consent, inputs, outbox
from admin.services.errors import Conflict, NotFound, ValidationError

DEFAULT_REGION = "US"  # a number typed without +country is read as a US number
MAX_FIELDS = 100
MAX_FIELD_VALUE = 1000
# The names {{fields.NAME}} can merge (core/merge.py accepts the same).
FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_COLUMNS = {"first_name": 200, "last_name": 200}


def normalize_phone(value: Any, field: str = "phone") -> str:
    """E.164 (``+15551234567``); raises ValidationError when it cannot be a phone number."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(field, f"{field} must be a string")
    text = str(value).strip()
    if not text:
        raise ValidationError(field, f"{field} is required")
    if len(text) > 40:
        raise ValidationError(field, f"{field} is too long to be a phone number")
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, f"{field} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(field, f"{field} {text!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(value: Any, field: str = "email") -> str:
    result = inputs.text(field, value, 320)
    if result and not _EMAIL.match(result):
        raise ValidationError(field, f"{field} is not an email address")
    return result


def field_value(name: str, value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(field, f"{field} must be a string or a number")
    return inputs.text(field, str(value), MAX_FIELD_VALUE)


def merge_fields(current: Mapping[str, str], changes: Any, field: str = "fields") -> dict[str, str]:
    """``current`` with ``changes`` applied: a null value removes that field."""
    if not isinstance(changes, Mapping):
        raise ValidationError(field, f"{field} must be an object of name: value")
    result = dict(current)
    for name, value in changes.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise ValidationError(
                where, "a field name has 1-64 letters, digits, '_', '-' or '.' (not first)"
            )
        if value is None:
            result.pop(name, None)
        else:
            result[name] = field_value(name, value, where)
    if len(result) > MAX_FIELDS:
        raise ValidationError(field, f"a contact has at most {MAX_FIELDS} fields")
    return result


def contact_values(data: Mapping[str, Any], current: Contact | None = None) -> dict[str, Any]:
    """The validated column values present in ``data`` (all of them, filled, for a new one)."""
    if not isinstance(data, Mapping):
        raise ValidationError(None, "a contact must be an object")
    values: dict[str, Any] = {}
    if "phone" in data or current is None:
        values["phone"] = normalize_phone(data.get("phone"))
    for column, limit in NAME_COLUMNS.items():
        if column in data:
            values[column] = inputs.text(column, data[column], limit)
    if "email" in data:
        values["email"] = email(data["email"])
    if "fields" in data and data["fields"] is not None:
        values["fields"] = merge_fields(current.fields if current else {}, data["fields"])
    if "opted_out" in data:
        values["opted_out"] = inputs.flag("opted_out", data["opted_out"])
    return values


def _phone_taken(phone: str) -> Conflict:
    return Conflict("phone", f"a contact with phone {phone} exists already")


def create_contact(org_id: int, data: Mapping[str, Any], *, source: str = "created") -> Contact:
    values = contact_values(data)
    if db.session.scalar(
        select(Contact.id).where(Contact.org_id == org_id, Contact.phone == values["phone"])
    ):
        raise _phone_taken(values["phone"])
    version = outbox.next_version()
    contact = Contact(org_id=org_id, version=version, **values)
    db.session.add(contact)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent request added the same phone
        db.session.rollback()
        raise _phone_taken(values["phone"]) from None
    outbox.enqueue("contact", contact.id, version)
    if contact.opted_out:
        contact.opted_out = False  # recorded as a change, so the history says who opted them out
        consent.set_opted_out(org_id, contact, True, source)
    db.session.commit()
    return contact


def update_contact(
    org_id: int, contact_id: int, data: Mapping[str, Any], *, source: str = "edited"
) -> Contact:
    """Change a contact; an opt-out change goes into their history with ``source``."""
    contact = get_contact(org_id, contact_id)
    values = contact_values(data, current=contact)
    if "opted_out" in values:
        consent.set_opted_out(org_id, contact, values.pop("opted_out"), source)
    if values.get("phone", contact.phone) != contact.phone and db.session.scalar(
        select(Contact.id).where(Contact.org_id == org_id, Contact.phone == values["phone"])
    ):
        raise _phone_taken(values["phone"])
    for column, value in values.items():
        setattr(contact, column, value)
    contact.version = outbox.next_version()
    contact.updated_at = func.now()
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _phone_taken(values["phone"]) from None
    outbox.enqueue("contact", contact.id, contact.version)
    db.session.commit()
    return contact


def get_contact(org_id: int, contact_id: int) -> Contact:
    contact = inputs.is_id(contact_id) and db.session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.org_id == org_id)
    )
    if not contact:
        raise NotFound("contact_id", "no such contact")
    return contact


def list_contacts(
    org_id: int, *, limit: int = 100, after: int = 0, phone: str | None = None
) -> list[Contact]:
    """One page of contacts in id order, those with an id above ``after``."""
    query = select(Contact).where(Contact.org_id == org_id, Contact.id > after)
    if phone is not None:
        query = query.where(Contact.phone == normalize_phone(phone))
    return list(db.session.scalars(query.order_by(Contact.id).limit(limit)))


def memberships(contact_ids: list[int]) -> dict[int, tuple[list[str], list[str]]]:
    """Tag names and list names of each contact (two queries for any number of contacts)."""
    found: dict[int, tuple[list[str], list[str]]] = {cid: ([], []) for cid in contact_ids}
    groups: tuple[tuple[Any, Any, type[Tag] | type[ContactList]], ...] = (
        (ContactTag.contact_id, ContactTag.tag_id, Tag),  # found[...][0]
        (ListMember.contact_id, ListMember.list_id, ContactList),  # found[...][1]
    )
    for slot, (member_id, group_id, group) in enumerate(groups):
        rows = db.session.execute(
            select(member_id, group.name)
            .join(group, group_id == group.id)
            .where(member_id.in_(contact_ids))
            .order_by(group.name)
        )
        for contact_id, name in rows:
            found[contact_id][slot].append(name)
    return found


def history(org_id: int, contact_id: int) -> list[HistoryEntry]:
    """The contact's conversation history, oldest first (newest last)."""
    get_contact(org_id, contact_id)
    return list(
        db.session.scalars(
            select(HistoryEntry)
            .where(HistoryEntry.org_id == org_id, HistoryEntry.contact_id == contact_id)
            .order_by(HistoryEntry.at, HistoryEntry.origin, HistoryEntry.id)
        )
    )
