"""Checks of single input values shared by the services; each failure names its field."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from admin.services.errors import ValidationError
from core.merge import TemplateError, parse_template

# Postgres refuses NUL in text; other control characters have no place in a name or a title.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
# Lone surrogates cannot be stored as UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text(field: str, value: Any, max_length: int, *, multiline: bool = False) -> str:
    """A trimmed string (None reads as empty); raises ValidationError naming ``field``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be a string")
    value = value.strip()
    if len(value) > max_length:
        raise ValidationError(field, f"{field} is longer than {max_length} characters")
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL
    if pattern.search(value) or _SURROGATE.search(value):
        raise ValidationError(field, f"{field} contains a control character")
    return value


def required_text(field: str, value: Any, max_length: int) -> str:
    result = text(field, value, max_length)
    if not result:
        raise ValidationError(field, f"{field} is required")
    return result


def plain_url(field: str, value: Any) -> str:
    """An absolute http(s) URL without placeholders ("" when empty or None)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be a string")
    try:
        template = parse_template(value.strip())
    except TemplateError as exc:
        raise ValidationError(field, f"{field}: {exc}") from None
    if template.placeholders:
        raise ValidationError(field, f"{field} cannot hold placeholders")
    return template.source


def instant(field: str, value: Any) -> datetime | None:
    """An RFC 3339 date-time with its offset (a datetime from a decoder or a form, or a string);
    None or "" is no time at all."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ValidationError(
                field, f"{field} must be a date and time like 2026-12-31T23:00:00Z"
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError(field, f"{field} must be a date and time")
    if value.tzinfo is None:
        raise ValidationError(field, f"{field} needs a time zone offset (Z or +01:00)")
    if not 2000 <= value.year <= 9999:
        raise ValidationError(field, f"{field} is out of range")
    return value


def flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"{field} must be true or false")
    return value


def record_id(field: str, value: Any) -> int:
    """An id as given by a client (an int, or a string of digits from a form)."""
    if isinstance(value, bool):
        raise ValidationError(field, f"{field} must be an id")
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value.strip())
    if not isinstance(value, int) or not is_id(value):
        raise ValidationError(field, f"{field} must be an id")
    return value


MAX_ID = 2**63 - 1


def is_id(value: int) -> bool:
    """An id Postgres can hold (a larger number from a URL is simply no such object)."""
    return 0 < value <= MAX_ID
