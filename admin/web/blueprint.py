"""The pages' blueprint, in a module of its own: the view modules import it and the package
registers them, so no module imports the package that imports it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, request

from admin.services.errors import NotFound

Row = TypeVar("Row")


class WebBlueprint(Blueprint):
    def get_send_file_max_age(self, filename: str | None) -> int | None:
        # Asset URLs carry their content hash (?v=...), so a browser may keep them a year.
        return 365 * 86400 if request.args.get("v") else super().get_send_file_max_age(filename)


bp = WebBlueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",  # the app keeps /static for itself
)


def or_404(get: Callable[..., Row], *args: Any) -> Row:
    """``get(*args)`` (a service's getter), or the 404 page where it finds nothing: another
    organisation's object is no such page."""
    try:
        return get(*args)
    except NotFound:
        abort(404)
