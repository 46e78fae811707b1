"""Who a link's short URLs are issued to from its page: a list's members, the contacts with a
tag, or contacts typed by id or phone number. Each answer is contact ids in a stable order."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Mapped

from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, ListMember, Tag
from admin.services import contacts
from admin.services.errors import NotFound, ValidationError

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


def typed_contact_ids(org_id: int, typed: str, field: str = "contacts") -> list[int]:
    """Contact ids and phone numbers typed one per line (or comma separated), as ids in the
    order typed; raises a ServiceError naming ``field`` for a phone that is no contact's."""
    tokens = [t.strip() for t in _SEPARATORS.split(typed) if t.strip()]
    if not tokens:
        raise ValidationError(field, "type phone numbers or contact ids, one per line")
    if len(tokens) > MAX_TYPED:
        raise ValidationError(field, f"at most {MAX_TYPED} typed contacts; use a list")
    ids: list[int] = []
    phones = []
    for token in tokens:
        if token.isdecimal() and len(token) < 10:
            ids.append(int(token))
        else:
            phones.append(contacts.normalize_phone(token, field))
    if phones:
        rows = db.session.execute(
            select(Contact.phone, Contact.id).where(
                Contact.org_id == org_id, Contact.phone.in_(phones)
            )
        )
        found = {phone: contact_id for phone, contact_id in rows}
        missing = [p for p in phones if p not in found]
        if missing:
            raise NotFound(field, "no contact with phone " + ", ".join(missing[:5]))
        ids.extend(found[p] for p in phones)
    return ids
