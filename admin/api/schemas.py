"""Request and response bodies of the JSON API as msgspec Structs.

The same Structs decode (and so validate the shape of) requests, encode answers, and generate
the OpenAPI document (admin/api/openapi.py), so the document cannot drift from the code.
Rules that need the database or more than a type (hostnames, phones, destinations) live in
admin/services; a Struct only says which fields exist and their JSON types.

A field typed ``X | UnsetType`` may be left out; for a PATCH, left out means "unchanged".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from flask import Response, current_app, request
from msgspec import UNSET, Meta, Struct, UnsetType, field

from admin.api.errors import ApiError

T = TypeVar("T")

ActionType = Literal["whisper", "add_tag", "remove_tag", "add_to_list", "remove_from_list"]
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


class Action(Struct):
    type: ActionType
    tag: Annotated[str | UnsetType, Meta(description="for add_tag and remove_tag")] = UNSET
    list_: Annotated[str | UnsetType, Meta(description="for add_to_list and remove_from_list")] = (
        field(name="list", default=UNSET)
    )


class LinkCreate(Struct):
    destination: Annotated[
        str,
        Meta(
            description="absolute http(s) URL; {{first_name}}, {{last_name}}, {{phone}}, "
            "{{email}}, {{fields.NAME}} (each with an optional |default) in the path, "
            "query and fragment"
        ),
    ]
    domain: Annotated[str, Meta(description="hostname of one of the organisation's domains")]
    name: str | UnsetType = UNSET
    extension: Annotated[
        str | None | UnsetType, Meta(description="[A-Za-z0-9_-]{1,64}, shown after the code")
    ] = UNSET
    preview: Preview | UnsetType = UNSET
    actions: Annotated[
        list[Action] | UnsetType, Meta(description='default: [{"type": "whisper"}]')
    ] = UNSET


class LinkUpdate(Struct):
    destination: str | UnsetType = UNSET
    domain: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    extension: str | None | UnsetType = UNSET
    preview: Preview | UnsetType = UNSET
    actions: list[Action] | UnsetType = UNSET
    archived: bool | UnsetType = UNSET


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


class ActionOut(Struct, omit_defaults=True):
    type: ActionType
    tag: str | None = None
    list_: str | None = field(name="list", default=None)


class LinkOut(Struct):
    id: int
    name: str
    destination: str
    domain: str
    extension: str
    preview: PreviewOut
    actions: list[ActionOut]
    archived: bool
    url: Annotated[str, Meta(description="the link's generic short URL (no contact)")]
    created_at: datetime
    updated_at: datetime


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


# ---- reading and writing bodies -------------------------------------------------------------

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()
_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")


def _field_of(exc: msgspec.ValidationError) -> tuple[str | None, str]:
    """The JSON path at fault (without the leading ``$.``) and the message without it."""
    text = str(exc)
    path = ""
    match = _AT_PATH.search(text)
    if match:
        # A dict value's path is "[...]" (msgspec does not say which key): name the dict.
        path = match.group("path").removeprefix(".").split("[...]")[0]
        text = text[: match.start()]
    missing = _MISSING.match(text)
    if missing:
        name = missing.group("name")
        path = f"{path}.{name}" if path else name
    return (path or None), text


def read_json(model: type[T], max_bytes: int | None = None) -> T:
    """The request body decoded as ``model``; raises ApiError 400/413/422 naming the problem."""
    limit = max_bytes or int(current_app.config["MAX_JSON_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"the JSON body is larger than {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"the JSON body is larger than {limit} bytes")
    if not data.strip():
        raise ApiError(400, "malformed_json", "the request needs a JSON object as its body")
    decoder = _decoders.get(model)
    if decoder is None:
        decoder = _decoders[model] = msgspec.json.Decoder(model)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        path, message = _field_of(exc)
        raise ApiError(422, "invalid", message, path) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        # msgspec raises the last two itself for bytes that are not UTF-8 and for nesting
        # deeper than the interpreter's recursion limit.
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


def as_changes(body: Struct) -> dict[str, Any]:
    """A decoded body as the plain dict the services take (fields left out are absent)."""
    result: dict[str, Any] = msgspec.to_builtins(body)
    return result


def respond_json(body: Any, status: int = 200) -> Response:
    """Any JSON-able value (dicts, lists, Structs) as the answer."""
    return Response(_encoder.encode(body), status=status, mimetype="application/json")


def respond(body: Struct, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(body), status=status, mimetype="application/json", headers=headers
    )
