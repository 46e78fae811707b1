"""Fixtures of the web UI tests: a logged-in Flask test client (CSRF on, as in production),
and, for the browser tests, one headless Chromium per session driven by Playwright."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient

from admin.services.orgs import NewOrg

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OWNER_EMAIL = "owner@acme.test"
OWNER_PASSWORD = "correct horse battery"  # the `org` fixture's owner

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def _fresh_request_globals() -> None:
    """The ``app`` fixture keeps one app context (and so one ``g``) for the whole test, where
    production has one per request; Flask-WTF caches the CSRF token and Flask-Login the user
    in ``g``, so empty it before each request, or one client would act with another's."""
    if has_app_context():
        for name in list(g):
            g.pop(name, None)


class Web:
    """The web UI through the Flask test client, submitting forms with their CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **kw: Any) -> Any:
        _fresh_request_globals()
        return self.client.get(path, **kw)

    def token(self, path: str = "/links") -> str:
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code)
        return csrf_from(page.get_data(as_text=True))

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, page: str | None = None, **kw: Any
    ) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(page or path))
        _fresh_request_globals()
        return self.client.post(path, data=data, **kw)

    def login(self, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> Any:
        return self.post("/login", {"email": email, "password": password}, page="/login")


@pytest.fixture
def web(client: FlaskClient, org: NewOrg) -> Web:
    """Logged in as the owner of ``org`` (the session Flask-Login would write; test_auth
    covers the login form itself, and skipping it here saves an argon2 verification)."""
    from admin.extensions import db
    from admin.models import User
    from admin.web.auth import session_id_for

    user = db.session.get(User, org.user_id)
    assert user is not None
    with client.session_transaction() as session:
        session["_user_id"] = session_id_for(user)
        session["_fresh"] = True
    return Web(client)


def find_chromium() -> str | None:
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(path).exists():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
