"""Errors that name the input at fault, shared by the services and the modules below them
(providers, metrics' queries): a module of its own, importing nothing of the admin, so that any
layer may raise them."""

from __future__ import annotations


class FieldError(Exception):
    """An error naming the input at fault: ``field`` (None: no one field) and ``message``."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class BadValue(FieldError, ValueError):
    """A value a module below the services (a provider's settings, a metric's query) refuses;
    the service or route turns it into a ServiceError."""

    field: str
