"""Tenant isolation: every API route, found in the URL map (so routes added later are covered
too), called with a second organisation's token against the first organisation's ids."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from admin.extensions import db
from admin.models import (
    Broadcast,
    HistoryEvent,
    ImportJob,
    IssuedCode,
    LibraryAction,
    Message,
    Webhook,
)
from tests.helpers.routes import seed_theirs

SECRET = "alpha-secret"  # in every text of the first organisation; never in a reply to another
HOST = "go.alpha.test"
ALLOWED_FOR_FOREIGN_IDS = {401, 403, 404, 405}


@pytest.fixture
def alpha(api, org):
    """One of each kind of object of the first organisation, id -> value by route argument."""
    domain = api.post(
        "/api/v1/domains", {"hostname": HOST, "fallback_url": f"https://{SECRET}.test/"}
    ).get_json()
    link = api.post(
        "/api/v1/links",
        {
            "name": f"{SECRET} link",
            "destination": f"https://example.org/{SECRET}/{{{{first_name}}}}",
            "domain": HOST,
            "preview": {"title": SECRET},
        },
    ).get_json()
    contact = api.post(
        "/api/v1/contacts",
        {"phone": "+15557770001", "first_name": SECRET, "fields": {"note": SECRET}},
    ).get_json()
    api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [contact["id"]]})
    api.post(f"/api/v1/contacts/{contact['id']}/tags", {"tag": f"{SECRET} tag"})
    contact_list = api.post("/api/v1/lists", {"name": f"{SECRET} list"}).get_json()
    api.post(f"/api/v1/contacts/{contact['id']}/lists", {"list": f"{SECRET} list"})
    job = ImportJob(org_id=org.org_id, filename=f"{SECRET}.csv", status="done")
    db.session.add(job)
    db.session.add(
        HistoryEvent(
            org_id=org.org_id, contact_id=contact["id"], type="whisper", body=SECRET,
            link_id=link["id"],
        )
    )  # fmt: skip
    broadcast = Broadcast(org_id=org.org_id, link_id=link["id"], body=f"{SECRET} {{{{link}}}}")
    db.session.add(broadcast)
    db.session.flush()
    message = Message(
        org_id=org.org_id, contact_id=contact["id"], broadcast_id=broadcast.id,
        link_id=link["id"], to_phone="+15557770001", body=SECRET,
    )  # fmt: skip
    action = LibraryAction(org_id=org.org_id, name=SECRET, body=f"{SECRET} {{{{link}}}}",
                           link_id=link["id"])  # fmt: skip
    webhook = Webhook(org_id=org.org_id, url=f"https://{SECRET}.test/hook", secret=SECRET)
    db.session.add_all([message, action, webhook])
    db.session.commit()
    return {
        "domain_id": domain["id"],
        "link_id": link["id"],
        "contact_id": contact["id"],
        "job_id": job.id,
        "import_id": job.id,
        "broadcast_id": broadcast.id,
        "message_id": message.id,
        "action_id": action.id,
        "library_action_id": action.id,
        "webhook_id": webhook.id,
        "list_id": contact_list["id"],
        "org_id": org.org_id,
    }


def _api_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")]


def _url(rule, ids):
    def value(match):
        return str(ids.get(match.group(1), 1))  # first rows of a fresh database have id 1

    return re.sub(r"<(?:[^:>]+:)?(\w+)>", value, rule.rule)


def _body(ids):
    """A body that would be valid for the first organisation's objects, so that a route
    cannot fail on validation before it looks the objects up."""
    return {
        "contact_ids": [ids["contact_id"]],
        "contact_id": ids["contact_id"],
        "link_id": ids["link_id"],
        "domain": HOST,
        "hostname": HOST,
        "destination": "https://example.org/hijack",
        "name": "hijack",
        "archived": True,
        "fallback_url": "https://hijack.test/",
        "first_name": "hijack",
        "phone": "+15557770001",
        "to": "+15557770001",
        "body": "hijack {{link}}",
        "text": "hijack",
        "url": "https://hijack.test/hook",
        "list": "hijack",
        "metric": "clicks",
    }


def _state(api, ids):
    """What the first organisation sees of its objects."""
    return {
        path: api.get(path).get_data(as_text=True)
        for path in (
            f"/api/v1/links/{ids['link_id']}",
            f"/api/v1/contacts/{ids['contact_id']}",
            f"/api/v1/domains/{ids['domain_id']}",
            f"/api/v1/contacts/{ids['contact_id']}/history",
            "/api/v1/tags",
            "/api/v1/lists",
        )
    }


def _counts(ids):
    return (
        db.session.scalar(
            select(func.count()).select_from(IssuedCode).where(IssuedCode.link_id == ids["link_id"])
        ),
        db.session.scalar(
            select(func.count()).select_from(Message).where(Message.contact_id == ids["contact_id"])
        ),
        db.session.scalar(
            select(func.count()).select_from(Broadcast).where(Broadcast.link_id == ids["link_id"])
        ),
        db.session.scalar(
            select(func.count()).select_from(Webhook).where(Webhook.org_id == ids["org_id"])
        ),
        db.session.scalar(
            select(func.count())
            .select_from(LibraryAction)
            .where(LibraryAction.org_id == ids["org_id"])
        ),
    )


def test_every_route_hides_another_organisations_objects(app, api, other_api, alpha):
    before, counts = _state(api, alpha), _counts(alpha)
    checked = []
    for rule in _api_rules(app):
        url = _url(rule, alpha)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            call = getattr(other_api.client, method.lower())
            kwargs = {"headers": other_api.headers}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = _body(alpha)
            resp = call(url, **kwargs)
            text = resp.get_data(as_text=True).lower()
            where = f"{method} {url} -> {resp.status_code} {text[:300]}"
            assert resp.status_code < 500, where
            assert SECRET not in text, where
            if rule.arguments:
                assert resp.status_code in ALLOWED_FOR_FOREIGN_IDS, where
            checked.append((method, rule.rule))
    db.session.expire_all()
    assert _state(api, alpha) == before
    assert _counts(alpha) == counts
    assert len(checked) >= 15  # the walk really found the routes


def test_the_ids_used_are_real(app, api, alpha):
    """The first organisation itself reads every object the walk used (so 404s above mean
    'not yours', not 'no such id')."""
    for rule in _api_rules(app):
        if "GET" not in rule.methods or not rule.arguments:
            continue
        if not rule.arguments <= set(alpha):
            continue
        resp = api.get(_url(rule, alpha))
        assert resp.status_code != 404 and resp.status_code < 500, (rule.rule, resp.status_code)


def test_another_organisations_ids_in_bodies_are_not_found(api, other_api, alpha):
    other_api.post("/api/v1/domains", {"hostname": "go.beta.test"})
    link = other_api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "go.beta.test"}
    ).get_json()
    resp = other_api.post(
        f"/api/v1/links/{link['id']}/issue", {"contact_ids": [alpha["contact_id"]]}
    )
    assert resp.status_code == 404
    assert resp.get_json()["error"]["field"] == "contact_ids"
    foreign_domain = other_api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": HOST}
    )
    assert foreign_domain.status_code == 404
    assert foreign_domain.get_json()["error"]["field"] == "domain"
    listed = other_api.get("/api/v1/links").get_json()["links"]
    assert [x["id"] for x in listed] == [link["id"]]


def test_other_orgs_ids_are_404_on_every_api_route(app, api, other_api):
    ids = seed_theirs(other_api)
    webhook = other_api.post("/api/v1/webhooks", {"url": "https://hooks.example.org/x"})
    if webhook.status_code == 201:
        ids["webhook_id"] = webhook.get_json()["id"]
    leaks = []
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or "<int:" not in rule.rule:
            continue
        names = re.findall(r"<int:(\w+)>", rule.rule)
        if "org_id" in names or not all(n in ids for n in names):
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = {"name": "x", "contact_ids": [ids["contact_id"]], "tag": "t", "list": "l"}
            resp = api.client.open(
                path, method=method, headers=api.headers, data=json.dumps(body),
                content_type="application/json",
            )  # fmt: skip
            text = resp.get_data(as_text=True)
            resp.close()
            checked += 1
            if resp.status_code != 404 or "+15551239999" in text or "Their reply" in text:
                leaks.append((method, path, resp.status_code))
    assert not leaks, leaks
    assert checked >= 30, checked
