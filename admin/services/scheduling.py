"""When a broadcast goes: ``send_at`` and ``quiet_hours`` read from a request body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from admin.services.errors import ValidationError

MAX_SCHEDULE_AHEAD = timedelta(days=365)


def schedule_from(data: Mapping[str, Any]) -> tuple[datetime | None, bool]:
    """``send_at`` (RFC 3339 with an offset, in the future; None: now) and ``quiet_hours``
    (default true: hold each message until 8:00 in the recipient's time zone)."""
    quiet = data.get("quiet_hours", True)
    if quiet is None:
        quiet = True
    if not isinstance(quiet, bool):
        raise ValidationError("quiet_hours", "quiet_hours must be true or false")
    raw = data.get("send_at")
    if raw is None or raw == "":
        return None, quiet
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise ValidationError("send_at", "send_at must be an RFC 3339 time") from None
    if not isinstance(raw, datetime):
        raise ValidationError("send_at", "send_at must be an RFC 3339 time")
    if raw.tzinfo is None:
        raise ValidationError("send_at", "send_at needs an offset (Z or +hh:mm)")
    now = datetime.now(UTC)
    if raw < now - timedelta(minutes=1):
        raise ValidationError("send_at", "send_at is in the past")
    if raw > now + MAX_SCHEDULE_AHEAD:
        raise ValidationError("send_at", "send_at is more than a year ahead")
    return (raw.astimezone(UTC) if raw > now else None), quiet
