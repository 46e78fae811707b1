"""Twilio's Messages API over plain HTTP, and the signature Twilio puts on its callbacks.

POST {base}/2010-04-01/Accounts/{sid}/Messages.json with form fields To, From (or
MessagingServiceSid for an ``MG...`` sender), Body and StatusCallback, with HTTP basic auth
``sid:token``. The base URL is Twilio's own unless the operator allows others
(``SMS_PROVIDER_BASE_URLS``, see settings.py); the HTTP client is sync.outbound's guarded one,
and a message's error shows Twilio's error code and message, never another server's body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from admin.providers.base import OutgoingMessage, ProviderError, Submitted
from sync import outbound

DEFAULT_BASE_URL = "https://api.twilio.com"
BASE_URLS = (DEFAULT_BASE_URL,)  # what an organisation may choose without the operator

# Twilio's message statuses, as ours (see base.STATUS_RANK).
STATUS_MAP = {
    "accepted": "accepted",
    "scheduled": "accepted",
    "queued": "accepted",
    "sending": "accepted",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


class TwilioProvider:
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        http: httpx.Client,
        base_url: str = DEFAULT_BASE_URL,
        rate_per_second: float | None = 1.0,
        status_callback: str | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.rate_per_second = rate_per_second
        self.status_callback = status_callback

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def send(self, message: OutgoingMessage) -> Submitted:
        form = {"To": message.to, "Body": message.body}
        if self.sender.startswith("MG"):
            form["MessagingServiceSid"] = self.sender
        else:
            form["From"] = self.sender
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        try:
            resp = self.http.post(
                self.messages_url, data=form, auth=(self.account_sid, self.auth_token)
            )
        except outbound.Blocked as exc:  # a private address: no retry makes it public
            raise ProviderError(f"twilio {outbound.public_error(exc)}", retryable=False) from None
        except httpx.HTTPError as exc:  # connection refused, timeout, reset: try again later
            # The generic line only: the message's error is shown to the organisation.
            error = outbound.public_error(exc)
            raise ProviderError(f"twilio unreachable: {error}", retryable=True) from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise ProviderError(
                f"twilio answered {resp.status_code}: {_error_text(resp)}",
                retryable=True,
                retry_after=_retry_after(resp),
            )
        if resp.status_code >= 300:
            raise ProviderError(
                f"twilio answered {resp.status_code}: {_error_text(resp)}", retryable=False
            )
        try:
            data = resp.json()
            sid = str(data["sid"])
        except (ValueError, KeyError, TypeError):
            raise ProviderError(
                f"twilio answered {resp.status_code} without a message sid", retryable=False
            ) from None
        return Submitted(
            provider_message_id=sid, status=STATUS_MAP.get(str(data.get("status")), "accepted")
        )


    def lookup(self, message: OutgoingMessage) -> Submitted | None:
        """The message as Twilio has it, found among the newest messages to the same number by
        its sender and exact body (each contact's body carries their own short URL), created
        no earlier than our claim; None when Twilio never got it."""
        params = {"To": message.to, "PageSize": "50"}
        try:
            resp = self.http.get(
                self.messages_url, params=params, auth=(self.account_sid, self.auth_token)
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"twilio unreachable: {exc!r}", retryable=True) from None
        if resp.status_code >= 300:
            raise ProviderError(
                f"twilio answered {resp.status_code}: {_error_text(resp)}", retryable=True
            )
        try:
            found = resp.json().get("messages") or []
        except (ValueError, AttributeError):
            raise ProviderError("twilio answered a list that is not JSON", retryable=True) from None
        for item in found:
            if not isinstance(item, dict) or item.get("body") != message.body:
                continue
            ours = item.get("messaging_service_sid") if self.sender.startswith("MG") else None
            if (ours or item.get("from")) != self.sender:
                continue
            created = _created(item.get("date_created"))
            if message.claimed_at is not None and created is not None and (
                created < message.claimed_at - CLOCK_SLACK
            ):
                continue  # an older message with the same text: not this one
            return Submitted(
                provider_message_id=str(item.get("sid")),
                status=STATUS_MAP.get(str(item.get("status")), "accepted"),
            )
        return None


CLOCK_SLACK = timedelta(minutes=5)  # our clock and Twilio's may differ a little


def _created(value: object) -> datetime | None:
    """Twilio's ``date_created`` (RFC 2822, e.g. "Tue, 01 Dec 2026 15:12:00 +0000")."""
    if not isinstance(value, str):
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _error_text(resp: httpx.Response) -> str:
    """Twilio's error (a numeric code and its message), or nothing: another server's body is
    not for the organisation to read (it could be an internal page)."""
    try:
        data = resp.json()
    except ValueError:
        return "(no Twilio error)"
    code = data.get("code") if isinstance(data, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        return "(no Twilio error)"
    message = data.get("message")
    text = f"{code} {message if isinstance(message, str) else ''}".strip()
    return "".join(ch for ch in text if ch.isprintable())[:200]


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each POST parameter's name
    and value, sorted by name (a repeated name: its values in sorted order)."""
    payload = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(
    auth_token: str, urls: Iterable[str], params: Iterable[tuple[str, str]], given: str
) -> bool:
    """True when ``given`` signs the parameters for one of ``urls`` (the URL as we published
    it, and as this request reached us behind whatever proxy)."""
    items = list(params)
    return bool(given) and any(
        hmac.compare_digest(signature(auth_token, url, items), given) for url in urls
    )
