"""API routes: a contact's personal data (erase, export) and the click retention setting."""

from __future__ import annotations

import msgspec
from flask import Response

from admin.api.audit import require_owner
from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import read_json, respond
from admin.api.openapi import doc
from admin.schemas.audit import ContactExport, PrivacySettings
from admin.services import privacy


@bp.delete("/contacts/<int:contact_id>")
@doc(
    "Delete a contact and erase their personal data everywhere",
    status=204,
    description="Their history, messages, codes and memberships go; their clicks stay for the"
    " counts without contact, IP address or user agent; Redis forgets them through sync.",
)
def delete_contact(contact_id: int) -> Response:
    privacy.erase_contact(org_id(), contact_id)
    return Response(status=204)


@bp.get("/contacts/<int:contact_id>/export")
@doc("Everything held about one contact (recorded in the audit log)", response=ContactExport)
def export_contact(contact_id: int) -> Response:
    found = msgspec.convert(privacy.export_contact(org_id(), contact_id), ContactExport)
    return respond(found, headers={"Cache-Control": "no-store"})


@bp.get("/privacy")
@doc("The organisation's privacy settings", response=PrivacySettings)
def privacy_settings() -> Response:
    return respond(PrivacySettings(click_retention_days=privacy.retention_days(org_id())))


@bp.patch("/privacy")
@doc("Change the privacy settings (owners only)", PrivacySettings, PrivacySettings)
def update_privacy_settings() -> Response:
    require_owner()
    body = read_json(PrivacySettings)
    days = privacy.set_retention(org_id(), body.click_retention_days)
    return respond(PrivacySettings(click_retention_days=days))
