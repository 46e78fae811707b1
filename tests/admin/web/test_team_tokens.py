"""Team roles and invitations, and the API tokens page (Flask test client, CSRF on)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from admin.services.orgs import NewOrg
from tests.helpers.web import Web


def _invite(web: Web, email: str, role: str) -> str:
    response = web.post("/team/invite", {"email": email, "role": role}, page="/team")
    assert response.status_code == 201, response.get_data(as_text=True)
    link = re.search(r'id="invite-link">([^<]+)<', response.get_data(as_text=True))
    assert link
    return link.group(1)


def test_invitation_link_sets_a_password_and_logs_in(web: Web, app: Flask) -> None:
    link = _invite(web, "member@acme.test", "member")
    path = link.split("://", 1)[1].split("/", 1)[1]
    newcomer = Web(app.test_client())
    page = newcomer.get("/" + path)
    assert page.status_code == 200 and "member@acme.test" in page.get_data(as_text=True)
    mismatch = newcomer.post(
        "/" + path, {"name": "Mia", "password": "a long password", "confirm": "different!"}
    )
    assert mismatch.status_code == 400
    accepted = newcomer.post(
        "/" + path, {"name": "Mia", "password": "a long password", "confirm": "a long password"}
    )
    assert accepted.status_code == 302
    assert newcomer.get("/links").status_code == 200
    # A member may not manage tokens, and the invitation works only once.
    assert newcomer.get("/tokens").status_code == 403
    assert Web(app.test_client()).get("/" + path).status_code == 404
    # The new member logs in with the chosen password.
    again = Web(app.test_client())
    assert again.login("member@acme.test", "a long password").status_code == 302


def test_admins_cannot_make_owners_and_the_last_owner_stays(web: Web, app: Flask) -> None:
    link = _invite(web, "admin@acme.test", "admin")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    admin = Web(app.test_client())
    admin.post(path, {"name": "Al", "password": "admin password", "confirm": "admin password"})
    refused = admin.post("/team/invite", {"email": "x@acme.test", "role": "owner"}, page="/team")
    assert refused.status_code == 403
    assert "only an owner" in refused.get_data(as_text=True)
    # The owner cannot demote themself while they are the only owner.
    web.post("/team/1/role", {"role": "member"}, page="/team")
    page = web.get("/team").get_data(as_text=True)
    assert "at least one owner" in page


def test_deactivated_member_loses_their_session(web: Web, app: Flask) -> None:
    link = _invite(web, "temp@acme.test", "member")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    temp = Web(app.test_client())
    temp.post(path, {"name": "Tim", "password": "temp password", "confirm": "temp password"})
    assert temp.get("/links").status_code == 200
    assert web.post("/team/2/deactivate", page="/team").status_code == 302
    assert temp.get("/links").status_code == 302  # back to the login page


def test_new_token_is_shown_once_and_revoking_ends_it(web: Web, client: FlaskClient) -> None:
    created = web.post("/tokens", {"name": "CRM sync"}, page="/tokens")
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token">([^<]+)<', created.get_data(as_text=True))
    assert token
    plain = token.group(1)
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    listing = web.get("/tokens").get_data(as_text=True)
    assert plain not in listing and plain[:10] in listing  # only the prefix, ever again
    token_id = re.findall(r"/tokens/(\d+)/revoke", listing)
    assert token_id
    web.post(f"/tokens/{max(map(int, token_id))}/revoke", page="/tokens")
    assert client.get("/api/v1/links", headers=headers).status_code == 401


def test_pages_of_another_organisation_are_not_found(
    web: Web, other_org: NewOrg, client: FlaskClient
) -> None:
    headers = {"Authorization": f"Bearer {other_org.api_token}"}
    domain = client.post("/api/v1/domains", json={"hostname": "go.rival.test"}, headers=headers)
    assert domain.status_code == 201
    link = client.post(
        "/api/v1/links",
        json={"destination": "https://rival.test/", "domain": "go.rival.test"},
        headers=headers,
    )
    assert link.status_code == 201
    link_id = link.get_json()["id"]
    assert web.get(f"/links/{link_id}").status_code == 404
    assert web.get(f"/links/{link_id}/edit").status_code == 404
    assert web.get(f"/links/{link_id}/metrics.json").status_code == 404
    assert web.get(f"/domains/{domain.get_json()['id']}").status_code == 404
    assert "go.rival.test" not in web.get("/links").get_data(as_text=True)
