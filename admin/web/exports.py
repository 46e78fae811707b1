"""The pages' downloads of the organisation's data (CSV exports, a contact's JSON) count as the
API's do: each takes one of its organisation's slots of requests in flight (shared with the
API, admin/api/limits.py) for as long as it streams, and over the limit it is refused with 429
and Retry-After before any query. Each is recorded in the audit log, by its service or here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Response, current_app, render_template, request

from admin.api import limits
from admin.web.auth import current_org_id, safe_next

View = TypeVar("View", bound=Callable[..., Any])


def refused() -> Response | None:
    """Take the organisation's slot for this request; the 429 page to answer when there is
    none: what is busy, and a way back to the page the person came from (this site's only)."""
    try:
        limits.take(current_app, request.environ, current_org_id())
    except limits.Refused as exc:
        page = render_template(
            "error.html",
            title="Busy",
            message=f"{exc.message}: try again in a moment.",
            back=_back(),
        )
        headers = {"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"}
        return Response(page, 429, headers, mimetype="text/html")
    return None


def _back() -> str:
    """The page the request came from, if it is one of this site's; else the links."""
    came_from = urlsplit(request.referrer or "")
    if came_from.netloc != request.host:
        return "/links"
    return safe_next(came_from.path + (f"?{came_from.query}" if came_from.query else ""))


def limited(view: View) -> View:
    """The view, behind its organisation's slot (under login_required: it needs the org)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return refused() or view(*args, **kwargs)

    return cast(View, wrapped)
