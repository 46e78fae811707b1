"""Bodies of the click webhook calls (register, list, deliveries)."""

from __future__ import annotations

from datetime import datetime

from msgspec import UNSET, Struct, UnsetType


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
