"""The JSON API under /api/v1: bearer-token auth, JSON errors, one module per resource."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from admin.api import auth, errors  # noqa: E402

bp.before_request(auth.require_token)

# Importing the resource modules registers their routes on ``bp``.
from admin.api import (  # noqa: E402, F401
    broadcasts,
    contacts,
    domains,
    imports,
    library,
    links,
    memberships,
    messages,
    metrics,
    openapi,
    provider_callbacks,
    webhooks,
)


def init_app(app: Flask) -> None:
    errors.register(app)
    app.register_blueprint(bp)
