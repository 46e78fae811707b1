"""The JSON API under /api/v1: bearer-token auth, JSON errors, one module per resource."""

from __future__ import annotations

from flask import Flask

# Importing the resource modules registers their routes on ``bp``.
from admin.api import (  # noqa: F401
    audit,
    auth,
    broadcasts,
    contacts,
    domains,
    errors,
    imports,
    library,
    limits,
    links,
    memberships,
    messages,
    metrics,
    openapi,
    privacy,
    provider_callbacks,
    webhooks,
)
from admin.api.blueprint import bp

bp.before_request(auth.require_token)


def init_app(app: Flask) -> None:
    errors.register(app)
    app.register_blueprint(bp)
    limits.Gate(app)  # gives every request's slot back, and refuses early what it can
