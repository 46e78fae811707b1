"""Request and response bodies of the JSON API's resources (domains, contacts, links, tags
and lists, imports) and of its errors, as msgspec Structs.

The same Structs decode (and so validate the shape of) requests (admin/api/bodies.py), encode
answers, and generate the OpenAPI document (admin/api/openapi.py), so the document cannot drift
from the code. Rules that need the database or more than a type (hostnames, phones,
destinations) live in admin/services; a Struct only says which fields exist and their JSON types.

A field typed ``X | UnsetType`` may be left out; for a PATCH, left out means "unchanged".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

from core.actions import Action

FieldValue = str | int | float | None


# ---- requests -------------------------------------------------------------------------------


class DomainCreate(Struct):
    hostname: Annotated[str, Meta(description="e.g. go.example.org; stored lowercase, IDNA")]
    fallback_url: Annotated[
        str | None | UnsetType,
        Meta(description="where an unknown code or archived link on this domain goes"),
    ] = UNSET


class DomainUpdate(Struct):
    fallback_url: str | None | UnsetType = UNSET


class ContactCreate(Struct):
    phone: Annotated[str, Meta(description="E.164, or a US number without +1")]
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    fields: Annotated[
        dict[str, FieldValue] | UnsetType,
        Meta(description="custom fields, merged as {{fields.NAME}}"),
    ] = UNSET
    opted_out: bool | UnsetType = UNSET


class ContactUpdate(Struct):
    phone: str | UnsetType = UNSET
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    fields: Annotated[
        dict[str, FieldValue] | UnsetType,
        Meta(description="merged into the stored fields; a null value removes that field"),
    ] = UNSET
    opted_out: bool | UnsetType = UNSET


class Preview(Struct):
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    image_url: str | UnsetType = UNSET


Expiry = Annotated[
    datetime,
    Meta(
        tz=True,
        description="RFC 3339 date-time with an offset; after it the link's URLs answer the "
        "domain's fallback (302) or 410, and no click is recorded; null: never",
    ),
]
Folder = Annotated[str, Meta(max_length=100, description="a folder to group links; '' for none")]


ALLOW_REDIRECTS = (
    "an owner's override: allow a destination that redirects to another host (audited)"
)
PRESET = "add a CRM or donation page's attribution parameters: GET /api/v1/links/presets"


class LinkCreate(Struct):
    destination: Annotated[
        str,
        Meta(
            description="absolute http(s) URL; {{first_name}}, {{last_name}}, {{phone}}, "
            "{{email}}, {{contact_id}}, {{source}} (the broadcast's refcode), {{fields.NAME}} "
            "(each with an optional |default) in the path, query and fragment"
        ),
    ]
    domain: Annotated[str, Meta(description="hostname of one of the organisation's domains")]
    name: str | UnsetType = UNSET
    extension: Annotated[
        str | None | UnsetType, Meta(description="[A-Za-z0-9_-]{1,64}, shown after the code")
    ] = UNSET
    preview: Preview | UnsetType = UNSET
    actions: Annotated[
        list[Action] | UnsetType,
        Meta(description='omitted: [{"type": "whisper"}]; [] means no actions'),
    ] = UNSET
    allow_shortener: Annotated[
        bool | UnsetType,
        Meta(description="an owner's override: allow a public shortener as the destination"),
    ] = UNSET
    allow_redirects: Annotated[
        bool | UnsetType, Meta(description=ALLOW_REDIRECTS)
    ] = UNSET  # fmt: skip
    preset: Annotated[str | UnsetType, Meta(description=PRESET)] = UNSET
    expires_at: Expiry | None | UnsetType = UNSET
    folder: Folder | UnsetType = UNSET


class LinkUpdate(Struct):
    destination: str | UnsetType = UNSET
    domain: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    extension: str | None | UnsetType = UNSET
    preview: Preview | UnsetType = UNSET
    actions: list[Action] | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    expires_at: Expiry | None | UnsetType = UNSET
    folder: Folder | UnsetType = UNSET
    allow_shortener: bool | UnsetType = UNSET
    allow_redirects: bool | UnsetType = UNSET
    preset: str | UnsetType = UNSET


class IssueRequest(Struct):
    contact_ids: Annotated[list[int], Meta(description="the organisation's contact ids")]


TagOrListName = Annotated[
    str, Meta(description="1-100 characters, case-sensitive; surrounding spaces are dropped")
]


class TagChange(Struct):
    tag: TagOrListName


class ListChange(Struct):
    list_: TagOrListName = field(name="list")


class ListCreate(Struct):
    name: TagOrListName


class ListUpdate(Struct):
    name: TagOrListName


# ---- responses ------------------------------------------------------------------------------


class ErrorBody(Struct, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(Struct):
    error: ErrorBody


class ContactOut(Struct):
    id: int
    phone: str
    first_name: str
    last_name: str
    email: str
    fields: dict[str, str]
    tags: list[str]
    lists: list[str]
    opted_out: bool
    created_at: datetime
    updated_at: datetime


class ContactPage(Struct):
    contacts: list[ContactOut]
    next_after: Annotated[
        int | None, Meta(description="pass as ?after= for the next page; null on the last")
    ]


class HistoryEventOut(Struct):
    type: str
    text: str
    at: datetime
    link_id: int | None


class History(Struct):
    events: Annotated[list[HistoryEventOut], Meta(description="oldest first, newest last")]


class PreviewOut(Struct):
    title: str
    description: str
    image_url: str


class LinkOut(Struct):
    id: int
    name: str
    destination: str
    domain: str
    extension: str
    preview: PreviewOut
    actions: list[Action]
    archived: bool
    url: Annotated[str, Meta(description="the link's generic short URL (no contact)")]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    folder: str = ""
    warnings: Annotated[
        list[str], Meta(description="advice on a saved destination (create and update only)")
    ] = []


class LinkList(Struct):
    links: list[LinkOut]


class TagOut(Struct):
    id: int
    name: str
    contacts: Annotated[int, Meta(description="how many contacts have the tag")]


class TagList(Struct):
    tags: Annotated[list[TagOut], Meta(description="by name")]


class ListOut(Struct):
    id: int
    name: str
    contacts: Annotated[int, Meta(description="how many contacts are on the list")]


class ListList(Struct):
    lists: Annotated[list[ListOut], Meta(description="by name")]


class IssuedUrl(Struct):
    contact_id: int
    url: str


class IssueResult(Struct):
    urls: Annotated[list[IssuedUrl], Meta(description="in the order of contact_ids")]


class ImportRowError(Struct, omit_defaults=True):
    line: Annotated[int, Meta(description="line in the file; the header is line 1")]
    message: str
    field: str | None = None
    kept: Annotated[
        bool, Meta(description="true: the row was imported without the bad cell")
    ] = False


class ImportJobOut(Struct):
    id: int
    status: Literal["queued", "running", "done", "failed"]
    filename: str
    total_rows: int
    processed_rows: int
    imported_rows: int
    failed_rows: int
    errors: Annotated[list[ImportRowError], Meta(description="bad rows (the first 1,000)")]
    url: Annotated[str, Meta(description="poll this URL for progress")]
    created_at: datetime
    finished_at: datetime | None
