"""An organisation's SMS provider, kept in ``organisations.settings["sms"]``.

``{"provider": "outbox"}`` (the default) or ``{"provider": "twilio", "account_sid": "AC...",
"auth_token": "...", "from": "+1555..." or "MG...", "base_url"?: "https://api.twilio.com",
"rate_per_second"?: 1}``. The auth token is write-only (``public_view`` never shows it) and
stored encrypted (sync.crypto).
``base_url`` is one of the provider's own (``twilio.BASE_URLS``) unless the operator lists
others in ``SMS_PROVIDER_BASE_URLS`` (``*``: any), so that an organisation cannot aim our
server at an address of its choosing.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from admin.errors import BadValue
from admin.providers.base import OutgoingMessage, Provider, ProviderError, Submitted
from admin.providers.outbox import OutboxProvider
from admin.providers.twilio import BASE_URLS, DEFAULT_BASE_URL, TwilioProvider
from core import config
from sync import crypto

SETTINGS_KEY = "sms"
PROVIDERS = ("outbox", "twilio")
_SID = re.compile(r"^AC[0-9a-zA-Z]{8,40}$")
_SENDER = re.compile(r"^(\+[1-9][0-9]{6,14}|MG[0-9a-zA-Z]{8,40}|[A-Za-z0-9 ]{1,11})$")


class ProviderSettingsError(BadValue):
    """Provider settings that cannot be used; ``field`` names the setting at fault."""


def validate(data: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings to store for ``data``; an omitted auth token keeps the current one."""
    if not isinstance(data, dict):
        raise ProviderSettingsError("provider", "send an object")
    name = data.get("provider", "outbox")
    if name not in PROVIDERS:
        raise ProviderSettingsError("provider", f"provider must be one of {', '.join(PROVIDERS)}")
    if name == "outbox":
        return {"provider": "outbox"}
    current = current or {}
    sid = str(data.get("account_sid") or "").strip()
    if not _SID.match(sid):
        raise ProviderSettingsError(
            "account_sid", "account_sid must look like AC followed by letters and digits"
        )
    token = str(data.get("auth_token") or "").strip()
    stored = ""
    if not token and current.get("account_sid") == sid:
        stored = str(current.get("auth_token") or "")  # kept as stored (encrypted)
    if not token and not stored:
        raise ProviderSettingsError("auth_token", "auth_token is required")
    if token and (not token.isprintable() or len(token) > 200):
        raise ProviderSettingsError("auth_token", "auth_token must be printable text")
    sender = str(data.get("from") or "").strip()
    if not _SENDER.match(sender):
        raise ProviderSettingsError(
            "from", "from must be an E.164 number (+15551234567) or a messaging service (MG...)"
        )
    base_url = str(data.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
    if not base_url.isprintable() or not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", base_url):
        raise ProviderSettingsError("base_url", "base_url must be an http(s) URL")
    if not base_url_allowed(base_url):
        raise ProviderSettingsError(
            "base_url", f"base_url must be {' or '.join(BASE_URLS)} (the operator may allow others)"
        )
    rate = data.get("rate_per_second", 1)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1000:
        raise ProviderSettingsError(
            "rate_per_second", "rate_per_second must be a number from 0 to 1000"
        )
    return {
        "provider": "twilio",
        "account_sid": sid,
        "auth_token": crypto.encrypt(token) if token else stored,
        "from": sender,
        "base_url": base_url,
        "rate_per_second": float(rate),
    }


def base_url_allowed(base_url: str) -> bool:
    allowed = config.load().sms_provider_base_urls  # now: an operator's change needs no restart
    extra = [u.strip().rstrip("/") for u in allowed.split(",")]
    return base_url in BASE_URLS or "*" in extra or base_url in extra


def auth_token(sms: dict[str, Any]) -> str:
    """The provider's auth token in clear (stored encrypted: sync.crypto)."""
    return crypto.decrypt(str(sms.get("auth_token") or ""))


def of_org(org_settings: dict[str, Any] | None) -> dict[str, Any]:
    sms = (org_settings or {}).get(SETTINGS_KEY)
    return (
        sms
        if isinstance(sms, dict) and sms.get("provider") in PROVIDERS
        else {"provider": "outbox"}
    )


def public_view(sms: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in sms.items() if k != "auth_token"}
    if sms.get("provider") == "twilio":
        view["auth_token_set"] = bool(sms.get("auth_token"))
    return view


def status_callback_url(public_admin_url: str, org_id: int) -> str:
    return f"{public_admin_url.rstrip('/')}/api/v1/providers/twilio/{org_id}/status"


def inbound_url(public_admin_url: str, org_id: int) -> str:
    return f"{public_admin_url.rstrip('/')}/api/v1/providers/twilio/{org_id}/inbound"


class Unreadable:
    """A provider whose stored auth token no key decrypts: its messages wait (retried) until
    the operator puts the key back into SECRETS_KEY."""

    name = "twilio"
    rate_per_second: float | None = None

    def send(self, message: OutgoingMessage) -> Submitted:
        raise ProviderError("the provider's auth token is unreadable (server keys)", retryable=True)

    def lookup(self, message: OutgoingMessage) -> Submitted | None:
        # Whether the provider got it cannot be asked without the token: wait, like send().
        raise ProviderError("the provider's auth token is unreadable (server keys)", retryable=True)


def build(
    sms: dict[str, Any], *, http: httpx.Client, public_admin_url: str, org_id: int
) -> Provider:
    if sms.get("provider") != "twilio":
        return OutboxProvider()
    base_url = str(sms.get("base_url") or DEFAULT_BASE_URL)
    try:
        token = auth_token(sms)
    except crypto.SecretUnreadable:
        return Unreadable()
    return TwilioProvider(
        account_sid=sms["account_sid"],
        auth_token=token,
        sender=sms["from"],
        http=http,
        # One saved before the operator's list (or since removed from it) is not used.
        base_url=base_url if base_url_allowed(base_url) else DEFAULT_BASE_URL,
        rate_per_second=float(sms.get("rate_per_second") or 1.0),
        status_callback=status_callback_url(public_admin_url, org_id),
    )
