"""API routes: a contact's tags and lists, the organisation's tags, and its lists."""

from __future__ import annotations

from flask import Response

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import read_json, respond
from admin.api.contacts import contacts_out
from admin.api.openapi import doc
from admin.schemas.resources import (
    ContactOut,
    ListChange,
    ListCreate,
    ListList,
    ListOut,
    ListUpdate,
    TagChange,
    TagList,
    TagOut,
)
from admin.services import contacts, memberships
from admin.services.memberships import Named

IDEMPOTENT = "Doing it twice changes nothing."


def _contact(contact_id: int) -> Response:
    return respond(contacts_out([contacts.get_contact(org_id(), contact_id)])[0])


def _list_out(found: Named) -> ListOut:
    return ListOut(id=found.id, name=found.name, contacts=found.contacts)


# -- a contact's tags and lists (each looks the contact up before reading the body: 404 first) --


@bp.post("/contacts/<int:contact_id>/tags")
@doc(
    "Tag a contact",
    TagChange,
    ContactOut,
    description="A tag not used before is created. " + IDEMPOTENT,
)
def add_contact_tag(contact_id: int) -> Response:
    contacts.get_contact(org_id(), contact_id)
    memberships.add_tag(org_id(), contact_id, read_json(TagChange).tag)
    return _contact(contact_id)


@bp.delete("/contacts/<int:contact_id>/tags")
@doc(
    "Remove a tag from a contact",
    TagChange,
    ContactOut,
    description="An unknown tag is 404 (field tag); a tag the contact lacks is fine.",
)
def remove_contact_tag(contact_id: int) -> Response:
    contacts.get_contact(org_id(), contact_id)
    memberships.remove_tag(org_id(), contact_id, read_json(TagChange).tag)
    return _contact(contact_id)


@bp.post("/contacts/<int:contact_id>/lists")
@doc(
    "Put a contact on a list",
    ListChange,
    ContactOut,
    description="A list not used before is created. " + IDEMPOTENT,
)
def add_contact_to_list(contact_id: int) -> Response:
    contacts.get_contact(org_id(), contact_id)
    memberships.add_to_list(org_id(), contact_id, read_json(ListChange).list_)
    return _contact(contact_id)


@bp.delete("/contacts/<int:contact_id>/lists")
@doc(
    "Take a contact off a list",
    ListChange,
    ContactOut,
    description="An unknown list is 404 (field list); not being on it is fine.",
)
def remove_contact_from_list(contact_id: int) -> Response:
    contacts.get_contact(org_id(), contact_id)
    memberships.remove_from_list(org_id(), contact_id, read_json(ListChange).list_)
    return _contact(contact_id)


# -- the organisation's tags and lists -----------------------------------------------------------


@bp.get("/tags")
@doc("The organisation's tags, with their number of contacts", response=TagList)
def list_tags() -> Response:
    found = memberships.list_tags(org_id())
    return respond(TagList(tags=[TagOut(id=t.id, name=t.name, contacts=t.contacts) for t in found]))


@bp.get("/lists")
@doc("The organisation's lists, with their number of contacts", response=ListList)
def list_lists() -> Response:
    return respond(ListList(lists=[_list_out(x) for x in memberships.list_lists(org_id())]))


@bp.post("/lists")
@doc("Create an empty list", ListCreate, ListOut, 201)
def create_list() -> Response:
    return respond(_list_out(memberships.create_list(org_id(), read_json(ListCreate).name)), 201)


@bp.get("/lists/<int:list_id>")
@doc("One list", response=ListOut)
def get_list(list_id: int) -> Response:
    return respond(_list_out(memberships.get_list(org_id(), list_id)))


@bp.patch("/lists/<int:list_id>")
@doc(
    "Rename a list",
    ListUpdate,
    ListOut,
    description="Links' click actions and broadcasts naming the old name keep that name.",
)
def rename_list(list_id: int) -> Response:
    memberships.get_list(org_id(), list_id)  # 404 before looking at the body
    found = memberships.rename_list(org_id(), list_id, read_json(ListUpdate).name)
    return respond(_list_out(found))


@bp.delete("/lists/<int:list_id>")
@doc("Delete a list (its contacts stay)", status=204)
def delete_list(list_id: int) -> Response:
    memberships.delete_list(org_id(), list_id)
    return Response(status=204)
