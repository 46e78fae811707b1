"""API routes: click webhook endpoints of the organisation (register, list, delete, deliveries).

The rules (https only, no private hosts, at most 20 per organisation) and the writes live in
admin/services/webhooks.py. ``WEBHOOK_ALLOW_HTTP_LOOPBACK=1`` (or the app config key of the
same name, as tests set it) lets the service accept ``http://`` on loopback, for local
receivers.
"""

from __future__ import annotations

from flask import Response

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import read_json, respond
from admin.api.openapi import Query, doc
from admin.api.params import query_int
from admin.appsettings import webhook_allow_http_loopback
from admin.schemas import from_row
from admin.schemas.webhooks import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookList,
    WebhookOut,
)
from admin.services import webhooks


@bp.post("/webhooks")
@doc(
    "Register an https endpoint for click webhooks; the answer holds the signing secret, once",
    WebhookCreate,
    WebhookCreated,
    201,
    description="Each human click is POSTed as JSON with the header X-SmartLinks-Signature: "
    "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>; failures are retried "
    "with exponential backoff. Receivers should reject stale timestamps and dedupe on click_id.",
)
def create_webhook() -> Response:
    body = read_json(WebhookCreate)
    description = body.description if isinstance(body.description, str) else ""
    webhook, secret = webhooks.create_webhook(
        org_id(), body.url, description, allow_http_loopback=webhook_allow_http_loopback()
    )
    return respond(
        WebhookCreated(
            webhook.id, webhook.url, webhook.description, webhook.active, webhook.created_at, secret
        ),
        status=201,
    )


@bp.get("/webhooks")
@doc("The organisation's webhook endpoints (without their secrets)", response=WebhookList)
def list_webhooks() -> Response:
    return respond(WebhookList([from_row(WebhookOut, w) for w in webhooks.list_webhooks(org_id())]))


@bp.get("/webhooks/<int:webhook_id>")
@doc("One webhook endpoint", response=WebhookOut)
def get_webhook(webhook_id: int) -> Response:
    return respond(from_row(WebhookOut, webhooks.get_webhook(org_id(), webhook_id)))


@bp.delete("/webhooks/<int:webhook_id>")
@doc("Delete an endpoint and its pending deliveries", status=204)
def delete_webhook(webhook_id: int) -> Response:
    webhooks.delete_webhook(org_id(), webhook_id)
    return Response(status=204)


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@doc(
    "An endpoint's latest deliveries, newest first",
    response=WebhookDeliveryList,
    query=(Query("limit", "integer", "at most this many (1-1000, default 100)"),),
)
def list_deliveries(webhook_id: int) -> Response:
    limit = query_int("limit", 100, 1, 1000)
    found = webhooks.deliveries(org_id(), webhook_id, limit)
    return respond(WebhookDeliveryList([from_row(WebhookDeliveryOut, d) for d in found]))
