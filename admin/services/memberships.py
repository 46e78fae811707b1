"""A contact's tags and lists, and the organisation's lists.

Tags come into being when first given to a contact (here or by a click action); lists are also
created, renamed and deleted on their own. Names go through core.names.normalize_name, as drain's
click actions do, so a name typed here finds the row a click created and the reverse.

Tags and lists live only in Postgres: they are not part of core.records.ContactRecord (the
edge merges a contact's phone, names, email and fields, never its tags or lists), so a change
here needs no outbox row and no new contact version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, Link, ListMember, Tag
from admin.services import contacts, inputs
from admin.services.errors import Conflict, NotFound, ValidationError
from admin.services.lookup import owned
from core.names import NAME_MAX, normalize_name


def name(field: str, value: Any) -> str:
    """A tag or list name as stored; raises ValidationError naming ``field``."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be a string")
    return inputs.required_text(field, normalize_name(value), NAME_MAX)


@dataclass(frozen=True)
class Named:
    """A tag or list with the number of contacts in it."""

    id: int
    name: str
    contacts: int


@dataclass(frozen=True)
class Grouping:
    """Tags or lists: the named group's table, the membership table and its group column."""

    field: str  # "tag" or "list": the input's name and the word in messages
    group: type[Tag] | type[ContactList]
    member: type[ContactTag] | type[ListMember]
    column: str  # the member table's column holding the group's id

    @property
    def member_group_id(self) -> Any:
        return getattr(self.member, self.column)

    def find(self, org_id: int, wanted: str) -> int | None:
        """The id of the organisation's group named ``wanted`` (None: there is none)."""
        group = self.group
        return db.session.scalar(
            select(group.id).where(group.org_id == org_id, group.name == wanted)
        )

    def existing(self, org_id: int, wanted: str) -> int:
        """The id of the group named ``wanted``; NotFound naming the field when there is none."""
        found = self.find(org_id, wanted)
        if found is None:
            raise NotFound(self.field, f"no {self.field} named {wanted!r}")
        return found

    def ensure(self, org_id: int, wanted: str) -> int | None:
        """The id of the group named ``wanted``, created if new (None only when it was deleted
        between the two statements)."""
        db.session.execute(
            insert(self.group).values(org_id=org_id, name=wanted).on_conflict_do_nothing()
        )
        return self.find(org_id, wanted)


TAGS = Grouping("tag", Tag, ContactTag, "tag_id")
LISTS = Grouping("list", ContactList, ListMember, "list_id")


# -- a contact's tags ---------------------------------------------------------------------------


def add_tag(org_id: int, contact_id: int, tag: Any) -> Contact:
    """Tag the contact (creating the tag if new); tagging twice changes nothing."""
    return _join(TAGS, org_id, contact_id, tag)


def remove_tag(org_id: int, contact_id: int, tag: Any) -> Contact:
    """Untag the contact; a tag the contact does not have is fine, an unknown tag is not."""
    return _leave(TAGS, org_id, contact_id, tag)


def list_tags(org_id: int) -> list[Named]:
    """The organisation's tags by name, with how many contacts have each."""
    return _counted(TAGS, org_id)


# -- a contact's lists --------------------------------------------------------------------------


def add_to_list(org_id: int, contact_id: int, list_name: Any) -> Contact:
    """Put the contact on the list (creating the list if new); twice changes nothing."""
    return _join(LISTS, org_id, contact_id, list_name)


def remove_from_list(org_id: int, contact_id: int, list_name: Any) -> Contact:
    """Take the contact off the list; not being on it is fine, an unknown list is not."""
    return _leave(LISTS, org_id, contact_id, list_name)


def _join(kind: Grouping, org_id: int, contact_id: int, value: Any) -> Contact:
    """Put the contact in the tag or list named ``value``, creating it if new."""
    contact = contacts.get_contact(org_id, contact_id)
    wanted = name(kind.field, value)
    group_id = kind.ensure(org_id, wanted)
    _add_member(kind.member, {"contact_id": contact.id, kind.column: group_id}, kind.field, wanted)
    return contact


def _leave(kind: Grouping, org_id: int, contact_id: int, value: Any) -> Contact:
    """Take the contact out of the tag or list named ``value``; NotFound for a group the
    organisation does not have."""
    contact = contacts.get_contact(org_id, contact_id)
    group_id = kind.existing(org_id, name(kind.field, value))
    member = kind.member
    db.session.execute(
        delete(member).where(member.contact_id == contact.id, kind.member_group_id == group_id)
    )
    db.session.commit()
    return contact


def _add_member(table: Any, row: dict[str, Any], field: str, what: str) -> None:
    try:
        db.session.execute(insert(table).values(**row).on_conflict_do_nothing())
        db.session.commit()
    except IntegrityError:  # the tag or list was deleted between our two statements
        db.session.rollback()
        raise Conflict(field, f"the {field} {what!r} was just deleted: try again") from None


# -- the organisation's lists -------------------------------------------------------------------


def list_lists(org_id: int) -> list[Named]:
    """The organisation's lists by name, with how many contacts are on each."""
    return _counted(LISTS, org_id)


def _counted(kind: Grouping, org_id: int) -> list[Named]:
    """The organisation's tags or lists by name, each with its contacts counted."""
    group, member = kind.group, kind.member
    count = func.count(member.contact_id)
    rows = db.session.execute(
        select(group.id, group.name, count)
        .outerjoin(member, kind.member_group_id == group.id)
        .where(group.org_id == org_id)
        .group_by(group.id)
        .order_by(group.name)
    )
    return [Named(i, n, c) for i, n, c in rows]


def get_list(org_id: int, list_id: int) -> Named:
    found = owned(ContactList, org_id, list_id, "list_id", "no such list")
    members = db.session.scalar(
        select(func.count()).select_from(ListMember).where(ListMember.list_id == found.id)
    )
    return Named(found.id, found.name, int(members or 0))


def _name_taken(list_name: str) -> Conflict:
    return Conflict("name", f"a list named {list_name!r} exists already")


def create_list(org_id: int, list_name: Any) -> Named:
    wanted = name("name", list_name)
    created = db.session.scalar(
        insert(ContactList)
        .values(org_id=org_id, name=wanted)
        .on_conflict_do_nothing()
        .returning(ContactList.id)
    )
    if created is None:
        db.session.rollback()
        raise _name_taken(wanted)
    db.session.commit()
    return Named(int(created), wanted, 0)


def rename_list(org_id: int, list_id: int, new_name: Any) -> Named:
    """Rename a list. Links' click actions and broadcasts name lists by name: those naming the
    old one keep doing so (see links_naming_list), and a click then creates it anew."""
    current = get_list(org_id, list_id)
    wanted = name("name", new_name)
    if wanted == current.name:
        return current
    try:
        # One statement: a list deleted since get_list() updates nothing (a 404), where a
        # loaded row's flush would fail (a 500).
        renamed = db.session.scalar(
            update(ContactList)
            .where(ContactList.id == current.id, ContactList.org_id == org_id)
            .values(name=wanted)
            .returning(ContactList.id)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _name_taken(wanted) from None
    if renamed is None:
        raise NotFound("list_id", "no such list")
    return Named(current.id, wanted, current.contacts)


def delete_list(org_id: int, list_id: int) -> None:
    """Delete a list; its contacts stay, only their membership goes."""
    current = get_list(org_id, list_id)
    db.session.execute(
        delete(ContactList).where(ContactList.id == current.id, ContactList.org_id == org_id)
    )
    db.session.commit()


def links_naming_list(org_id: int, list_name: str) -> int:
    """How many of the organisation's links have a click action naming this list."""
    count = db.session.scalar(
        select(func.count())
        .select_from(Link)
        .where(
            Link.org_id == org_id,
            Link.actions.contains([{"list": list_name}]),
        )
    )
    return int(count or 0)
