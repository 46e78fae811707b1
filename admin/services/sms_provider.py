"""The organisation's SMS provider settings (outbox or Twilio): read and save.

The rules of the settings themselves (which fields a provider needs, what the public view
shows) live in admin/providers/settings.py; this service loads them from and writes them to
the organisation's ``settings`` column.
"""

from __future__ import annotations

from typing import Any

from admin.extensions import db
from admin.models import Organisation
from admin.providers import settings as provider_settings
from admin.services import audit
from admin.services.errors import NotFound, ValidationError

SECRET = ("auth_token",)  # stored encrypted; the audit log says only that it changed


def _org(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(None, "no such organisation")
    return org


def current(org_id: int) -> dict[str, Any]:
    """The organisation's SMS settings (the outbox when none are saved), secrets included."""
    return provider_settings.of_org(_org(org_id).settings)


def save(org_id: int, data: Any) -> dict[str, Any]:
    """Validate ``data`` against the stored settings (a left-out secret is kept), store and
    commit; returns the saved settings. Raises ValidationError naming the field at fault."""
    org = _org(org_id)
    try:
        sms = provider_settings.validate(data, provider_settings.of_org(org.settings))
    except provider_settings.ProviderSettingsError as exc:
        raise ValidationError(exc.field, exc.message) from None
    before = provider_settings.of_org(org.settings)
    audit.record(org_id, "provider.update", "SMS provider", before=before, after=sms, secrets=SECRET)
    # A new dict, so SQLAlchemy sees the JSONB column change.
    org.settings = {**(org.settings or {}), provider_settings.SETTINGS_KEY: sms}
    db.session.commit()
    return sms
