"""Tags and lists for many contacts at once: one set-based statement per change, scoped to the
organisation's contacts (another organisation's ids are silently not touched).

Like admin.services.memberships, tags and lists live only in Postgres: no outbox row."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from admin.extensions import db
from admin.models import Contact
from admin.services.errors import ValidationError
from admin.services.memberships import LISTS, TAGS, Grouping, name

MAX_CONTACTS = 100_000


def _owned(org_id: int, contact_ids: Sequence[int]) -> list[int]:
    if len(contact_ids) > MAX_CONTACTS:
        raise ValidationError("contact_ids", f"at most {MAX_CONTACTS} contacts at once")
    return list(
        db.session.scalars(
            select(Contact.id).where(Contact.org_id == org_id, Contact.id.in_(list(contact_ids)))
        )
    )


def add_tag(org_id: int, contact_ids: Sequence[int], tag: str) -> int:
    """Tag the contacts (creating the tag); returns how many of them are the organisation's."""
    return _add(TAGS, org_id, contact_ids, tag)


def remove_tag(org_id: int, contact_ids: Sequence[int], tag: str) -> int:
    return _remove(TAGS, org_id, contact_ids, tag)


def add_to_list(org_id: int, contact_ids: Sequence[int], list_name: str) -> int:
    """Put the contacts on the list (creating it); returns how many are the organisation's."""
    return _add(LISTS, org_id, contact_ids, list_name)


def remove_from_list(org_id: int, contact_ids: Sequence[int], list_name: str) -> int:
    return _remove(LISTS, org_id, contact_ids, list_name)


def _add(kind: Grouping, org_id: int, contact_ids: Sequence[int], value: str) -> int:
    wanted = name(kind.field, value)
    ids = _owned(org_id, contact_ids)
    group_id = kind.ensure(org_id, wanted)
    if ids:
        db.session.execute(
            insert(kind.member)
            .values([{"contact_id": i, kind.column: group_id} for i in ids])
            .on_conflict_do_nothing()
        )
    db.session.commit()
    return len(ids)


def _remove(kind: Grouping, org_id: int, contact_ids: Sequence[int], value: str) -> int:
    group_id = kind.existing(org_id, name(kind.field, value))
    ids = _owned(org_id, contact_ids)
    db.session.execute(
        delete(kind.member).where(
            kind.member_group_id == group_id, kind.member.contact_id.in_(ids)
        )
    )
    db.session.commit()
    return len(ids)
