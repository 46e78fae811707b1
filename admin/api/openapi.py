"""The OpenAPI 3.1 document at GET /api/v1/openapi.json, generated, never written by hand.

Paths come from the app's URL map (every route under /api/v1, so a new route shows up by
itself); request and response bodies come from the msgspec Structs that decode and encode them
(``OPERATIONS`` maps an endpoint to its Structs), turned into JSON Schema by
``msgspec.json.schema_components``. A module that adds routes describes them with
``describe(endpoint, Operation(...))``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from flask import Response, current_app
from werkzeug.routing import Rule

from admin.api.blueprint import bp
from admin.api.bodies import respond_json
from admin.schemas import resources as schemas

REF = "#/components/schemas/{name}"
PREFIX = "/api/v1"
_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_PARAM_TYPES = {"int": "integer", "float": "number"}


@dataclass(frozen=True)
class Query:
    name: str
    type: str = "string"  # a JSON Schema type
    description: str = ""


@dataclass(frozen=True)
class Operation:
    summary: str
    request: Any = None  # a Struct type, or None for no body
    response: Any = None  # a Struct type, or None for a non-JSON answer
    status: int = 200
    query: tuple[Query, ...] = ()
    description: str = ""
    # For bodies that are not JSON (a CSV upload, a CSV export): media type -> schema.
    request_media: dict[str, Any] = field(default_factory=dict)
    response_media: dict[str, Any] = field(default_factory=dict)


OPERATIONS: dict[str, Operation] = {}


def describe(endpoint: str, operation: Operation) -> None:
    """Document the route whose endpoint is ``endpoint`` (like "api.create_link")."""
    OPERATIONS[endpoint] = operation


F = TypeVar("F", bound=Callable[..., Any])


def doc(
    summary: str,
    request: Any = None,
    response: Any = None,
    status: int = 200,
    **more: Any,
) -> Callable[[F], F]:
    """Decorator under ``@bp.<method>(...)`` describing that view (endpoint "api.<name>")."""

    def register(view: F) -> F:
        operation = Operation(summary, request, response, status, **more)
        describe(f"{bp.name}.{view.__name__}", operation)
        return view

    return register


def _path_and_params(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def swap(match: re.Match[str]) -> str:
        kind = _PARAM_TYPES.get(match.group("conv") or "", "string")
        params.append(
            {"name": match.group("name"), "in": "path", "required": True, "schema": {"type": kind}}
        )
        return "{" + match.group("name") + "}"

    return _CONVERTER.sub(swap, rule.rule), params


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(
    rule: Rule, method: str, refs: dict[Any, dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    path, params = _path_and_params(rule)
    described = OPERATIONS.get(rule.endpoint)
    error = {"description": "an error", "content": _json(refs[schemas.ErrorResponse])}
    op: dict[str, Any] = {
        "operationId": f"{rule.endpoint.removeprefix('api.')}_{method.lower()}",
        "tags": [path.removeprefix(PREFIX + "/").split("/")[0]],
    }
    responses: dict[str, Any] = {}
    if described is None:
        op["summary"] = rule.endpoint.removeprefix("api.").replace("_", " ")
        responses["2XX"] = {"description": "success"}
    else:
        op["summary"] = described.summary
        if described.description:
            op["description"] = described.description
        params += [
            {
                "name": q.name,
                "in": "query",
                "required": False,
                "schema": {"type": q.type},
                "description": q.description,
            }
            for q in described.query
        ]
        if described.request is not None:
            op["requestBody"] = {"required": True, "content": _json(refs[described.request])}
        elif described.request_media:
            op["requestBody"] = {"required": True, "content": described.request_media}
        answer: dict[str, Any] = {"description": "success"}
        if described.response is not None:
            answer["content"] = _json(refs[described.response])
        elif described.response_media:
            answer["content"] = described.response_media
        responses[str(described.status)] = answer
    responses["4XX"] = error
    op["responses"] = responses
    if params:
        op["parameters"] = params
    if rule.endpoint == "api.openapi":
        op["security"] = []
    return path, op


def document() -> dict[str, Any]:
    """The OpenAPI document of the app serving the current request."""
    rules = [r for r in current_app.url_map.iter_rules() if r.rule.startswith(PREFIX + "/")]
    types = {schemas.ErrorResponse}
    for rule in rules:
        described = OPERATIONS.get(rule.endpoint)
        if described is not None:
            types.update(t for t in (described.request, described.response) if t is not None)
    ordered = sorted(types, key=lambda t: t.__name__)
    refs_list, components = msgspec.json.schema_components(ordered, ref_template=REF)
    refs = dict(zip(ordered, refs_list, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(rules, key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path, op = _operation(rule, method, refs)
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Smart Links admin API",
            "version": "1",
            "description": "Every object belongs to the token's organisation; another "
            'organisation\'s ids answer 404. Errors: {"error": {"code", "message", "field"}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return respond_json(document())
