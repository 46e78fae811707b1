"""API routes: broadcasts — one message per contact, each with that contact's own short URL."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.openapi import Query, doc
from admin.api.params import query_int
from admin.appsettings import short_url_scheme
from admin.models import Broadcast, Message
from admin.schemas.sending import (
    BroadcastCreate,
    BroadcastCreated,
    BroadcastList,
    BroadcastOut,
    BroadcastPreview,
    MessageList,
    MessageOut,
)
from admin.services import conversations, sends

# 100,000 contact ids are about 800 kB of JSON.
MAX_BROADCAST_JSON = 8 * 1024 * 1024


def broadcast_out(broadcast: Broadcast) -> BroadcastOut:
    return BroadcastOut(
        id=broadcast.id,
        body=broadcast.body,
        link_id=broadcast.link_id,
        audience=broadcast.audience,
        messages=broadcast.total,
        opted_out=broadcast.skipped,
        statuses=conversations.status_counts(broadcast.org_id, broadcast.id),
        created_at=broadcast.created_at,
    )


def message_out(message: Message) -> MessageOut:
    return MessageOut(**conversations.message_view(message))


def _request() -> dict[str, Any]:
    return as_changes(read_json(BroadcastCreate, MAX_BROADCAST_JSON))


@bp.post("/broadcasts/preview")
@doc(
    "What a broadcast would send: recipients, opted out, segments, a sample",
    BroadcastCreate,
    BroadcastPreview,
)
def preview_broadcast() -> Response:
    return respond(
        BroadcastPreview(**sends.preview_broadcast(org_id(), _request(), scheme=short_url_scheme()))
    )


@bp.post("/broadcasts")
@doc(
    "Send a broadcast: one message per contact with their own short URL",
    BroadcastCreate,
    BroadcastCreated,
    201,
)
def create_broadcast() -> Response:
    broadcast, count = sends.create_broadcast(
        org_id(), _request(), g.get("user_id"), scheme=short_url_scheme()
    )
    return respond(
        BroadcastCreated(id=broadcast.id, messages=count, opted_out=broadcast.skipped), 201
    )


@bp.get("/broadcasts")
@doc("The organisation's latest broadcasts", response=BroadcastList)
def list_broadcasts() -> Response:
    found = conversations.list_broadcasts(org_id())
    return respond(BroadcastList(broadcasts=[broadcast_out(b) for b in found]))


@bp.get("/broadcasts/<int:broadcast_id>")
@doc("One broadcast, with its messages counted by status", response=BroadcastOut)
def get_broadcast(broadcast_id: int) -> Response:
    return respond(broadcast_out(conversations.get_broadcast(org_id(), broadcast_id)))


@bp.get("/broadcasts/<int:broadcast_id>/messages")
@doc(
    "A broadcast's messages in id order",
    response=MessageList,
    query=(
        Query("limit", "integer", "at most this many"),
        Query("after", "integer", "message id to start after"),
    ),
)
def broadcast_messages(broadcast_id: int) -> Response:
    """Every message of the broadcast in id order; ``?limit=&after=<message id>`` pages."""
    limit = query_int("limit", None, 1, 100_000)
    after = query_int("after", 0, 0, 2**63 - 1)
    found = conversations.broadcast_messages(org_id(), broadcast_id, limit=limit, after=after)
    return respond(MessageList(messages=[message_out(m) for m in found]))
