"""Contacts through the API: E.164 phones, custom fields (odd ones too), pages, history, tags and
lists."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin.extensions import db
from admin.models import (
    Contact,
    ContactList,
    ContactTag,
    HistoryEvent,
    ListMember,
    SyncOutbox,
    Tag,
)


def test_create_normalises_the_phone(api):
    resp = api.post(
        "/api/v1/contacts",
        {
            "phone": "(555) 123-4567",
            "first_name": " Ada ",
            "email": "ada@example.test",
            "fields": {"source": "sms", "age": 36},
        },
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["phone"] == "+15551234567"
    assert body["first_name"] == "Ada"
    assert body["fields"] == {"source": "sms", "age": "36"}
    assert body["tags"] == [] and body["lists"] == []
    row = db.session.get(Contact, body["id"])
    outbox = db.session.scalars(select(SyncOutbox).where(SyncOutbox.entity == "contact")).one()
    assert (outbox.entity_id, outbox.version) == (row.id, row.version)
    assert api.get(f"/api/v1/contacts/{body['id']}").get_json() == body


def test_international_and_bad_phones(api):
    ok = api.post("/api/v1/contacts", {"phone": "+44 20 7946 0958"})
    assert ok.get_json()["phone"] == "+442079460958"
    for bad in ["", "hello", "123", "+1555123456789012", 5]:
        resp = api.post("/api/v1/contacts", {"phone": bad})
        assert resp.status_code == 422, bad
        assert resp.get_json()["error"]["field"] == "phone"
    missing = api.post("/api/v1/contacts", {"first_name": "x"})
    assert missing.status_code == 422
    assert missing.get_json()["error"]["field"] == "phone"


def test_duplicate_phone_is_a_conflict(api, other_api):
    assert api.post("/api/v1/contacts", {"phone": "+15551234567"}).status_code == 201
    dup = api.post("/api/v1/contacts", {"phone": "555-123-4567"})
    assert dup.status_code == 409
    assert dup.get_json()["error"]["field"] == "phone"
    # Another organisation has its own contacts with the same phone.
    assert other_api.post("/api/v1/contacts", {"phone": "+15551234567"}).status_code == 201


def test_bad_fields_and_email(api):
    cases = [
        ({"email": "not-an-email"}, "email"),
        ({"fields": {"bad name": "x"}}, "fields.bad name"),
        ({"fields": {"x": True}}, "fields"),
        ({"fields": {"x": "a" * 1001}}, "fields.x"),
        ({"first_name": "a\x00b"}, "first_name"),
        ({"first_name": 3}, "first_name"),
    ]
    for extra, field in cases:
        resp = api.post("/api/v1/contacts", {"phone": "+15551234567", **extra})
        assert resp.status_code == 422, extra
        assert resp.get_json()["error"]["field"] == field, (extra, resp.get_json())


def test_patch_merges_fields_and_bumps_the_version(api):
    contact = api.post(
        "/api/v1/contacts", {"phone": "+15551234567", "fields": {"a": "1", "b": "2"}}
    ).get_json()
    before = db.session.get(Contact, contact["id"]).version
    resp = api.patch(
        f"/api/v1/contacts/{contact['id']}",
        {"first_name": "Bo", "fields": {"a": None, "c": "3"}},
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["first_name"] == "Bo"
    assert body["fields"] == {"b": "2", "c": "3"}
    assert body["phone"] == "+15551234567"
    db.session.expire_all()
    assert db.session.get(Contact, contact["id"]).version > before
    versions = db.session.scalars(
        select(SyncOutbox.version).where(SyncOutbox.entity == "contact").order_by(SyncOutbox.id)
    ).all()
    assert versions == [before, db.session.get(Contact, contact["id"]).version]


def test_patch_to_a_taken_phone_is_a_conflict(api):
    api.post("/api/v1/contacts", {"phone": "+15551230001"})
    second = api.post("/api/v1/contacts", {"phone": "+15551230002"}).get_json()
    resp = api.patch(f"/api/v1/contacts/{second['id']}", {"phone": "+15551230001"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["field"] == "phone"


def test_list_pages_through_contacts(api):
    ids = [
        api.post("/api/v1/contacts", {"phone": f"+1555123{i:04d}"}).get_json()["id"]
        for i in range(5)
    ]
    first = api.get("/api/v1/contacts?limit=2").get_json()
    assert [c["id"] for c in first["contacts"]] == ids[:2]
    second = api.get(f"/api/v1/contacts?limit=2&after={first['next_after']}").get_json()
    assert [c["id"] for c in second["contacts"]] == ids[2:4]
    last = api.get(f"/api/v1/contacts?limit=2&after={second['next_after']}").get_json()
    assert [c["id"] for c in last["contacts"]] == ids[4:]
    assert last["next_after"] is None
    by_phone = api.get("/api/v1/contacts?phone=555-123-0003").get_json()
    assert [c["id"] for c in by_phone["contacts"]] == [ids[3]]
    assert len(api.get("/api/v1/contacts?phone=").get_json()["contacts"]) == 5
    bad = api.get("/api/v1/contacts?limit=0")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "limit"


def test_tags_lists_and_history(api, org):
    contact = api.post("/api/v1/contacts", {"phone": "+15551234567"}).get_json()
    tag = Tag(org_id=org.org_id, name="vip")
    group = ContactList(org_id=org.org_id, name="Donors")
    db.session.add_all([tag, group])
    db.session.flush()
    db.session.add_all(
        [
            ContactTag(contact_id=contact["id"], tag_id=tag.id),
            ListMember(contact_id=contact["id"], list_id=group.id),
            HistoryEvent(
                org_id=org.org_id, contact_id=contact["id"], type="whisper", body="second"
            ),
        ]
    )
    db.session.commit()
    db.session.add(
        HistoryEvent(org_id=org.org_id, contact_id=contact["id"], type="whisper", body="third")
    )
    db.session.commit()
    body = api.get(f"/api/v1/contacts/{contact['id']}").get_json()
    assert body["tags"] == ["vip"] and body["lists"] == ["Donors"]
    events = api.get(f"/api/v1/contacts/{contact['id']}/history").get_json()["events"]
    assert [e["text"] for e in events] == ["second", "third"]
    assert set(events[0]) == {"type", "text", "at", "link_id"}
    assert events[0]["type"] == "whisper" and events[0]["link_id"] is None


# Custom fields with odd names and values: a 422 naming the field, or stored; never a 500.
ODD_FIELDS = [
    {"\x00": "x"},
    {"a\x00": "x"},
    {"": "x"},
    {"a" * 10_000: "x"},
    {"x": ["list"]},
    {"x": {"nested": 1}},
    {"x": 10**30},
    {"x": None},
    {"\ud800": "x"},
    {f"k{i}": "v" for i in range(5000)},
    {"x.y": "v"},
    {"{{x}}": "v"},
    {"x": "\u202e\u0000"},
]


@pytest.mark.parametrize("fields", ODD_FIELDS, ids=range(len(ODD_FIELDS)))
def test_odd_custom_fields(api, fields):
    resp = api.post("/api/v1/contacts", {"phone": "+15551230002", "fields": fields})
    assert resp.status_code in (201, 400, 413, 422), resp.status_code
    if resp.status_code == 422:
        assert (resp.get_json()["error"]["field"] or "").startswith("fields")
    created = api.post("/api/v1/contacts", {"phone": "+15551230003"}).get_json()
    resp = api.patch(f"/api/v1/contacts/{created['id']}", {"fields": fields})
    assert resp.status_code in (200, 400, 413, 422), resp.status_code
