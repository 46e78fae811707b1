"""Who a link's short URLs are issued to from its page: a list's members, the contacts with a
tag, or contacts typed by id or phone number. Each answer is contact ids in a stable order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Mapped

from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, ListMember, Tag
from admin.services import contacts
from admin.services.errors import ValidationError

MAX_TYPED = 10_000
_SEPARATORS = re.compile(r"[\r\n,;]+")


def list_member_ids(org_id: int, list_name: str) -> list[int]:
    """The members of the organisation's list named ``list_name`` (none if there is none)."""
    return _ids(list_members(org_id, _no_nul(list_name)))


def tag_contact_ids(org_id: int, tag_name: str) -> list[int]:
    """The contacts with the organisation's tag named ``tag_name`` (none if there is none)."""
    return _ids(tag_members(org_id, _no_nul(tag_name)))


def list_members(org_id: int, list_name: str) -> Select[Any]:
    """The query of the contact ids on the organisation's list named ``list_name``."""
    return _members(ListMember.contact_id, ListMember.list_id, ContactList, org_id, list_name)


def tag_members(org_id: int, tag_name: str) -> Select[Any]:
    """The query of the contact ids with the organisation's tag named ``tag_name``."""
    return _members(ContactTag.contact_id, ContactTag.tag_id, Tag, org_id, tag_name)


def _members(
    contact_id: Mapped[int],
    group_id: Mapped[int],
    group: type[ContactList] | type[Tag],
    org_id: int,
    name: str,
) -> Select[Any]:
    return (
        select(contact_id)
        .join(group, group.id == group_id)
        .where(group.org_id == org_id, group.name == name)
    )


def _no_nul(name: str) -> str:
    return name.replace("\x00", "")  # no name holds NUL (Postgres text cannot)


def _ids(members: Select[Any]) -> list[int]:
    return list(db.session.scalars(members.order_by(members.selected_columns[0])))


@dataclass(frozen=True)
class Typed:
    """Typed contacts: the ids found, in the order typed, and what was typed but is no
    contact of the organisation (a phone nobody has, an id of nobody, a phone that is not one)."""

    ids: list[int]
    unknown: list[str]


def typed_contacts(org_id: int, typed: str, field: str = "contacts") -> Typed:
    """Contact ids and phone numbers typed one per line (or comma separated). Raises a
    ServiceError naming ``field`` only when nothing is typed or too much; an unknown entry is
    listed apart, so that the known ones can go ahead."""
    tokens = [t.strip() for t in _SEPARATORS.split(typed) if t.strip()]
    if not tokens:
        raise ValidationError(field, "type phone numbers or contact ids, one per line")
    if len(tokens) > MAX_TYPED:
        raise ValidationError(field, f"at most {MAX_TYPED} typed contacts; use a list")
    wanted: list[tuple[str, int | str | None]] = []  # (as typed, id or normalised phone)
    for token in tokens:
        if token.isdecimal() and len(token) < 10:
            wanted.append((token, int(token)))
            continue
        try:
            wanted.append((token, contacts.normalize_phone(token, field)))
        except ValidationError:
            wanted.append((token, None))
    ids = [w for _, w in wanted if isinstance(w, int)]
    phones = [w for _, w in wanted if isinstance(w, str)]
    rows = db.session.execute(
        select(Contact.id, Contact.phone).where(
            Contact.org_id == org_id, or_(Contact.id.in_(ids), Contact.phone.in_(phones))
        )
    )
    by_id: dict[int | str, int] = {}
    for contact_id, phone in rows:
        by_id[contact_id] = contact_id
        by_id[phone] = contact_id
    found: list[int] = []
    unknown: list[str] = []
    for token, key in wanted:
        match = by_id.get(key) if key is not None else None
        if match is None:
            unknown.append(token)
        elif match not in found:
            found.append(match)
    return Typed(found, unknown)
