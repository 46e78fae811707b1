"""Request and response bodies of the sending calls (broadcasts, messages, library actions,
provider settings), in the style of admin/schemas/resources.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

BODY_HELP = (
    "plain text; {{link}} is the contact's own short URL; {{first_name}}, {{last_name}}, "
    "{{phone}}, {{email}}, {{fields.NAME}} (each with an optional |default) are merged as text"
)


class FollowUp(Struct):
    broadcast_id: int
    segment: Annotated[
        Literal["clicked", "did_not_click", "replied"],
        Meta(description="who of that broadcast's recipients to send to"),
    ]


class BroadcastCreate(Struct):
    body: Annotated[str, Meta(description=BODY_HELP)]
    link_id: Annotated[int | None | UnsetType, Meta(description="required with {{link}}")] = UNSET
    contact_ids: list[int] | UnsetType = UNSET
    list_: Annotated[str | UnsetType, Meta(description="a contact list's name")] = field(
        name="list", default=UNSET
    )
    tag: Annotated[str | UnsetType, Meta(description="a tag's name")] = UNSET
    follow_up: Annotated[
        FollowUp | UnsetType, Meta(description="a segment of an earlier broadcast as recipients")
    ] = UNSET
    send_at: Annotated[
        datetime | None | UnsetType,
        Meta(description="RFC 3339 with an offset: send then (omitted: now)"),
    ] = UNSET
    quiet_hours: Annotated[
        bool | UnsetType,
        Meta(description="default true: hold each message until 8:00-21:00 in the recipient's "
             "time zone (their time_zone field, else their area code)"),
    ] = UNSET  # fmt: skip
    source: Annotated[
        str | UnsetType,
        Meta(description="your refcode or label for this broadcast (at most 64 characters)"),
    ] = UNSET


class TestSend(Struct):
    body: Annotated[str, Meta(description=BODY_HELP)]
    link_id: int | None | UnsetType = UNSET
    contact_id: Annotated[int | UnsetType, Meta(description="a chosen contact")] = UNSET
    phone: Annotated[str | UnsetType, Meta(description="or a phone (e.g. your own)")] = UNSET
    source: Annotated[
        str | UnsetType,
        Meta(description="the broadcast's refcode, which the test's link carries"),
    ] = UNSET


class BroadcastCanceled(Struct):
    id: int
    status: str
    canceled: Annotated[int, Meta(description="messages that will not be sent")]


class FollowUpRef(Struct):
    follow_up: FollowUp


class BroadcastResults(Struct):
    broadcast_id: int
    status: str
    messages: int
    sent: Annotated[int, Meta(description="handed to the provider (accepted, sent, delivered)")]
    delivered: int
    failed: Annotated[int, Meta(description="failed or undelivered")]
    pending: Annotated[int, Meta(description="queued, scheduled, held or sending")]
    canceled: int
    dropped_opted_out: Annotated[int, Meta(description="not sent: opted out before their turn")]
    clicked: Annotated[int, Meta(description="recipients who clicked since (unique)")]
    click_rate: Annotated[float, Meta(description="clicked / sent")]
    opted_out_after: int
    replied: Annotated[int, Meta(description="recipients who replied since")]
    segments: Annotated[
        dict[str, FollowUpRef],
        Meta(description="each segment as the body part of a follow-up broadcast"),
    ]


class CostEstimate(Struct):
    currency: str
    provider: Annotated[str, Meta(description="the provider in use")]
    per_provider: dict[str, float]
    note: str


class BroadcastCreated(Struct):
    id: int
    messages: Annotated[int, Meta(description="one per contact who has not opted out")]
    opted_out: Annotated[int, Meta(description="contacts skipped because they opted out")]


class BroadcastPreview(Struct):
    recipients: int
    opted_out: Annotated[int, Meta(description="left out: opted out")]
    unreachable: Annotated[int, Meta(description="left out: their latest message failed")]
    segments: Annotated[int, Meta(description="parts per message (the longest message)")]
    segments_min: int
    segments_total: Annotated[int, Meta(description="parts over all recipients")]
    encoding: Literal["GSM-7", "UCS-2"]
    characters: Annotated[int, Meta(description="septets (GSM-7) or UTF-16 units (UCS-2)")]
    sample: Annotated[str, Meta(description="the first recipient's message")]
    cost: CostEstimate
    send_at: datetime | None
    quiet_hours: bool
    held_by_quiet_hours: Annotated[int, Meta(description="messages held until 8:00 local")]
    warnings: Annotated[
        list[str],
        Meta(description="compliance lint: first contact without the organisation's name or "
             "opt-out words, a link on an unverified domain or a public shortener"),
    ]  # fmt: skip


class BroadcastOut(Struct):
    id: int
    body: str
    link_id: int | None
    audience: dict[str, Any]
    status: Annotated[
        str,
        Meta(description="queued, scheduled, canceled, or done once nothing is left to send "
             "(as its results say)"),
    ]  # fmt: skip
    source: Annotated[str, Meta(description="the refcode or label given when it was sent")]
    send_at: datetime | None
    quiet_hours: bool
    messages: int
    opted_out: int
    statuses: Annotated[dict[str, int], Meta(description="number of messages in each status")]
    created_at: datetime


class BroadcastList(Struct):
    broadcasts: list[BroadcastOut]


class MessageOut(Struct):
    id: int
    contact_id: int
    to: str
    body: str
    status: Annotated[
        str,
        Meta(
            description="queued, sending, accepted (by the provider), sent, delivered, "
            "undelivered, failed; received for an incoming message"
        ),
    ]
    direction: Literal["out", "in"]
    segments: int
    encoding: str
    provider: str
    error: str
    broadcast_id: int | None
    library_action_id: int | None
    link_id: int | None
    created_at: datetime
    sent_at: datetime | None


class MessageList(Struct):
    messages: list[MessageOut]


class MessageCreate(Struct):
    contact_id: int
    body: Annotated[str, Meta(description=BODY_HELP)]
    link_id: int | None | UnsetType = UNSET


class InboundCreate(Struct):
    body: str
    contact_id: int | UnsetType = UNSET
    from_: Annotated[str | UnsetType, Meta(description="the sender's phone number")] = field(
        name="from", default=UNSET
    )


class InboundOut(Struct):
    message_id: int
    contact_id: int
    reply_message_id: Annotated[int | None, Meta(description="a fired library action's message")]
    library_action_id: int | None
    opted_out: bool


class LibraryActionCreate(Struct):
    name: str
    body: Annotated[str, Meta(description=BODY_HELP)]
    link_id: int | None | UnsetType = UNSET
    keyword: Annotated[
        str | None | UnsetType,
        Meta(description="a reply that is exactly this word (any case) fires the action"),
    ] = UNSET


class LibraryActionUpdate(Struct):
    name: str | UnsetType = UNSET
    body: str | UnsetType = UNSET
    link_id: int | None | UnsetType = UNSET
    keyword: str | None | UnsetType = UNSET


class LibraryActionOut(Struct):
    id: int
    name: str
    body: str
    link_id: int | None
    keyword: str | None
    created_at: datetime


class LibraryActionList(Struct):
    actions: list[LibraryActionOut]


class LibrarySend(Struct):
    contact_id: int


class ProviderSettingsIn(Struct):
    provider: Literal["outbox", "twilio"]
    account_sid: str | UnsetType = UNSET
    auth_token: Annotated[
        str | UnsetType, Meta(description="write-only; left out: keep the stored one")
    ] = UNSET
    from_: Annotated[str | UnsetType, Meta(description="E.164 number or MG... service")] = field(
        name="from", default=UNSET
    )
    base_url: str | UnsetType = UNSET
    rate_per_second: float | UnsetType = UNSET


class ProviderSettingsOut(Struct, omit_defaults=True):
    provider: str
    account_sid: str | None = None
    from_: str | None = field(name="from", default=None)
    base_url: str | None = None
    rate_per_second: float | None = None
    auth_token_set: bool | None = None
    status_callback_url: str | None = None
    inbound_url: str | None = None


class HelpText(Struct):
    help_text: Annotated[
        str,
        Meta(description="the answer to HELP and INFO (at most 320 characters; \"\": default)"),
    ]


class LinkPreset(Struct):
    label: str
    base: Annotated[str, Meta(description="an example page: replace its your-... blanks")]
    params: Annotated[dict[str, str], Meta(description="query parameters the preset adds")]


class LinkPresets(Struct):
    presets: Annotated[
        dict[str, LinkPreset],
        Meta(description='by name, for "preset" in POST /api/v1/links and PATCH'),
    ]
