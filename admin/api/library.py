"""API routes: library actions (saved replies holding a smart link, with an optional keyword)."""

from __future__ import annotations

from flask import Response, g

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.broadcasts import message_out
from admin.api.openapi import doc
from admin.appsettings import short_url_scheme
from admin.schemas import from_row
from admin.schemas.sending import (
    LibraryActionCreate,
    LibraryActionList,
    LibraryActionOut,
    LibraryActionUpdate,
    LibrarySend,
    MessageOut,
)
from admin.services import conversations, library


@bp.get("/library")
@doc("Library actions (saved replies with a smart link)", response=LibraryActionList)
def list_library() -> Response:
    return respond(
        LibraryActionList(actions=[from_row(LibraryActionOut, a) for a in library.list_actions(org_id())])
    )


@bp.post("/library")
@doc("Save a library action", LibraryActionCreate, LibraryActionOut, 201)
def create_library_action() -> Response:
    action = library.create_action(org_id(), as_changes(read_json(LibraryActionCreate)))
    return respond(from_row(LibraryActionOut, action), 201)


@bp.get("/library/<int:action_id>")
@doc("One library action", response=LibraryActionOut)
def get_library_action(action_id: int) -> Response:
    return respond(from_row(LibraryActionOut, library.get_action(org_id(), action_id)))


@bp.patch("/library/<int:action_id>")
@doc("Change a library action", LibraryActionUpdate, LibraryActionOut)
def update_library_action(action_id: int) -> Response:
    library.get_action(org_id(), action_id)  # 404 before looking at the body
    changes = as_changes(read_json(LibraryActionUpdate))
    return respond(from_row(LibraryActionOut, library.update_action(org_id(), action_id, changes)))


@bp.delete("/library/<int:action_id>")
@doc("Delete a library action", status=204)
def delete_library_action(action_id: int) -> Response:
    library.delete_action(org_id(), action_id)
    return Response(status=204)


@bp.post("/library/<int:action_id>/send")
@doc("Send a library action to a contact, with their own URL", LibrarySend, MessageOut, 201)
def send_library_action(action_id: int) -> Response:
    library.get_action(org_id(), action_id)
    data = as_changes(read_json(LibrarySend))
    message_id = library.send_action(
        org_id(), action_id, data["contact_id"], user_id=g.get("user_id"), scheme=short_url_scheme()
    )
    return respond(message_out(conversations.get_message(org_id(), message_id)), 201)
