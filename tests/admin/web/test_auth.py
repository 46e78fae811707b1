"""Login (its ``next`` never leaves the site), logout, CSRF on every state-changing route, rate
limiting, security headers (Flask test client, CSRF on)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.models import User
from admin.security import hash_password, use_password_memory, verify_password
from admin.services.orgs import NewOrg
from core import config
from tests.helpers.routes import seed
from tests.helpers.web import OWNER_EMAIL, OWNER_PASSWORD, Web, csrf_from, fresh_request_globals


def test_login_form_has_the_contract_fields(client: FlaskClient) -> None:
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="email"' in html and 'name="password"' in html
    assert 'type="hidden"' in html and csrf_from(html)


def test_correct_login_redirects_into_the_app_and_logout_ends_it(
    client: FlaskClient, org: NewOrg
) -> None:
    web = Web(client)
    assert client.get("/links").status_code == 302  # not logged in: to the login page
    response = web.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/links"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/team").status_code == 200
    assert web.post("/logout", page="/team").status_code == 302
    assert client.get("/team").status_code == 302


def test_passwords_are_argon2id_rfc9106_low_memory_unless_set_otherwise() -> None:
    default = config.load({}).admin.password_hash_memory_mib
    try:
        use_password_memory(default)
        assert hash_password("correct horse battery").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    finally:
        use_password_memory(config.load().admin.password_hash_memory_mib)


def test_a_password_hashed_with_other_parameters_is_hashed_again_at_sign_in(
    app: Flask, client: FlaskClient, org: NewOrg
) -> None:
    def stored() -> str:
        return str(db.session.scalar(select(User.password_hash).where(User.id == org.user_id)))

    before = stored()
    assert "$m=1024," in before  # the tests' PASSWORD_HASH_MEMORY_MIB
    use_password_memory(2)
    try:
        assert Web(client).login().status_code == 302
        db.session.expire_all()
        assert "$m=2048," in stored() and verify_password(stored(), OWNER_PASSWORD)
    finally:
        use_password_memory(config.load().admin.password_hash_memory_mib)


def test_login_without_csrf_token_is_refused(client: FlaskClient, org: NewOrg) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.status_code == 400
    assert client.get("/links").status_code == 302  # still logged out


def test_wrong_password_then_rate_limited(app: Flask, client: FlaskClient, org: NewOrg) -> None:
    app.config["LOGIN_MAX_FAILURES"] = 3
    web = Web(client)
    for _ in range(3):
        assert web.login(password="wrong password!").status_code == 401
    # Even the right password is refused while the limit holds.
    blocked = web.login()
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.get_data(as_text=True)


def test_unknown_email_is_refused_like_a_wrong_password(client: FlaskClient, org: NewOrg) -> None:
    response = Web(client).login(email="nobody@acme.test")
    assert response.status_code == 401
    assert "email or the password is not right" in response.get_data(as_text=True)


def test_login_next_never_redirects_off_site(client: FlaskClient, org: NewOrg) -> None:
    web = Web(client)
    response = web.post(
        "/login?next=//evil.test/x",
        {"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
        page="/login",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/links"


def test_pages_cannot_be_framed_and_have_a_csp(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in response.get_data(as_text=True)  # no inline script


def test_api_is_exempt_from_csrf(client: FlaskClient, org: NewOrg) -> None:
    # A bearer-token POST without any CSRF token reaches the API (its own 4xx, not a CSRF 400).
    response = client.post(
        "/api/v1/domains",
        json={"hostname": "bad host"},
        headers={"Authorization": f"Bearer {org.api_token}"},
    )
    assert "CSRF" not in response.get_data(as_text=True)
    assert response.status_code != 400 or response.is_json


def test_static_assets_are_served(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    for asset in ("app.css", "app.js"):
        found = re.search(rf'"(/[^"]*{re.escape(asset)}\?v=[0-9a-f]+)"', html)
        assert found, asset
        response = client.get(found.group(1))
        assert response.status_code == 200, asset


def _login_from(web: Web, password: str, forwarded_for: str) -> Any:
    """The owner's sign-in with ``password``, saying it came from ``forwarded_for``."""
    return web.post(
        "/login",
        {"email": OWNER_EMAIL, "password": password},
        page="/login",
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_rate_limit_counts_the_forwarded_client_behind_a_trusted_proxy(
    app: Flask, client: FlaskClient, org: NewOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test client's peer is 127.0.0.1, here a trusted proxy: each forwarded client has
    # its own count, so one attacker does not lock out everyone behind the balancer.
    monkeypatch.setitem(app.config, "ADMIN_TRUSTED_PROXIES", "127.0.0.1")
    app.config["LOGIN_MAX_FAILURES"] = 2
    web = Web(client)
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(2):
        response = _login_from(web, "wrong", attacker["X-Forwarded-For"])
        assert response.status_code == 401
    blocked = _login_from(web, OWNER_PASSWORD, attacker["X-Forwarded-For"])
    assert blocked.status_code == 429
    other = _login_from(web, OWNER_PASSWORD, "198.51.100.9")
    assert other.status_code == 302


def test_forwarded_for_from_loopback_is_not_believed_by_default(
    app: Flask, client: FlaskClient, org: NewOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new X-Forwarded-For on every try, sent from loopback, does not reset the count."""
    assert app.config["ADMIN_TRUSTED_PROXIES"] == ""  # the default
    app.config["LOGIN_MAX_FAILURES"] = 2
    web = Web(client)
    for n in range(2):
        response = _login_from(web, "wrong", f"203.0.113.{n + 1}")
        assert response.status_code == 401
    blocked = _login_from(web, OWNER_PASSWORD, "203.0.113.99")
    assert blocked.status_code == 429


def test_every_state_changing_page_route_requires_the_csrf_token(app: Flask, web: Web) -> None:
    """Walk the URL map: each non-API route that takes POST/PUT/PATCH/DELETE refuses a
    logged-in request without the token (400), before its view runs."""
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)
            response = web.client.open(path, method=method, data={"x": "1"})
            assert response.status_code == 400, (method, rule.rule, response.status_code)
            checked.append(rule.rule)
    assert {"/login", "/logout", "/links/new", "/tokens", "/team/invite"} <= set(checked)


def test_every_web_post_needs_csrf(app, api, web):
    ids = seed(api)
    ids["token"] = 0
    allowed = []
    for rule in app.url_map.iter_rules():
        methods = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods or rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        for method in methods:
            fresh_request_globals()
            resp = web.client.open(path, method=method, data={"name": "x", "body": "x"})
            if resp.status_code != 400:
                allowed.append((method, path, resp.status_code))
    assert not allowed, allowed


# The login's ``next`` never sends the browser to another host.
NEXTS = [
    "//evil.test/",
    "/\\evil.test",
    "\\\\evil.test",
    "https://evil.test/",
    "/\t/evil.test",
    "/\n/evil.test",
    "/\r\n/evil.test",
    "\t//evil.test",
    " //evil.test",
    "/ /evil.test",
    "/\x0b/evil.test",
    "/\x00/evil.test",
    "http:evil.test",
    "https:/evil.test",
    "/%2F/evil.test",
    "/%5Cevil.test",
    "/\u3002/evil.test",
    "/\uff0f/evil.test",
    "/@evil.test",
    "javascript:alert(1)",
    "/links\r\nSet-Cookie: x=1",
]


def _browser_target(location: str) -> str:
    """Where a browser goes: it drops tabs and newlines anywhere, and leading/trailing C0 and
    spaces, then resolves against the page's URL."""
    cleaned = "".join(ch for ch in location if ch not in "\t\n\r").strip("\x00\x01\x02 ")
    return urlsplit(urljoin("http://localhost/login", cleaned.replace("\\", "/"))).netloc


@pytest.mark.parametrize("target", NEXTS)
def test_login_next_stays_on_this_site(client, org, target):
    web = Web(client)
    page = web.get("/login?next=" + quote(target, safe=""))
    token = csrf_from(page.get_data(as_text=True))
    resp = web.client.post(
        "/login?next=" + quote(target, safe=""),
        data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": token},
    )
    assert resp.status_code in (302, 303), resp.status_code
    location = resp.headers["Location"]
    assert _browser_target(location) in ("", "localhost"), location
    assert "\n" not in location and "\r" not in location
    # Logged in: the same with a GET goes straight to the target.
    again = web.get("/login?next=" + quote(target, safe=""))
    assert _browser_target(again.headers.get("Location", "")) in ("", "localhost")
