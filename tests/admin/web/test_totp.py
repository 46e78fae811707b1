"""Optional two-factor sign-in (TOTP): a person who turned it on needs a code after the
password, a code works once, wrong codes count against the login limit; an owner can require
it of the organisation, which ends the sessions of those without it until they set it up."""

from __future__ import annotations

import re
import time

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from admin.extensions import db
from admin.models import User
from admin.services.orgs import NewOrg
from sync import crypto
from tests.helpers.web import OWNER_EMAIL, OWNER_PASSWORD, Web


def _secret(html: str) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert found, html
    return found.group(1)


def _code(secret: str, steps_ahead: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + steps_ahead * totp.interval)


def _turn_on(web: Web) -> str:
    secret = _secret(web.get("/account/totp").get_data(as_text=True))
    wrong = web.post("/account/totp", {"action": "enable", "code": "000000"})
    assert wrong.status_code == 400
    assert web.post("/account/totp", {"action": "enable", "code": _code(secret)}).status_code == 302
    return secret


def test_with_totp_on_the_password_alone_does_not_log_in(
    app: Flask, web: Web, org: NewOrg
) -> None:
    secret = _turn_on(web)
    stored = db.session.get(User, org.user_id)
    assert stored is not None and stored.totp_secret and secret not in stored.totp_secret
    assert crypto.decrypt(stored.totp_secret) == secret  # encrypted at rest
    person = Web(app.test_client())
    first = person.login()
    assert first.status_code == 302 and first.headers["Location"] == "/login/totp"
    assert person.get("/links").status_code == 302  # not logged in yet
    assert person.post("/login/totp", {"code": "123456"}).status_code == 401
    code = _code(secret, 1)  # the next step's code (the last one used is this step's)
    assert person.post("/login/totp", {"code": code}).status_code == 302
    assert person.get("/links").status_code == 200
    # The same code does not work twice.
    again = Web(app.test_client())
    again.login()
    assert again.post("/login/totp", {"code": code}).status_code == 401


def test_wrong_codes_meet_the_login_rate_limit(app: Flask, web: Web) -> None:
    secret = _turn_on(web)
    app.config["LOGIN_MAX_FAILURES"] = 2
    person = Web(app.test_client())
    person.login()
    for _ in range(2):
        assert person.post("/login/totp", {"code": "000000"}).status_code == 401
    assert person.post("/login/totp", {"code": _code(secret, 1)}).status_code == 429


def test_an_owner_requires_it_of_everyone(app: Flask, web: Web, client: FlaskClient) -> None:
    refused = web.post("/account/totp", {"action": "require", "code": "-", "required": "1"})
    assert refused.status_code == 400  # not before the owner has it on
    _turn_on(web)
    assert web.post("/account/totp", {"action": "require", "code": "-", "required": "1"}).status_code == 302
    assert web.get("/links").status_code == 200  # the owner has it: stays in
    # Someone without it is logged out and sets it up at the next login.
    member = Web(app.test_client())
    member.accept(web.invite("m@acme.test", "member"), "M", "member password")
    assert member.get("/links").status_code == 302
    assert member.login("m@acme.test", "member password").headers["Location"] == "/login/totp"
    page = member.get("/login/totp").get_data(as_text=True)
    secret = _secret(page)
    assert member.post("/login/totp", {"code": _code(secret)}).status_code == 302
    assert member.get("/links").status_code == 200
    # A member cannot make it optional, and cannot turn theirs off while it is required.
    assert member.post("/account/totp", {"action": "require", "code": "-", "required": "0"}).status_code == 403
    assert member.post("/account/totp", {"action": "disable", "code": _code(secret, 1)}).status_code == 400


def test_logging_in_without_totp_is_unchanged(client: FlaskClient, org: NewOrg) -> None:
    web = Web(client)
    response = web.login(OWNER_EMAIL, OWNER_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/links"
