"""Click webhook endpoints of an organisation: register, list, delete, and their deliveries.

The signing secret is made here and returned once, by ``create_webhook``; it is needed in
clear to sign (HMAC) and is never shown again. Endpoints must be https: a receiver gets contact
data. With ``allow_http_loopback`` (a setting the caller passes) ``http://`` on 127.0.0.1, ::1
and localhost is accepted too, for local receivers. Hosts that are, or resolve to, non-public
addresses are refused otherwise (sync/outbound.py; the delivery worker checks every connection
again), so the feature cannot be pointed at the admin's own network. The secret is stored
encrypted (sync/crypto.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select

from admin.extensions import db
from admin.models import Webhook, WebhookDelivery
from admin.services import audit
from admin.services.errors import ValidationError
from admin.services.lookup import owned
from sync import crypto, outbound

MAX_WEBHOOKS = 20
MAX_URL = 2000
MAX_DESCRIPTION = 200
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


class TooMany(ValidationError):
    """The organisation has as many endpoints as it may."""

    code = "too_many"


def check_url(url: str, allow_http_loopback: bool = False) -> str:
    """The endpoint URL, stripped; raises ValidationError("url") when it may not be used."""
    url = url.strip()
    if not url or len(url) > MAX_URL or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValidationError(
            "url", f"url must be an absolute https URL (at most {MAX_URL} characters)"
        )
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a bad port raises here
    except ValueError:
        raise ValidationError("url", "url is not a valid URL") from None
    if not host:
        raise ValidationError("url", "url needs a host")
    loopback = host in LOOPBACK_HOSTS
    if loopback and allow_http_loopback:
        if parts.scheme not in ("http", "https"):
            raise ValidationError("url", "url must be http(s)")
        return url
    if parts.scheme != "https":
        raise ValidationError("url", "url must use https")
    if loopback:
        raise ValidationError("url", "url must not point at a private or loopback address")
    try:
        # Early feedback only: the name may resolve elsewhere by delivery time.
        extra = outbound.LOOPBACK if allow_http_loopback else ()
        outbound.check_host(host, outbound.Policy.from_env(extra_allow=extra, connect_timeout=2.0))
    except outbound.Blocked:
        raise ValidationError(
            "url", "url must not point at a private or loopback address"
        ) from None
    return url


def create_webhook(
    org_id: int, url: str, description: str = "", *, allow_http_loopback: bool = False
) -> tuple[Webhook, str]:
    """A new endpoint, committed, and its signing secret (shown to the caller once)."""
    url = check_url(url, allow_http_loopback)
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            "description", f"description has at most {MAX_DESCRIPTION} characters"
        )
    count = db.session.scalar(select(func.count()).where(Webhook.org_id == org_id))
    if (count or 0) >= MAX_WEBHOOKS:
        raise TooMany("url", f"an organisation has at most {MAX_WEBHOOKS} webhooks")
    secret = "whsec_" + secrets.token_urlsafe(32)
    stored = crypto.encrypt(secret)  # at rest encrypted; in clear in the answer only
    webhook = Webhook(org_id=org_id, url=url, secret=stored, description=description)
    db.session.add(webhook)
    db.session.flush()
    audit.record(
        org_id,
        "webhook.create",
        url,
        after={"url": url, "description": description, "secret": stored},
        secrets=("secret",),
    )
    db.session.commit()
    return webhook, secret


def list_webhooks(org_id: int) -> list[Webhook]:
    query = select(Webhook).where(Webhook.org_id == org_id).order_by(Webhook.id)
    return list(db.session.scalars(query))


def get_webhook(org_id: int, webhook_id: int) -> Webhook:
    return owned(Webhook, org_id, webhook_id, None, "no such webhook")


def delete_webhook(org_id: int, webhook_id: int) -> None:
    webhook = get_webhook(org_id, webhook_id)
    # Its pending deliveries go with it (ON DELETE CASCADE): nothing is sent after this.
    db.session.execute(delete(Webhook).where(Webhook.id == webhook.id))
    audit.record(
        org_id,
        "webhook.delete",
        webhook.url,
        before={"url": webhook.url, "description": webhook.description},
    )
    db.session.commit()


def deliveries(org_id: int, webhook_id: int, limit: int) -> Sequence[WebhookDelivery]:
    """The endpoint's latest ``limit`` deliveries, newest first."""
    webhook = get_webhook(org_id, webhook_id)
    return db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.org_id == org_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()
