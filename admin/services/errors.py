"""Errors of the admin's services, independent of any transport.

The JSON API turns them into 4xx answers naming the field at fault; the web pages show the
message next to the field. A service never raises an HTTP error itself.
"""

from __future__ import annotations


class FieldError(ValueError):
    """A value a module checks below the services (a provider's settings, a metric's query)
    refuses; ``field`` names it, and the service or route turns it into a ServiceError."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ServiceError(Exception):
    """Base of every error a service raises on purpose; ``field`` names the input at fault."""

    status = 400
    code = "bad_request"

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ValidationError(ServiceError):
    """The input breaks a rule (shape, syntax, limit)."""

    status = 422
    code = "invalid"


class NotFound(ServiceError):
    """No such object in the caller's organisation (another organisation's object included)."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The input is valid but clashes with what exists (a taken hostname or phone)."""

    status = 409
    code = "conflict"
