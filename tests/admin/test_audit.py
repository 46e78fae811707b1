"""The audit log: who changed what and when, before and after, with secrets only "changed";
written in the change's own transaction; owners read it in the API (a cursor, a kind filter)
and on a page; nobody else does."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.models import User
from admin.services import team
from admin.services.orgs import NewOrg, issue_api_token
from tests.conftest import Api
from tests.helpers.web import Web

HOST = "go.audit.test"
OWNER = "owner@acme.test"
TWILIO = {"provider": "twilio", "account_sid": "AC" + "1" * 32, "from": "+15550001111"}
SECRET = "sEcReT-auth-token-42"


def _put(api: Api, path: str, body: dict) -> int:
    return int(api.client.put(path, json=body, headers=api.headers).status_code)


def _events(api: Api, query: str = "") -> list[dict]:
    answer = api.get(f"/api/v1/audit{query}")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["events"]


def test_changes_are_recorded_with_who_before_and_after(
    app: Flask, org: NewOrg, api: Api, web: Web
) -> None:
    api.post("/api/v1/domains", {"hostname": HOST})
    link = api.post(
        "/api/v1/links", {"name": "Gala", "destination": "https://example.org/a", "domain": HOST}
    ).get_json()["id"]
    changed = api.patch(f"/api/v1/links/{link}", {"destination": "https://example.org/b"})
    assert changed.status_code == 200
    api.patch(f"/api/v1/links/{link}", {"destination": "https://example.org/b"})  # no change
    refused = api.patch(f"/api/v1/links/{link}", {"destination": "ftp://example.org/c"})
    assert refused.status_code == 422  # rolled back with its change: no event
    assert _put(api, "/api/v1/sending/provider", {**TWILIO, "auth_token": SECRET}) == 200
    kept = _put(api, "/api/v1/sending/provider", {**TWILIO, "from": "+15550002222"})
    assert kept == 200  # the stored token kept: only "from" changed
    web.post("/tokens", {"name": "CRM sync"})
    web.post("/team/invite", {"email": "new@acme.test", "role": "admin"}, page="/team")

    events = _events(api)
    assert [e["action"] for e in events] == [
        "team.invite", "token.create", "provider.update", "provider.update", "link.update",
        "link.create", "domain.create", "token.create",
    ]  # fmt: skip
    invite, token, provider2, provider1, update, create, domain, first_token = events
    assert first_token["actor"] == "system"  # the organisation's first, made by create_org
    prefix = "owner@acme.test (API token "
    assert all(e["actor"].startswith(prefix) for e in (provider1, update, create, domain))
    assert invite["actor"] == token["actor"] == f"{OWNER} (web)"
    assert {e["actor_user_id"] for e in events[:-1]} == {org.user_id}
    assert update["before"] == {"destination": "https://example.org/a"}
    assert update["after"] == {"destination": "https://example.org/b"}
    assert update["subject"] == f"link {link} (Gala)" and update["kind"] == "link"
    assert create["before"] is None and create["after"]["destination"] == "https://example.org/a"
    assert provider1["after"]["auth_token"] == "changed" and "auth_token" not in provider1["before"]
    assert provider2["before"] == {"from": "+15550001111"}
    assert provider2["after"] == {"from": "+15550002222"}
    assert invite["after"] == {"email": "new@acme.test", "role": "admin"}
    assert token["after"]["name"] == "CRM sync" and token["after"]["person"] == OWNER
    # The secret is nowhere in the log, not even encrypted.
    db.session.rollback()
    stored = json.dumps([list(r) for r in db.session.execute(text("SELECT * FROM audit_events"))],
                        default=str)  # fmt: skip
    assert SECRET not in stored and "gAAAA" not in stored


def test_team_token_and_export_events(app: Flask, org: NewOrg, api: Api, web: Web) -> None:
    owner = db.session.get(User, org.user_id)
    new = team.invite(org.org_id, owner, "mia@acme.test", "member")
    db.session.commit()
    mia = team.accept(new.token, "Mia", "a long password")
    db.session.commit()
    web.post(f"/team/{mia.id}/role", {"role": "admin"}, page="/team")
    web.post(f"/team/{mia.id}/deactivate", page="/team")
    api.post("/api/v1/domains", {"hostname": HOST})
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/a", "domain": HOST}
    ).get_json()["id"]
    token_id = db.session.scalar(text("SELECT max(id) FROM api_tokens"))
    web.post(f"/tokens/{token_id}/revoke", page="/tokens")
    assert api.get(f"/api/v1/links/{link}/export.csv").status_code == 401  # the token is revoked
    fresh = Api(web.client, issue_api_token(org.org_id, org.user_id, "again"))
    db.session.commit()
    assert fresh.get(f"/api/v1/links/{link}/export.csv").status_code == 200
    hook = fresh.post("/api/v1/webhooks", {"url": "https://hooks.example.org/clicks"}).get_json()
    assert fresh.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204

    found = {e["action"]: e for e in _events(fresh, "?limit=200")}
    assert found["team.join"]["actor"] == "mia@acme.test (invitation)"
    assert found["team.role"]["before"] == {"role": "member"}
    assert found["team.role"]["after"] == {"role": "admin"}
    assert found["team.deactivate"]["after"] == {"active": False}
    assert found["token.revoke"]["actor"] == f"{OWNER} (web)"
    assert found["export.link_contacts"]["detail"] == {"metric": "clicks"}
    assert found["export.link_contacts"]["subject"] == f"link {link}"
    assert found["token.create"]["actor"] == "system"  # made outside any request
    assert found["webhook.create"]["after"] == {
        "url": "https://hooks.example.org/clicks", "secret": "changed"
    }  # fmt: skip
    assert found["webhook.delete"]["before"]["url"] == "https://hooks.example.org/clicks"
    db.session.rollback()
    logged = db.session.execute(text("SELECT before::text, after::text FROM audit_events")).all()
    assert hook["secret"] not in str(logged) and "gAAAA" not in str(logged)
    assert [e["action"] for e in _events(fresh, "?kind=team")] == [
        "team.deactivate", "team.role", "team.join", "team.invite"
    ]  # fmt: skip


def test_only_owners_read_it_a_page_at_a_time(
    app: Flask, org: NewOrg, other_org: NewOrg, api: Api, other_api: Api
) -> None:
    for n in range(5):
        api.post("/api/v1/domains", {"hostname": f"d{n}.audit.test"})
    first = api.get("/api/v1/audit?kind=domain&limit=2").get_json()
    second = api.get(f"/api/v1/audit?kind=domain&limit=2&cursor={first['next']}").get_json()
    third = api.get(f"/api/v1/audit?kind=domain&limit=2&cursor={second['next']}").get_json()
    subjects = [e["subject"] for page in (first, second, third) for e in page["events"]]
    assert subjects == [f"d{n}.audit.test" for n in (4, 3, 2, 1, 0)]
    assert third["next"] is None
    # The other organisation's log is its own (its first token's creation only).
    assert [e["action"] for e in _events(other_api)] == ["token.create"]
    for query, field in (("?kind=nope", "kind"), ("?limit=0", "limit"), ("?cursor=x", "cursor")):
        answer = api.get(f"/api/v1/audit{query}")
        assert answer.status_code == 422 and answer.get_json()["error"]["field"] == field

    owner = db.session.get(User, org.user_id)
    new = team.invite(org.org_id, owner, "adm@acme.test", "admin")
    db.session.commit()
    admin = team.accept(new.token, "Adm", "a long password")
    db.session.commit()
    admin_api = Api(api.client, issue_api_token(org.org_id, admin.id, "admin's"))
    db.session.commit()
    refused = admin_api.get("/api/v1/audit")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert admin_api.patch("/api/v1/privacy", {"click_retention_days": 9}).status_code == 403

    spec = api.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/audit"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"kind", "limit", "cursor"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AuditPage"
    )


def test_the_page_is_the_owners(app: Flask, org: NewOrg, api: Api, web: Web) -> None:
    api.post("/api/v1/domains", {"hostname": HOST})
    api.post("/api/v1/domains", {"hostname": "two." + HOST})
    page = web.get("/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'href="/audit"' in html  # in the owner's menu
    assert html.count('data-action="domain.create"') == 2 and "two." + HOST in html
    assert 'data-action="domain' not in web.get("/audit?kind=link").get_data(as_text=True)
    saved = web.post("/audit/retention", {"click_retention_days": "30"}, page="/audit")
    assert saved.status_code == 302
    html = web.get("/audit").get_data(as_text=True)
    assert 'value="30"' in html and 'data-action="settings.click_retention"' in html
    web.post("/audit/retention", {"click_retention_days": "0"}, page="/audit")
    assert "from 1 to 3650" in web.get("/audit").get_data(as_text=True)

    # The owner becomes a member: no menu item, no page.
    db.session.execute(text("UPDATE users SET role = 'member' WHERE id = :u"), {"u": org.user_id})
    db.session.commit()
    assert web.get("/audit").status_code == 403
    assert 'href="/audit"' not in web.get("/links").get_data(as_text=True)
