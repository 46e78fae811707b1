"""Security headers on every admin response: no framing, no inline script, no sniffing."""

from __future__ import annotations

from flask import Flask, Response, current_app

# Self only. Images may also come from https: a link's preview image can live on another
# site, and the card preview must show it. No inline script or style anywhere: every script
# is a static file and styles are set through the CSSOM, which CSP does not restrict.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def add_security_headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        # Served over HTTPS (PUBLIC_ADMIN_URL): browsers must never fall back to HTTP.
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype == "text/html":
        # Pages show organisation data: never kept by a shared cache.
        h.setdefault("Cache-Control", "private, no-cache")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
