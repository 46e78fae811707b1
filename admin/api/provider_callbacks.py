"""Provider webhooks (public: no bearer token; Twilio signs each request instead).

- ``POST /api/v1/providers/twilio/<org_id>/status``: a delivery status (MessageSid,
  MessageStatus, ErrorCode) updates that message.
- ``POST /api/v1/providers/twilio/<org_id>/inbound``: a contact's reply (From, Body,
  MessageSid) goes into their history and may fire a library action by keyword.

X-Twilio-Signature is the base64 HMAC-SHA1, keyed with the organisation's auth token, of the
URL Twilio posted to followed by the sorted form parameters; a request without a valid one is
refused with 403 and changes nothing.
"""

from __future__ import annotations

import logging

from flask import Response, request

from admin.api import auth
from admin.api.blueprint import bp
from admin.api.errors import ApiError
from admin.api.openapi import doc
from admin.appsettings import public_admin_url, short_url_scheme
from admin.providers import settings as provider_settings
from admin.providers import twilio
from admin.services import provider_events, sms_provider
from admin.services.contacts import normalize_phone
from admin.services.errors import NotFound, ValidationError
from core import logs

log = logging.getLogger(__name__)

auth.PUBLIC_ENDPOINTS.update({"api.twilio_status", "api.twilio_inbound"})

FORM = {
    "application/x-www-form-urlencoded": {
        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
    }
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified_form(org_id: int, which: str) -> dict[str, str]:
    """The form of a request Twilio signed for this organisation; else 403 (or 404)."""
    try:
        sms = sms_provider.current(org_id)
    except NotFound:
        sms = provider_settings.of_org(None)  # no such organisation: like one without Twilio
    if sms["provider"] != "twilio":
        raise ApiError(404, "not_found", "no Twilio account is set up here")
    published = (
        provider_settings.status_callback_url
        if which == "status"
        else provider_settings.inbound_url
    )(public_admin_url(), org_id)
    params = list(request.form.items(multi=True))
    given = request.headers.get("X-Twilio-Signature", "")
    token = provider_settings.auth_token(sms)
    if not twilio.signature_valid(token, {published, request.url}, params, given):
        raise ApiError(403, "bad_signature", "X-Twilio-Signature does not match this request")
    if request.form.get("AccountSid", sms["account_sid"]) != sms["account_sid"]:
        raise ApiError(403, "wrong_account", "the request is for another Twilio account")
    # Signed, yet still stored as Postgres text: no NUL, and a message SID that fits its
    # column (Twilio's are 34 characters).
    form = {key: value.replace("\x00", "") for key, value in request.form.to_dict().items()}
    for key in ("MessageSid", "SmsSid"):
        if len(form.get(key, "")) > 64:
            raise ValidationError(key, f"{key} is longer than 64 characters")
    return form


@bp.post("/providers/twilio/<int:org_id>/status")
@doc(
    "Twilio delivery-status callback (signed with X-Twilio-Signature)",
    status=204,
    request_media=FORM,
)
def twilio_status(org_id: int) -> Response:
    form = _verified_form(org_id, "status")
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    twilio_state = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    status = twilio.STATUS_MAP.get(twilio_state)
    if not sid or status is None:
        raise ValidationError("MessageStatus", "MessageSid and a known MessageStatus are needed")
    error = f"twilio error {form['ErrorCode']}" if form.get("ErrorCode") else ""
    provider_events.delivery_status(org_id, sid, status, error)
    # 204 even for an unknown sid: Twilio cannot do anything better with an error.
    return Response(status=204)


@bp.post("/providers/twilio/<int:org_id>/inbound")
@doc(
    "Twilio incoming-message webhook (signed with X-Twilio-Signature)",
    request_media=FORM,
    response_media={"text/xml": {"schema": {"type": "string"}}},
)
def twilio_inbound(org_id: int) -> Response:
    form = _verified_form(org_id, "inbound")
    try:
        phone = normalize_phone(form.get("From", ""), "From")
    except ValidationError:
        phone = ""
    contact = provider_events.contact_by_phone(org_id, phone) if phone else None
    if contact is None:
        logs.event(log, "reply from a number that is no contact", org_id=org_id)
    else:
        provider_events.receive(
            org_id,
            contact,
            form.get("Body", ""),
            provider="twilio",
            provider_message_id=form.get("MessageSid") or None,
            scheme=short_url_scheme(),
        )
    # An empty TwiML answer: replies go out through the sender like every other message.
    return Response(EMPTY_TWIML, status=200, mimetype="text/xml")
