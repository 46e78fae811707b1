"""The settings that routes hand to services, read from the running app in this one place.

Services never read the app (``current_app``): they take these values as arguments, so they
run the same from a route, a worker or a test.
"""

from __future__ import annotations

from flask import Flask, current_app


def short_url_scheme() -> str:
    """SHORT_URL_SCHEME: the scheme of issued short URLs."""
    return str(current_app.config["SHORT_URL_SCHEME"])


def public_admin_url() -> str:
    """PUBLIC_ADMIN_URL without a trailing slash: where providers and fetchers reach the admin."""
    return str(current_app.config["PUBLIC_ADMIN_URL"]).rstrip("/")


def webhook_allow_http_loopback() -> bool:
    """WEBHOOK_ALLOW_HTTP_LOOPBACK: http://127.0.0.1 / localhost webhook URLs are accepted."""
    return bool(current_app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"])


def edge_cname_target() -> str:
    """EDGE_CNAME_TARGET: the edge's public hostname that domains point at ("" when unset)."""
    return str(current_app.config["EDGE_CNAME_TARGET"])


def dns_servers() -> str:
    """DNS_SERVERS: the DNS servers the domain checks ask ("": the system's)."""
    return str(current_app.config["DNS_SERVERS"])


def running_app() -> Flask:
    """The app itself, for work that outlives the request (a background import)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app
