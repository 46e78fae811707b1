"""Pages for people: server-rendered, progressively enhanced.

Every page is a plain HTML form that works without JavaScript; small vanilla scripts in
``static/`` add the live parts (merge preview, click counts, charts). Security lives here:
CSRF on every state-changing request outside the bearer-token API, session login, and the
headers that forbid framing and inline script.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template

# Importing the view modules registers their routes on ``bp``.
from admin.web import (  # noqa: F401
    audit,
    auth,
    contacts,
    dashboard,
    domains,
    headers,
    imports,
    issue,
    link_glance,
    links,
    media,
    memberships,
    metrics,
    people_bulk,
    previews,
    sending,
    team,
    tokens,
    totp,
)
from admin.web.blueprint import bp
from admin.web.csrf import CSRFError, csrf, csrf_error
from admin.web.templating import register_template_helpers


@bp.errorhandler(403)
def forbidden(_exc: Exception) -> Any:
    return render_template(
        "error.html", title="Not allowed", message="Your role does not allow this page."
    ), 403


@bp.errorhandler(404)
def not_found(_exc: Exception) -> Any:
    return render_template(
        "error.html", title="Not found", message="There is nothing here, or it is not yours."
    ), 404


def init_app(app: Flask) -> None:
    from admin.api import bp as api_bp

    if app.config.get("SESSION_COOKIE_SECURE"):
        # The __Host- prefix pins the cookie to this exact origin over HTTPS.
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    csrf.init_app(app)
    csrf.exempt(api_bp)
    app.register_error_handler(
        CSRFError, csrf_error
    )  # bearer tokens, not cookies: no CSRF possible
    auth.init_app(app)
    headers.init_app(app)
    register_template_helpers(app)
    app.register_blueprint(bp)
