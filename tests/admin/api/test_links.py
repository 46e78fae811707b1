"""Links through the API: validation naming the field, the generic URL, PATCH and archive."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin.extensions import db
from admin.models import IssuedCode, Link, SyncOutbox
from core import actions
from core.codes import is_code

GALA = {
    "name": "Gala RSVP",
    "destination": "https://example.org/rsvp?first={{first_name}}&src={{fields.source|sms}}",
    "domain": "go.example.test",
    "extension": "gala2021",
    "preview": {
        "title": "Gala 2021",
        "description": "Join us",
        "image_url": "https://x.test/g.jpg",
    },
    "actions": [
        {"type": "whisper"},
        {"type": "add_tag", "tag": "gala-clicked"},
        {"type": "remove_from_list", "list": "Not yet clicked"},
    ],
}


@pytest.fixture
def domain(api):
    return api.post("/api/v1/domains", {"hostname": "go.example.test"}).get_json()


def test_create_the_contract_example(api, domain):
    resp = api.post("/api/v1/links", GALA)
    assert resp.status_code == 201, resp.get_json()
    link = resp.get_json()
    for key in ("name", "destination", "domain", "extension", "preview", "actions"):
        assert link[key] == GALA[key], key
    assert link["archived"] is False
    prefix, _, rest = link["url"].partition("://go.example.test/")
    code, _, ext = rest.partition("/")
    assert prefix == "https" and ext == "gala2021" and is_code(code) and len(code) <= 8
    generic = db.session.scalars(select(IssuedCode)).one()
    assert (generic.code, generic.contact_id, generic.link_id) == (code, None, link["id"])
    entities = db.session.execute(
        select(SyncOutbox.entity, SyncOutbox.entity_id, SyncOutbox.payload)
    ).all()
    assert ("link", link["id"], None) in entities
    assert ("codes", link["id"], {"codes": [code]}) in entities
    assert api.get(f"/api/v1/links/{link['id']}").get_json() == link
    assert api.get("/api/v1/links").get_json() == {"links": [link]}


def test_defaults(api, domain):
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "GO.example.test"}
    ).get_json()
    assert link["actions"] == [{"type": "whisper"}]
    assert link["extension"] == "" and link["name"] == ""
    assert link["preview"] == {"title": "", "description": "", "image_url": ""}
    assert link["url"].count("/") == 3
    none = api.post(
        "/api/v1/links",
        {"destination": "https://example.org/", "domain": "go.example.test", "actions": []},
    )
    assert none.get_json()["actions"] == []


def test_stored_actions_are_what_the_drain_runs(api, domain):
    """The admin stores core's Action as JSON; the drain's parse reads back the same Actions."""
    given = [
        {"type": "whisper", "tag": "dropped: a whisper names nothing"},
        {"type": "add_tag", "tag": "  gala-clicked "},
        {"type": "remove_tag", "tag": "cold"},
        {"type": "add_to_list", "list": "Clicked", "tag": "ignored"},
        {"type": "remove_from_list", "list": "Not yet clicked"},
    ]
    body = {"destination": "https://example.org/", "domain": "go.example.test", "actions": given}
    link = api.post("/api/v1/links", body).get_json()
    stored = db.session.get(Link, link["id"]).actions
    assert stored == link["actions"] == [
        {"type": "whisper"},
        {"type": "add_tag", "tag": "gala-clicked"},
        {"type": "remove_tag", "tag": "cold"},
        {"type": "add_to_list", "list": "Clicked"},
        {"type": "remove_from_list", "list": "Not yet clicked"},
    ]
    assert actions.parse_stored(stored) == tuple(actions.from_json(stored))


INVALID = [
    ({"destination": "ftp://example.org/"}, "destination"),
    ({"destination": "example.org/x"}, "destination"),
    ({"destination": "https://user:pw@example.org/"}, "destination"),
    ({"destination": "https://{{first_name}}.example.org/"}, "destination"),
    ({"destination": "https://example.org/{{nope}}"}, "destination"),
    ({"destination": "https://example.org/{{first_name"}, "destination"),
    ({"destination": "https://example.org/a b"}, "destination"),
    ({"destination": "https://exa\\mple.org/"}, "destination"),
    ({"destination": "HTTP://[::]A"}, "destination"),  # a port that is not a number
    ({"destination": "https://[2001:db8::1]x:80/"}, "destination"),
    ({"destination": "https://example.org:8o/"}, "destination"),
    ({"destination": "https://example.org/" + "a" * 2100}, "destination"),
    ({"destination": 5}, "destination"),
    ({"domain": "other.example.test"}, "domain"),
    ({"domain": "not a host"}, "domain"),
    ({"extension": "bad/ext"}, "extension"),
    ({"extension": "a" * 65}, "extension"),
    ({"actions": [{"type": "explode"}]}, "actions[0].type"),
    ({"actions": [{"type": "whisper"}, {"type": "add_tag"}]}, "actions[1].tag"),
    ({"actions": [{"type": "add_to_list", "list": " "}]}, "actions[0].list"),
    ({"actions": [{}]}, "actions[0].type"),
    ({"preview": {"image_url": "javascript:alert(1)"}}, "preview.image_url"),
    ({"preview": {"title": 7}}, "preview.title"),
    ({"name": "x" * 201}, "name"),
]


def test_invalid_links_name_the_field(api, domain):
    for change, field in INVALID:
        resp = api.post("/api/v1/links", {**GALA, **change})
        assert 400 <= resp.status_code < 500, change
        assert resp.get_json()["error"]["field"] == field, (change, resp.get_json())
    assert db.session.scalar(select(Link.id)) is None


def test_another_organisations_domain_is_not_found(api, other_api, domain):
    resp = other_api.post("/api/v1/links", GALA)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["field"] == "domain"


def test_idn_destination_host_is_stored_ascii(api, domain):
    resp = api.post(
        "/api/v1/links",
        {"destination": "https://bücher.example:8443/{{first_name}}", "domain": "go.example.test"},
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["destination"] == "https://xn--bcher-kva.example:8443/{{first_name}}"


def test_patch_changes_fields_and_bumps_the_version(api, domain):
    link = api.post("/api/v1/links", GALA).get_json()
    before = db.session.get(Link, link["id"]).version
    resp = api.patch(
        f"/api/v1/links/{link['id']}",
        {"extension": None, "preview": {"title": "New"}, "archived": True},
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["extension"] == "" and body["archived"] is True
    assert body["preview"] == {**GALA["preview"], "title": "New"}
    assert body["url"] == link["url"].rsplit("/", 1)[0]  # same code, no extension
    assert body["destination"] == GALA["destination"]
    db.session.expire_all()
    row = db.session.get(Link, link["id"])
    assert row.version > before
    assert db.session.scalar(
        select(SyncOutbox.id).where(SyncOutbox.entity == "link", SyncOutbox.version == row.version)
    )
    unarchived = api.patch(f"/api/v1/links/{link['id']}", {"archived": False}).get_json()
    assert unarchived["archived"] is False
    assert api.get("/api/v1/links?archived=true").get_json() == {"links": []}


def test_patch_validates_too(api, domain):
    link = api.post("/api/v1/links", GALA).get_json()
    bad = api.patch(f"/api/v1/links/{link['id']}", {"destination": "https://x.test/{{"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "destination"
    archived = api.patch(f"/api/v1/links/{link['id']}", {"archived": "yes"})
    assert archived.get_json()["error"]["field"] == "archived"
    assert api.get(f"/api/v1/links/{link['id']}").get_json() == link


SHORTENED = ["https://bit.ly/3abc", "http://TinyURL.com/x", "https://t.co/abc", "https://goo.gl/x",
             "https://ow.ly/x", "https://is.gd/x", "https://buff.ly/x", "https://rebrand.ly/x",
             "https://www.cutt.ly/x", "https://shorturl.at/x"]  # fmt: skip


@pytest.mark.parametrize("destination", SHORTENED)
def test_a_public_shortener_is_refused_as_destination(api, domain, destination):
    body = {"destination": destination, "domain": "go.example.test"}
    resp = api.post("/api/v1/links", body)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "destination"
    assert "public shortener" in resp.get_json()["error"]["message"]
    assert db.session.scalar(select(Link.id)) is None
    # A host that merely ends like one is not a shortener.
    assert api.post("/api/v1/links", {**body, "destination": "https://notbit.ly/x"}).status_code == 201


def test_only_an_owner_may_allow_a_public_shortener(api, domain, org, client, caplog):
    from admin.models import User
    from admin.services.orgs import issue_api_token
    from tests.conftest import Api

    body = {"destination": "https://bit.ly/3abc", "domain": "go.example.test"}
    link = api.post("/api/v1/links", {**body, "allow_shortener": True})
    assert link.status_code == 201, link.get_json()
    assert link.get_json()["destination"] == "https://bit.ly/3abc"
    assert "allow_shortener" not in link.get_json()
    assert any("public shortener allowed by an owner" in r.getMessage() for r in caplog.records)
    # PATCH follows the same rule.
    plain = api.post("/api/v1/links", {"destination": "https://example.org/", "domain": "go.example.test"})
    patch = api.patch(f"/api/v1/links/{plain.get_json()['id']}", {"destination": "https://t.co/x"})
    assert patch.status_code == 422 and patch.get_json()["error"]["field"] == "destination"

    member = User(org_id=org.org_id, email="m@acme.test", password_hash="x", role="member")
    db.session.add(member)
    db.session.commit()
    member_api = Api(client, issue_api_token(org.org_id, member.id, "member"))
    db.session.commit()
    refused = member_api.post("/api/v1/links", {**body, "allow_shortener": True})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["field"] == "allow_shortener"
