"""Time zones: the organisation's (its settings) and, where a person chose one, theirs. Every
time a page shows is in the person's zone, else the organisation's, else UTC."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select

from admin.extensions import db
from admin.models import Organisation, User
from admin.services import audit
from admin.services.errors import NotFound, ValidationError

DEFAULT = "UTC"


@cache
def names() -> tuple[str, ...]:
    """The IANA zone names this machine knows, sorted (UTC first)."""
    return (DEFAULT, *sorted(n for n in available_timezones() if n != DEFAULT and "/" in n))


def zone_name(field: str, value: Any, *, empty_ok: bool = False) -> str:
    if empty_ok and value in (None, ""):
        return ""
    if not isinstance(value, str) or value not in names():
        raise ValidationError(
            field, f"{field} must be a time zone like Europe/London or America/Chicago"
        )
    return value


def set_org_zone(org_id: int, value: Any) -> str:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound("org_id", "no such organisation")
    name = zone_name("time_zone", value)
    before = {"time_zone": (org.settings or {}).get("time_zone")}
    audit.record(org_id, "settings.time_zone", "time zone", before=before, after={"time_zone": name})
    org.settings = {**(org.settings or {}), "time_zone": name}
    db.session.commit()
    return name


def set_user_zone(org_id: int, user_id: int, value: Any) -> str:
    """A person's own zone; "" follows the organisation's."""
    user = db.session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))
    if user is None:
        raise NotFound("user_id", "no such person")
    user.time_zone = zone_name("time_zone", value, empty_ok=True) or None
    db.session.commit()
    return user.time_zone or ""


def zones_of(org_id: int, user_id: int) -> tuple[str, str]:
    """(the organisation's zone, the person's own or "")."""
    row = db.session.execute(
        select(Organisation.settings, User.time_zone)
        .join(User, User.org_id == Organisation.id)
        .where(Organisation.id == org_id, User.id == user_id)
    ).first()
    if row is None:
        return DEFAULT, ""
    settings, own = row
    return str((settings or {}).get("time_zone") or DEFAULT), own or ""
