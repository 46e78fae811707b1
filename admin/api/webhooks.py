"""API routes: click webhook endpoints of the organisation (register, list, delete, deliveries).

The signing secret is returned once, by the POST that creates the endpoint; it is needed in
clear to sign (HMAC) and is never shown again. Endpoints must be https: a receiver gets contact
data. ``WEBHOOK_ALLOW_HTTP_LOOPBACK=1`` (or the app config key of the same name, as tests set
it) also accepts ``http://`` on 127.0.0.1, ::1 and localhost, for local receivers. Hosts that
are, or resolve to, non-public addresses are refused otherwise (sync.outbound), so the feature
cannot be pointed at the admin's own network.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlsplit

from flask import Response, current_app, request
from msgspec import UNSET, Struct, UnsetType
from sqlalchemy import delete, func, select

from admin.api import bp
from admin.api.auth import org_id
from admin.api.errors import ApiError, not_found
from admin.api.openapi import Query, doc
from admin.api.schemas import read_json, respond
from admin.extensions import db
from admin.models import Webhook, WebhookDelivery
from sync import crypto, outbound

MAX_WEBHOOKS = 20
MAX_URL = 2000
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


class WebhookCreate(Struct):
    url: str
    description: str | UnsetType = UNSET


class WebhookOut(Struct):
    id: int
    url: str
    description: str
    active: bool
    created_at: datetime


class WebhookCreated(Struct):
    id: int
    url: str
    description: str
    active: bool
    created_at: datetime
    secret: str  # shown once: sign-check X-SmartLinks-Signature with it


class WebhookList(Struct):
    webhooks: list[WebhookOut]


class WebhookDeliveryOut(Struct):
    id: int
    click_id: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str
    next_attempt_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryList(Struct):
    deliveries: list[WebhookDeliveryOut]


def _loopback_allowed() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"])


def check_url(url: str) -> str:
    url = url.strip()
    if not url or len(url) > MAX_URL or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ApiError(
            422,
            "invalid",
            f"url must be an absolute https URL (at most {MAX_URL} characters)",
            "url",
        )
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a bad port raises here
    except ValueError:
        raise ApiError(422, "invalid", "url is not a valid URL", "url") from None
    if not host:
        raise ApiError(422, "invalid", "url needs a host", "url")
    loopback = host in LOOPBACK_HOSTS
    if loopback and _loopback_allowed():
        if parts.scheme not in ("http", "https"):
            raise ApiError(422, "invalid", "url must be http(s)", "url")
        return url
    if parts.scheme != "https":
        raise ApiError(422, "invalid", "url must use https", "url")
    if loopback:
        raise ApiError(422, "invalid", "url must not point at a private or loopback address", "url")
    try:
        # Early feedback only: the delivery worker checks every connection again (the name
        # may resolve elsewhere by then).
        extra = outbound.LOOPBACK if _loopback_allowed() else ()
        policy = outbound.Policy.from_env(extra_allow=extra, connect_timeout=2.0)
        outbound.check_host(host, policy)
    except outbound.Blocked:
        raise ApiError(
            422, "invalid", "url must not point at a private or loopback address", "url"
        ) from None
    return url


def _out(w: Webhook) -> WebhookOut:
    return WebhookOut(w.id, w.url, w.description, w.active, w.created_at)


def _webhook(webhook_id: int) -> Webhook:
    found = db.session.scalar(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.org_id == org_id())
    )
    if found is None:
        raise not_found("webhook")
    return found


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
    url = check_url(body.url)
    description = body.description if isinstance(body.description, str) else ""
    if len(description) > 200:
        raise ApiError(422, "invalid", "description has at most 200 characters", "description")
    count = db.session.scalar(select(func.count()).where(Webhook.org_id == org_id()))
    if (count or 0) >= MAX_WEBHOOKS:
        raise ApiError(
            422, "too_many", f"an organisation has at most {MAX_WEBHOOKS} webhooks", "url"
        )
    secret = "whsec_" + secrets.token_urlsafe(32)
    stored = crypto.encrypt(secret)  # at rest encrypted; in clear in this answer only
    webhook = Webhook(org_id=org_id(), url=url, secret=stored, description=description)
    db.session.add(webhook)
    db.session.commit()
    return respond(
        WebhookCreated(
            webhook.id, webhook.url, webhook.description, webhook.active, webhook.created_at, secret
        ),
        status=201,
    )


@bp.get("/webhooks")
@doc("The organisation's webhook endpoints (without their secrets)", response=WebhookList)
def list_webhooks() -> Response:
    rows = db.session.scalars(
        select(Webhook).where(Webhook.org_id == org_id()).order_by(Webhook.id)
    ).all()
    return respond(WebhookList([_out(w) for w in rows]))


@bp.get("/webhooks/<int:webhook_id>")
@doc("One webhook endpoint", response=WebhookOut)
def get_webhook(webhook_id: int) -> Response:
    return respond(_out(_webhook(webhook_id)))


@bp.delete("/webhooks/<int:webhook_id>")
@doc("Delete an endpoint and its pending deliveries", status=204)
def delete_webhook(webhook_id: int) -> Response:
    webhook = _webhook(webhook_id)
    # Its pending deliveries go with it (ON DELETE CASCADE): nothing is sent after this.
    db.session.execute(delete(Webhook).where(Webhook.id == webhook.id))
    db.session.commit()
    return Response(status=204)


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@doc(
    "An endpoint's latest deliveries, newest first",
    response=WebhookDeliveryList,
    query=(Query("limit", "integer", "at most this many (1-1000, default 100)"),),
)
def list_deliveries(webhook_id: int) -> Response:
    webhook = _webhook(webhook_id)
    raw = request.args.get("limit", "100")
    if not raw.isdecimal() or not 1 <= int(raw) <= 1000:
        raise ApiError(400, "invalid", "limit must be between 1 and 1000", "limit")
    rows = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.org_id == org_id())
        .order_by(WebhookDelivery.id.desc())
        .limit(int(raw))
    ).all()
    return respond(
        WebhookDeliveryList(
            [
                WebhookDeliveryOut(
                    d.id,
                    d.click_id,
                    d.status,
                    d.attempts,
                    d.last_status,
                    d.last_error,
                    d.next_attempt_at,
                    d.delivered_at,
                )
                for d in rows
            ]
        )
    )
