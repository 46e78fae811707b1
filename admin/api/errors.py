"""Every API error is a JSON body: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from admin.services.errors import ServiceError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def not_found(what: str = "object") -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    return jsonify(error=error_body(code, message, field)), status, headers or {}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return body


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> Any:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.errorhandler(ServiceError)
    def handle_service_error(exc: ServiceError) -> Any:
        # Services are transport-independent; on the API their errors become JSON 4xx answers.
        # A service that is busy (a 429) says when to come back.
        retry = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry)} if retry else {}
        if not _is_api_request():
            return exc.message, exc.status, headers
        return error_response(exc.status, exc.code, exc.message, exc.field, headers)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> Any:
        if not _is_api_request():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            return error_response(413, "too_large", "the request body is too large")
        # The exception's own headers (a 405's Allow) go with the JSON body, not its type.
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(
            exc.code or 500, code, exc.description or exc.name or "error", headers=headers
        )

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Any:
        # The route's pattern, not the path: a path can hold a secret (an invitation token).
        rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
        log.exception("unhandled error on %s %s", request.method, rule)
        if not _is_api_request():
            return "Internal Server Error", 500
        return error_response(500, "internal", "an unexpected error occurred")
