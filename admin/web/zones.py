"""The time zone pages show times in, and the date and datetime-local inputs read in: the
person's own, else the organisation's, else UTC."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g, has_request_context
from flask_login import current_user

from admin.services import zones

LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type=datetime-local> sends and shows
DEFAULT_ZONE = zones.DEFAULT


def display_zone() -> str:
    """The IANA name of the zone the signed-in person sees times in (once per request)."""
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return DEFAULT_ZONE
    if "display_zone" not in g:
        org_zone, own = zones.zones_of(current_user.org_id, current_user.user_id)
        g.display_zone = own or org_zone
    return str(g.display_zone)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_input(moment: datetime | None, zone_name: str) -> str:
    """``moment`` as a datetime-local value in the zone ("" for none)."""
    return moment.astimezone(zone(zone_name)).strftime(LOCAL_INPUT) if moment else ""


def from_local_input(value: str, zone_name: str) -> datetime | str | None:
    """A datetime-local value read in the zone; a value with its own offset keeps it. What
    does not parse is returned as it came, for the service to refuse naming the field."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(zone_name))
