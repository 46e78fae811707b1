"""API routes: one-off messages to a contact, the incoming-message simulator, and the
organisation's SMS provider settings."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.broadcasts import message_out
from admin.api.openapi import doc
from admin.appsettings import public_admin_url, short_url_scheme
from admin.providers import settings as provider_settings
from admin.schemas.sending import (
    HelpText,
    InboundCreate,
    InboundOut,
    MessageCreate,
    MessageOut,
    ProviderSettingsIn,
    ProviderSettingsOut,
)
from admin.services import consent, conversations, provider_events, sends, sms_provider
from admin.services.contacts import normalize_phone
from admin.services.errors import NotFound, ValidationError


@bp.post("/messages")
@doc(
    "A team member's message to one contact ({{link}}: their own URL)",
    MessageCreate,
    MessageOut,
    201,
)
def send_message() -> Response:
    """A team member's message: ``{{link}}`` becomes this contact's own short URL."""
    data = as_changes(read_json(MessageCreate))
    message_id = sends.send_to_contact(
        org_id(),
        data["contact_id"],
        data["body"],
        data.get("link_id"),
        user_id=g.get("user_id"),
        scheme=short_url_scheme(),
    )
    return respond(message_out(conversations.get_message(org_id(), message_id)), 201)


@bp.get("/messages/<int:message_id>")
@doc("One message and its delivery status", response=MessageOut)
def get_message(message_id: int) -> Response:
    return respond(message_out(conversations.get_message(org_id(), message_id)))


@bp.post("/messages/inbound")
@doc(
    "Simulate a contact's reply (keywords fire library actions; STOP opts out)",
    InboundCreate,
    InboundOut,
    201,
)
def simulate_inbound() -> Response:
    """An incoming message as a provider's webhook would deliver it (for the outbox provider,
    and for trying keywords): by ``contact_id`` or by the sender's phone ``from``."""
    data = as_changes(read_json(InboundCreate))
    if "contact_id" in data:
        contact = sends.contact_in_org(org_id(), data["contact_id"])
    elif "from" in data:
        found = provider_events.contact_by_phone(org_id(), normalize_phone(data["from"], "from"))
        if found is None:
            raise NotFound("from", "no contact has this phone number")
        contact = found
    else:
        raise ValidationError("contact_id", "give contact_id or from")
    result = provider_events.receive(org_id(), contact, data["body"], scheme=short_url_scheme())
    return respond(
        InboundOut(
            message_id=result.message_id,
            contact_id=result.contact_id,
            reply_message_id=result.reply_message_id,
            library_action_id=result.library_action_id,
            opted_out=contact.opted_out,
        ),
        201,
    )


def provider_view(org_id: int, sms: dict[str, Any]) -> ProviderSettingsOut:
    view = provider_settings.public_view(sms)
    out = ProviderSettingsOut(
        provider=view["provider"],
        account_sid=view.get("account_sid"),
        from_=view.get("from"),
        base_url=view.get("base_url"),
        rate_per_second=view.get("rate_per_second"),
        auth_token_set=view.get("auth_token_set"),
    )
    if sms["provider"] == "twilio":
        base = public_admin_url()
        out.status_callback_url = provider_settings.status_callback_url(base, org_id)
        out.inbound_url = provider_settings.inbound_url(base, org_id)
    return out


@bp.get("/sending/provider")
@doc(
    "The organisation's SMS provider (the auth token is never shown)", response=ProviderSettingsOut
)
def get_provider() -> Response:
    return respond(provider_view(org_id(), sms_provider.current(org_id())))


@bp.put("/sending/provider")
@doc("Choose the SMS provider: outbox (default) or twilio", ProviderSettingsIn, ProviderSettingsOut)
def put_provider() -> Response:
    data = as_changes(read_json(ProviderSettingsIn))
    return respond(provider_view(org_id(), sms_provider.save(org_id(), data)))


@bp.get("/sending/help")
@doc("The organisation's answer to HELP and INFO", response=HelpText)
def get_help_text() -> Response:
    return respond(HelpText(help_text=consent.help_text(org_id())))


@bp.put("/sending/help")
@doc("Set the answer to HELP and INFO (empty: the default naming the organisation)", HelpText, HelpText)
def put_help_text() -> Response:
    data = as_changes(read_json(HelpText))
    return respond(HelpText(help_text=consent.save_help_text(org_id(), data["help_text"])))
