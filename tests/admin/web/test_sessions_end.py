"""Sessions that end on the server: a cookie kept from before a logout, a deactivation, a role
change or a new password no longer logs anyone in, and a deactivated member's API tokens answer
401 (read and write), as the team page promises."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from admin.extensions import db
from admin.models import User
from admin.security import hash_password
from admin.services.orgs import NewOrg, issue_api_token
from tests.helpers.web import Web


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str, path: str = "/links") -> int:
    """The old cookie, sent by a fresh browser (an attacker who copied it)."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return Web(thief).get(path).status_code


def _member(web: Web, app: Flask, email: str, role: str = "member") -> tuple[Web, int]:
    person = Web(app.test_client())
    done = person.accept(web.invite(email, role), "Tim", "temp password")
    assert done.status_code == 302
    user_id = db.session.query(User.id).filter(User.email == email).scalar()
    return person, int(user_id)


def test_a_cookie_from_before_the_logout_is_dead(app: Flask, client: FlaskClient, org: NewOrg) -> None:
    web = Web(client)
    assert web.login().status_code == 302
    old = _cookie(client)
    assert _replay(app, old) == 200  # a copy works while the session lives
    assert web.post("/logout", page="/links").status_code == 302
    assert _replay(app, old) == 302  # back to the login page
    # ... and so cannot mint an API token either.
    thief = app.test_client()
    thief.set_cookie("session", old)
    assert thief.get("/tokens").status_code == 302
    assert thief.post("/tokens", data={"name": "stolen"}).status_code in (302, 400)


def test_deactivation_ends_sessions_and_tokens(web: Web, app: Flask, client: FlaskClient) -> None:
    person, user_id = _member(web, app, "temp@acme.test", "admin")
    cookie = _cookie(person.client)
    token = issue_api_token(1, user_id, "their script")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    assert web.post(f"/team/{user_id}/deactivate", page="/team").status_code == 302
    assert _replay(app, cookie) == 302
    assert client.get("/api/v1/links", headers=headers).status_code == 401
    created = client.post("/api/v1/contacts", json={"phone": "+15550102222"}, headers=headers)
    assert created.status_code == 401
    # Reactivated, they log in again; the old cookie and the old token stay dead.
    assert web.post(f"/team/{user_id}/activate", page="/team").status_code == 302
    assert _replay(app, cookie) == 302
    assert client.get("/api/v1/links", headers=headers).status_code == 401


def test_a_role_change_ends_the_persons_sessions(web: Web, app: Flask) -> None:
    person, user_id = _member(web, app, "admin@acme.test", "admin")
    cookie = _cookie(person.client)
    assert _replay(app, cookie, "/tokens") == 200
    assert web.post(f"/team/{user_id}/role", {"role": "member"}, page="/team").status_code == 302
    assert _replay(app, cookie, "/tokens") == 302
    assert person.login("admin@acme.test", "temp password").status_code == 302
    assert person.get("/tokens").status_code == 403  # a member now


def test_a_new_password_ends_the_sessions(app: Flask, client: FlaskClient, org: NewOrg) -> None:
    web = Web(client)
    assert web.login().status_code == 302
    old = _cookie(client)
    db.session.execute(
        update(User).where(User.id == org.user_id).values(password_hash=hash_password("new one!"))
    )
    db.session.commit()
    assert _replay(app, old) == 302
