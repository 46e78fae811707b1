"""The admin's web UI through the Flask test client, submitting forms with their CSRF token."""

from __future__ import annotations

import re
from typing import Any

from flask import g, has_app_context
from flask.testing import FlaskClient

OWNER_EMAIL = "owner@acme.test"
OWNER_PASSWORD = "correct horse battery"  # the `org` fixture's owner

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_INVITE_LINK = re.compile(r'id="invite-link">([^<]+)<')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def fresh_request_globals() -> None:
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
        fresh_request_globals()
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
        fresh_request_globals()
        return self.client.post(path, data=data, **kw)

    def login(self, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> Any:
        return self.post("/login", {"email": email, "password": password}, page="/login")

    def invite(self, email: str, role: str) -> str:
        """Invite ``email`` from the team page: the path of the invitation link it shows."""
        page = self.post("/team/invite", {"email": email, "role": role}, page="/team")
        link = _INVITE_LINK.search(page.get_data(as_text=True))
        assert link, (page.status_code, page.get_data(as_text=True))
        return "/" + link.group(1).split("://", 1)[1].split("/", 1)[1]

    def accept(self, path: str, name: str, password: str) -> Any:
        """Accept the invitation at ``path`` as ``name``, choosing ``password``."""
        return self.post(path, {"name": name, "password": password, "confirm": password})
