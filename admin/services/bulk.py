"""Tags and lists for many contacts at once: one set-based statement per change, scoped to the
organisation's contacts (another organisation's ids are silently not touched).

Like admin.services.memberships, tags and lists live only in Postgres: no outbox row."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, ListMember, Tag
from admin.services.errors import NotFound, ValidationError
from admin.services.memberships import name

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
    tag_name = name("tag", tag)
    ids = _owned(org_id, contact_ids)
    db.session.execute(insert(Tag).values(org_id=org_id, name=tag_name).on_conflict_do_nothing())
    tag_id = db.session.scalar(select(Tag.id).where(Tag.org_id == org_id, Tag.name == tag_name))
    if ids:
        db.session.execute(
            insert(ContactTag)
            .values([{"contact_id": i, "tag_id": tag_id} for i in ids])
            .on_conflict_do_nothing()
        )
    db.session.commit()
    return len(ids)


def remove_tag(org_id: int, contact_ids: Sequence[int], tag: str) -> int:
    tag_name = name("tag", tag)
    tag_id = db.session.scalar(select(Tag.id).where(Tag.org_id == org_id, Tag.name == tag_name))
    if tag_id is None:
        raise NotFound("tag", f"no tag named {tag_name!r}")
    ids = _owned(org_id, contact_ids)
    db.session.execute(
        delete(ContactTag).where(ContactTag.tag_id == tag_id, ContactTag.contact_id.in_(ids))
    )
    db.session.commit()
    return len(ids)


def add_to_list(org_id: int, contact_ids: Sequence[int], list_name: str) -> int:
    """Put the contacts on the list (creating it); returns how many are the organisation's."""
    wanted = name("list", list_name)
    ids = _owned(org_id, contact_ids)
    db.session.execute(
        insert(ContactList).values(org_id=org_id, name=wanted).on_conflict_do_nothing()
    )
    list_id = db.session.scalar(
        select(ContactList.id).where(ContactList.org_id == org_id, ContactList.name == wanted)
    )
    if ids:
        db.session.execute(
            insert(ListMember)
            .values([{"contact_id": i, "list_id": list_id} for i in ids])
            .on_conflict_do_nothing()
        )
    db.session.commit()
    return len(ids)


def remove_from_list(org_id: int, contact_ids: Sequence[int], list_name: str) -> int:
    wanted = name("list", list_name)
    list_id = db.session.scalar(
        select(ContactList.id).where(ContactList.org_id == org_id, ContactList.name == wanted)
    )
    if list_id is None:
        raise NotFound("list", f"no list named {wanted!r}")
    ids = _owned(org_id, contact_ids)
    db.session.execute(
        delete(ListMember).where(ListMember.list_id == list_id, ListMember.contact_id.in_(ids))
    )
    db.session.commit()
    return len(ids)
