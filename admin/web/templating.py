"""Template helpers: cache-busted static URLs, dates, the navigation."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, request, url_for

from admin.web.plain import plain
from admin.web.zones import display_zone, zone

STATIC_DIR = Path(__file__).parent / "static"

NAV = [
    ("web.dashboard", "Dashboard", "/dashboard"),
    ("web.links", "Links", "/links"),
    ("web.contacts", "Contacts", "/contacts"),
    ("web.lists_page", "Lists & tags", "/lists"),
    ("web.domains", "Domains", "/domains"),
    ("web.team", "Team", "/team"),
    ("web.tokens", "API tokens", "/tokens"),
    ("web.settings_page", "Settings", "/settings"),
    ("web.audit_page", "Audit log", "/audit"),
]
# Items only some roles see (the rest are everyone's).
NAV_ROLES = {"/tokens": "admin", "/audit": "owner"}


@cache
def _file_version(filename: str) -> str:
    path = STATIC_DIR / filename
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(filename: str) -> str:
    """A static file's URL with its content hash, so browsers may cache it for long."""
    return url_for("web.static", filename=filename, v=_file_version(filename))


def when(value: datetime | None) -> str:
    """A time in the person's zone (else the organisation's, else UTC), with the zone named."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone(display_zone()))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "UTC")


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def _nav_section() -> str:
    path = request.path
    for _endpoint, _label, prefix in NAV:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return ""


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.globals["static_url"] = static_url
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["plain"] = plain

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"nav_items": NAV, "nav_roles": NAV_ROLES, "nav_section": _nav_section()}
