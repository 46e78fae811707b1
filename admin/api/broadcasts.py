"""API routes: broadcasts — one message per contact, each with that contact's own short URL."""

from __future__ import annotations

from typing import Any

import msgspec
from flask import Response, g

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.openapi import Query, doc
from admin.api.params import query_int
from admin.appsettings import short_url_scheme
from admin.models import Broadcast, Message
from admin.schemas import from_row
from admin.schemas.sending import (
    BroadcastCanceled,
    BroadcastCreate,
    BroadcastCreated,
    BroadcastList,
    BroadcastOut,
    BroadcastPreview,
    BroadcastResults,
    MessageList,
    MessageOut,
    TestSend,
)
from admin.services import broadcasts, confirmation, conversations, results, sends, sms_provider

# 100,000 contact ids are about 800 kB of JSON.
MAX_BROADCAST_JSON = 8 * 1024 * 1024


def broadcast_out(broadcast: Broadcast) -> BroadcastOut:
    statuses = conversations.status_counts(broadcast.org_id, broadcast.id)
    pending = sum(statuses.get(status, 0) for status in results.PENDING)
    return from_row(
        BroadcastOut,
        broadcast,
        status=results.status_now(broadcast, pending),
        messages=broadcast.total,
        opted_out=broadcast.skipped,
        statuses=statuses,
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
    provider = sms_provider.current(org_id())["provider"]
    preview = confirmation.preview_broadcast(
        org_id(), _request(), scheme=short_url_scheme(), provider=provider
    )
    return respond(msgspec.convert(preview, BroadcastPreview))


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


@bp.post("/broadcasts/test")
@doc(
    "A test send of the broadcast being composed, now, to a chosen contact or a phone",
    TestSend,
    MessageOut,
    201,
)
def test_send() -> Response:
    data = as_changes(read_json(TestSend))
    message_id = broadcasts.test_send(org_id(), data, g.get("user_id"), scheme=short_url_scheme())
    return respond(message_out(conversations.get_message(org_id(), message_id)), 201)


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@doc("Cancel what has not been sent yet", response=BroadcastCanceled)
def cancel_broadcast(broadcast_id: int) -> Response:
    broadcast, count = broadcasts.cancel(org_id(), broadcast_id)
    return respond(BroadcastCanceled(id=broadcast.id, status=broadcast.status, canceled=count))


@bp.get("/broadcasts/<int:broadcast_id>/results")
@doc(
    "Delivered, failed, clicked, click rate, opted out after, replies; follow-up segments",
    response=BroadcastResults,
)
def broadcast_results(broadcast_id: int) -> Response:
    return respond(msgspec.convert(results.results(org_id(), broadcast_id), BroadcastResults))
