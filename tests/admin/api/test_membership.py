"""A contact's tags and lists through the JSON API, the organisation's lists, and how the names
match the ones drain's click actions write (one normalisation, core.names)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from admin.extensions import db
from admin.models import SyncOutbox
from core.actions import parse_stored


@pytest.fixture
def contact(api):
    resp = api.post("/api/v1/contacts", {"phone": "+15550100001", "first_name": "Ada"})
    assert resp.status_code == 201
    return resp.get_json()


def _outbox_rows() -> int:
    return int(db.session.scalar(select(func.count()).select_from(SyncOutbox)) or 0)


def test_tag_and_untag_a_contact(api, contact):
    url = f"/api/v1/contacts/{contact['id']}/tags"
    first = api.post(url, {"tag": "  VIP "})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["tags"] == ["VIP"]  # stored without the surrounding spaces
    again = api.post(url, {"tag": "VIP"})
    assert again.get_json()["tags"] == ["VIP"]
    api.post(url, {"tag": "donor"})
    assert api.get(f"/api/v1/contacts/{contact['id']}").get_json()["tags"] == ["VIP", "donor"]
    tags = api.get("/api/v1/tags").get_json()["tags"]
    assert [(t["name"], t["contacts"]) for t in tags] == [("VIP", 1), ("donor", 1)]

    removed = api.delete(url, json={"tag": "VIP "})
    assert removed.status_code == 200
    assert removed.get_json()["tags"] == ["donor"]
    # Removing again is fine; the tag itself stays, with no contacts.
    assert api.delete(url, json={"tag": "VIP"}).status_code == 200
    tags = api.get("/api/v1/tags").get_json()["tags"]
    assert [(t["name"], t["contacts"]) for t in tags] == [("VIP", 0), ("donor", 1)]


def test_lists_of_a_contact(api, contact):
    url = f"/api/v1/contacts/{contact['id']}/lists"
    added = api.post(url, {"list": "Volunteers"})
    assert added.status_code == 200
    assert added.get_json()["lists"] == ["Volunteers"]
    lists = api.get("/api/v1/lists").get_json()["lists"]
    assert [(x["name"], x["contacts"]) for x in lists] == [("Volunteers", 1)]
    off = api.delete(url, json={"list": "Volunteers"})
    assert off.status_code == 200 and off.get_json()["lists"] == []
    assert api.get("/api/v1/lists").get_json()["lists"][0]["contacts"] == 0


def test_membership_changes_write_no_outbox_rows(api, contact):
    """Tags and lists are not in the contact's Redis record: nothing for sync to publish."""
    before = _outbox_rows()
    api.post(f"/api/v1/contacts/{contact['id']}/tags", {"tag": "x"})
    api.post(f"/api/v1/contacts/{contact['id']}/lists", {"list": "y"})
    api.delete(f"/api/v1/contacts/{contact['id']}/tags", json={"tag": "x"})
    assert _outbox_rows() == before


def test_names_match_what_click_actions_write(api, contact):
    """The admin stores a name as the drain reads it from a link's actions (parse_stored)."""
    raw = "  Gala 2026 \t"
    (action,) = parse_stored([{"type": "add_tag", "tag": raw}])
    stored = api.post(f"/api/v1/contacts/{contact['id']}/tags", {"tag": raw}).get_json()
    assert stored["tags"] == [action.name] == ["Gala 2026"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("tags", {"tag": ""}, "tag"),
        ("tags", {"tag": "   "}, "tag"),
        ("tags", {"tag": "x" * 101}, "tag"),
        ("tags", {"tag": "bad\x00name"}, "tag"),
        ("tags", {"tag": 5}, "tag"),
        ("tags", {}, "tag"),
        ("lists", {"list": ""}, "list"),
        ("lists", {"list": None}, "list"),
        ("lists", {"tag": "wrong key"}, "list"),
    ],
)
def test_bad_names_are_422_naming_the_field(api, contact, path, body, field):
    resp = api.post(f"/api/v1/contacts/{contact['id']}/{path}", body)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["field"] == field


def test_a_name_of_100_characters_is_fine(api, contact):
    name = "n" * 100
    resp = api.post(f"/api/v1/contacts/{contact['id']}/tags", {"tag": name})
    assert resp.status_code == 200 and resp.get_json()["tags"] == [name]


def test_removing_an_unknown_tag_or_list_is_404(api, contact):
    tag = api.delete(f"/api/v1/contacts/{contact['id']}/tags", json={"tag": "never"})
    assert tag.status_code == 404 and tag.get_json()["error"]["field"] == "tag"
    lst = api.delete(f"/api/v1/contacts/{contact['id']}/lists", json={"list": "never"})
    assert lst.status_code == 404 and lst.get_json()["error"]["field"] == "list"


def test_unknown_contact_is_404_before_the_body(api):
    resp = api.post("/api/v1/contacts/999999/tags", {"tag": "x"})
    assert resp.status_code == 404
    assert api.post("/api/v1/contacts/999999/lists", data=b"{nonsense").status_code == 404
    assert api.get("/api/v1/tags").get_json()["tags"] == []  # no tag created on the way


def test_create_rename_delete_a_list(api, contact):
    created = api.post("/api/v1/lists", {"name": " Phone bank "})
    assert created.status_code == 201
    body = created.get_json()
    assert body["name"] == "Phone bank" and body["contacts"] == 0
    list_id = body["id"]
    taken = api.post("/api/v1/lists", {"name": "Phone bank"})
    assert taken.status_code == 409 and taken.get_json()["error"]["field"] == "name"

    api.post(f"/api/v1/contacts/{contact['id']}/lists", {"list": "Phone bank"})
    assert api.get(f"/api/v1/lists/{list_id}").get_json()["contacts"] == 1
    renamed = api.patch(f"/api/v1/lists/{list_id}", {"name": "Callers"})
    assert renamed.status_code == 200
    assert renamed.get_json() == {"id": list_id, "name": "Callers", "contacts": 1}
    assert api.get(f"/api/v1/contacts/{contact['id']}").get_json()["lists"] == ["Callers"]

    api.post("/api/v1/lists", {"name": "Walkers"})
    clash = api.patch(f"/api/v1/lists/{list_id}", {"name": "Walkers"})
    assert clash.status_code == 409 and clash.get_json()["error"]["field"] == "name"
    empty = api.patch(f"/api/v1/lists/{list_id}", {"name": " "})
    assert empty.status_code == 422 and empty.get_json()["error"]["field"] == "name"

    assert api.delete(f"/api/v1/lists/{list_id}").status_code == 204
    assert api.get(f"/api/v1/lists/{list_id}").status_code == 404
    assert api.delete(f"/api/v1/lists/{list_id}").status_code == 404
    # The contact stays; only its membership went.
    after = api.get(f"/api/v1/contacts/{contact['id']}")
    assert after.status_code == 200 and after.get_json()["lists"] == []
    assert [x["name"] for x in api.get("/api/v1/lists").get_json()["lists"]] == ["Walkers"]


def test_another_organisations_names_are_separate(api, other_api, contact):
    api.post(f"/api/v1/contacts/{contact['id']}/tags", {"tag": "VIP"})
    api.post("/api/v1/lists", {"name": "Shared name"})
    assert other_api.get("/api/v1/tags").get_json()["tags"] == []
    assert other_api.get("/api/v1/lists").get_json()["lists"] == []
    # The same name in another organisation is another list, not a conflict.
    assert other_api.post("/api/v1/lists", {"name": "Shared name"}).status_code == 201
    their = other_api.post("/api/v1/contacts", {"phone": "+15550100001"}).get_json()
    denied = other_api.delete(f"/api/v1/contacts/{contact['id']}/tags", json={"tag": "VIP"})
    assert denied.status_code == 404 and denied.get_json()["error"]["field"] == "contact_id"
    missing = other_api.delete(f"/api/v1/contacts/{their['id']}/tags", json={"tag": "VIP"})
    assert missing.status_code == 404 and missing.get_json()["error"]["field"] == "tag"
    assert api.get(f"/api/v1/contacts/{contact['id']}").get_json()["tags"] == ["VIP"]


def test_routes_are_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    tags = paths["/api/v1/contacts/{contact_id}/tags"]
    assert set(tags) == {"post", "delete"}
    ref = tags["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/TagChange")
    lists_ref = paths["/api/v1/contacts/{contact_id}/lists"]["delete"]["requestBody"]
    assert lists_ref["content"]["application/json"]["schema"]["$ref"].endswith("/ListChange")
    assert doc["components"]["schemas"]["ListChange"]["required"] == ["list"]
    assert set(paths["/api/v1/lists"]) == {"get", "post"}
    assert set(paths["/api/v1/lists/{list_id}"]) == {"get", "patch", "delete"}
    assert "201" in paths["/api/v1/lists"]["post"]["responses"]
    assert "get" in paths["/api/v1/tags"]
