"""The pages' downloads of the organisation's data (CSV exports, a contact's JSON) count as the
API's do: each takes one of its organisation's slots of requests in flight (shared with the
API, admin/api/limits.py) for as long as it streams, and over the limit it is refused with 429
and Retry-After before any query. Each is recorded in the audit log, by its service or here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, current_app, request

from admin.api import limits
from admin.web.auth import current_org_id

View = TypeVar("View", bound=Callable[..., Any])


def refused() -> Response | None:
    """Take the organisation's slot for this request; the 429 to answer when there is none."""
    try:
        limits.take(current_app, request.environ, current_org_id())
    except limits.Refused as exc:
        return Response(
            f"{exc.message}: try again in a moment.\n",
            429,
            {"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"},
            mimetype="text/plain",
        )
    return None


def limited(view: View) -> View:
    """The view, behind its organisation's slot (under login_required: it needs the org)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return refused() or view(*args, **kwargs)

    return cast(View, wrapped)
