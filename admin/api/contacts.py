"""API routes: contacts, their history."""

from __future__ import annotations

from flask import Response

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.openapi import Query, doc
from admin.api.params import query_int, query_str
from admin.models import Contact
from admin.schemas import from_row
from admin.schemas.resources import (
    ContactCreate,
    ContactOut,
    ContactPage,
    ContactUpdate,
    History,
    HistoryEventOut,
)
from admin.services import contacts, inputs

MAX_PAGE = 1000


def contacts_out(rows: list[Contact]) -> list[ContactOut]:
    member_of = contacts.memberships([c.id for c in rows])
    return [
        from_row(ContactOut, c, tags=member_of[c.id][0], lists=member_of[c.id][1]) for c in rows
    ]


@bp.post("/contacts")
@doc("Add a contact", ContactCreate, ContactOut, 201)
def create_contact() -> Response:
    contact = contacts.create_contact(
        org_id(), as_changes(read_json(ContactCreate)), source="created through the API"
    )
    return respond(contacts_out([contact])[0], 201)


@bp.get("/contacts")
@doc(
    "A page of contacts, in id order",
    response=ContactPage,
    query=(
        Query("limit", "integer", f"page size, 1-{MAX_PAGE} (default 100)"),
        Query("after", "integer", "the next_after of the previous page"),
        Query("phone", "string", "only the contact with this phone"),
    ),
)
def list_contacts() -> Response:
    limit = query_int("limit", 100, 1, MAX_PAGE)
    after = query_int("after", 0, 0, inputs.MAX_ID)
    rows = contacts.list_contacts(
        org_id(), limit=limit, after=after, phone=query_str("phone") or None
    )
    next_after = rows[-1].id if len(rows) == limit else None
    return respond(ContactPage(contacts=contacts_out(rows), next_after=next_after))


@bp.get("/contacts/<int:contact_id>")
@doc("One contact, with its tags and lists", response=ContactOut)
def get_contact(contact_id: int) -> Response:
    return respond(contacts_out([contacts.get_contact(org_id(), contact_id)])[0])


@bp.patch("/contacts/<int:contact_id>")
@doc("Change a contact", ContactUpdate, ContactOut)
def update_contact(contact_id: int) -> Response:
    contacts.get_contact(org_id(), contact_id)  # 404 before looking at the body
    changes = as_changes(read_json(ContactUpdate))
    changed = contacts.update_contact(
        org_id(), contact_id, changes, source="changed through the API"
    )
    return respond(contacts_out([changed])[0])


@bp.get("/contacts/<int:contact_id>/history")
@doc("The contact's conversation history, newest last", response=History)
def contact_history(contact_id: int) -> Response:
    events = contacts.history(org_id(), contact_id)
    return respond(
        History(
            events=[
                HistoryEventOut(type=e.type, text=e.body, at=e.at, link_id=e.link_id)
                for e in events
            ]
        )
    )
