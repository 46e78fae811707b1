"""Bodies of the audit log and of a contact's privacy calls (export, retention)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

Changes = Annotated[
    dict[str, Any] | None,
    Meta(description='only the fields that changed; a secret is never shown, only "changed"'),
]


class AuditEventOut(Struct):
    id: int
    at: datetime
    actor: Annotated[str, Meta(description="who: a person's email and how, or a program")]
    actor_user_id: int | None
    kind: Annotated[str, Meta(description="link, domain, team, token, provider, export, ...")]
    action: Annotated[str, Meta(description='e.g. "link.update"')]
    subject: str
    before: Changes
    after: Changes
    detail: dict[str, Any]


class AuditPage(Struct):
    events: list[AuditEventOut]
    next: Annotated[str | None, Meta(description="pass as ?cursor= for older events")]


class ContactExport(Struct):
    """Everything held about one contact."""

    exported_at: str
    contact: dict[str, Any]
    tags: list[str]
    lists: list[str]
    history: list[dict[str, Any]]
    opt_outs: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    clicks: Annotated[
        list[dict[str, Any]], Meta(description="with IP address and user agent while kept")
    ]
    short_codes: list[dict[str, Any]]


RetentionDays = Annotated[int, Meta(ge=1, le=3650)]


class PrivacySettings(Struct):
    click_retention_days: Annotated[
        RetentionDays,
        Meta(description="clicks older than this lose their IP address and user agent"),
    ]
