"""`smartlinks secrets rotate`: every stored secret (webhook signing secrets, SMS provider
auth tokens) re-encrypted with the first key of SECRETS_KEY, plain ones encrypted for the
first time. One transaction, rows locked, so a secret saved meanwhile is not lost."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from admin.extensions import db
from admin.models import Organisation, Webhook
from admin.providers import settings as provider_settings
from sync import crypto


@dataclass(frozen=True)
class Rotated:
    webhooks: int
    providers: int


def rotate_all() -> Rotated:
    webhooks = 0
    for webhook in db.session.scalars(select(Webhook).order_by(Webhook.id).with_for_update()):
        webhook.secret = crypto.rotate(webhook.secret)
        webhooks += 1
    providers = 0
    for org in db.session.scalars(
        select(Organisation).order_by(Organisation.id).with_for_update()
    ):
        sms = dict((org.settings or {}).get(provider_settings.SETTINGS_KEY) or {})
        if not sms.get("auth_token"):
            continue
        sms["auth_token"] = crypto.rotate(str(sms["auth_token"]))
        org.settings = {**org.settings, provider_settings.SETTINGS_KEY: sms}
        providers += 1
    db.session.commit()
    return Rotated(webhooks, providers)
