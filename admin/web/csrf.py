"""CSRF protection for every state-changing request of the web UI.

The JSON API under /api/v1 is exempt (it authenticates with bearer tokens, which a browser
never sends on its own). Scripts send the token in the X-CSRFToken header, read from the
``<meta name="csrf-token">`` of the layout.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

__all__ = ["CSRFError", "csrf", "csrf_error"]

csrf = CSRFProtect()


def csrf_error(exc: CSRFError) -> Any:
    if request.path.startswith("/api/"):
        return exc
    return render_template("error.html", title="Form expired", message=exc.description), 400
