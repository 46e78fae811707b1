"""Query-string parameters of the API routes, read one way.

A value that is absent or empty means the default. A value that is present but bad (not a
whole number, out of range, not one of the choices, not an ISO 8601 time) is always the same
answer: 422 with the standard error body naming the parameter,
``{"error": {"code": "invalid", "message": ..., "field": <name>}}``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TypeVar

from flask import request

from admin.api.errors import ApiError

D = TypeVar("D", int, None)

# ASCII digits only (str.isdecimal and int() also take other scripts' digits), and few enough
# of them that int() is cheap: anything longer is out of every range we accept.
_INTEGER = re.compile(r"-?[0-9]{1,30}")
FIRST_YEAR, LAST_YEAR = 1970, 9000


def _raw(name: str) -> str | None:
    value = request.args.get(name)
    return value if value else None


def invalid(name: str, message: str) -> ApiError:
    return ApiError(422, "invalid", message, name)


def query_int(name: str, default: D, low: int, high: int) -> int | D:
    """The parameter as a whole number from ``low`` to ``high``."""
    raw = _raw(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise invalid(name, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def query_choice(name: str, choices: Collection[str], default: str) -> str:
    """The parameter as one of ``choices``."""
    raw = _raw(name)
    if raw is None:
        return default
    if raw not in choices:
        raise invalid(name, f"{name} must be one of {', '.join(choices)}")
    return raw


def query_bool(name: str) -> bool | None:
    """``true`` or ``false``; None when absent."""
    raw = _raw(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid(name, f"{name} must be true or false")
    return raw == "true"


def query_datetime(name: str) -> datetime | None:
    """An ISO 8601 time (UTC when it names no offset); None when absent."""
    raw = _raw(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, f"{name} must be an ISO 8601 time") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        # Bucket arithmetic near year 1 or 9999 overflows datetime; no click is out there.
        raise invalid(name, f"{name} must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_str(name: str, default: str = "") -> str:
    """The parameter as text (its rules, if any, belong to the service that takes it)."""
    return _raw(name) or default
