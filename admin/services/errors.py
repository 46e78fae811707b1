"""Errors of the admin's services, independent of any transport.

The JSON API turns them into 4xx answers naming the field at fault; the web pages show the
message next to the field. A service never raises an HTTP error itself.
"""

from __future__ import annotations

from admin.errors import FieldError


class ServiceError(FieldError):
    """Base of every error a service raises on purpose; ``field`` names the input at fault.
    A kind of error gives its HTTP ``status`` and ``code`` in its class line."""

    status = 400
    code = "bad_request"

    def __init_subclass__(cls, status: int | None = None, code: str | None = None) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code


class ValidationError(ServiceError, status=422, code="invalid"):
    """The input breaks a rule (shape, syntax, limit)."""


class NotFound(ServiceError, status=404, code="not_found"):
    """No such object in the caller's organisation (another organisation's object included)."""


class Conflict(ServiceError, status=409, code="conflict"):
    """The input is valid but clashes with what exists (a taken hostname or phone)."""
