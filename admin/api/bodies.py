"""Reading request bodies into the Structs of admin/schemas, and writing answers.

A body that is not JSON is a 400, one larger than ``MAX_JSON_BYTES`` a 413, and one of the
wrong shape a 422 naming the JSON path at fault.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from flask import Response, current_app, request
from msgspec import Struct

from admin.api.errors import ApiError

T = TypeVar("T")

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
