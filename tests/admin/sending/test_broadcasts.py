"""Broadcasts through the API, as the contract says: one message per contact with that
contact's own short URL, merge fields as plain text, lists and tags, opted-out contacts
skipped, a segment count before sending, and every message in the contact's history."""

from __future__ import annotations

from sqlalchemy import func, select, text

from admin.extensions import db
from admin.models import HistoryEntry, Message, SyncOutbox
from admin.services import broadcasts_recipients
from tests.helpers.sending import put_in


def test_broadcast_sends_each_contact_their_own_url(api, link, make_contact):
    ana = make_contact("Ana")
    bob = make_contact("Bob & Co/ü")  # merged as text: no percent-encoding in a message
    body = "Hi {{first_name}}, RSVP: {{link}}"
    resp = api.post(
        "/api/v1/broadcasts",
        {"body": body, "link_id": link["id"], "contact_ids": [ana["id"], bob["id"]]},
    )
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["messages"] == 2 and created["opted_out"] == 0

    messages = api.get(f"/api/v1/broadcasts/{created['id']}/messages").get_json()["messages"]
    issued = api.post(
        f"/api/v1/links/{link['id']}/issue", {"contact_ids": [ana["id"], bob["id"]]}
    ).get_json()["urls"]
    url_of = {u["contact_id"]: u["url"] for u in issued}
    assert url_of[ana["id"]] != url_of[bob["id"]]
    assert all(
        u.startswith("https://go.example.test/") and u.endswith("/gala2021")
        for u in url_of.values()
    )
    by_contact = {m["contact_id"]: m for m in messages}
    assert by_contact[ana["id"]]["body"] == f"Hi Ana, RSVP: {url_of[ana['id']]}"
    assert by_contact[bob["id"]]["body"] == f"Hi Bob & Co/ü, RSVP: {url_of[bob['id']]}"
    assert by_contact[ana["id"]]["to"] == ana["phone"]
    assert {m["status"] for m in messages} == {"queued"}
    assert by_contact[ana["id"]]["encoding"] == "GSM-7"
    assert by_contact[bob["id"]]["encoding"] == "GSM-7"  # ü is in the GSM-7 alphabet

    history = api.get(f"/api/v1/contacts/{ana['id']}/history").get_json()["events"]
    assert [(e["type"], e["text"], e["link_id"]) for e in history] == [
        ("message_out", by_contact[ana["id"]]["body"], link["id"])
    ]
    event = db.session.scalars(
        select(HistoryEntry).where(HistoryEntry.contact_id == ana["id"])
    ).one()
    assert event.message_id == by_contact[ana["id"]]["id"]

    summary = api.get(f"/api/v1/broadcasts/{created['id']}").get_json()
    assert summary["messages"] == 2 and summary["statuses"] == {"queued": 2}


def test_list_tag_union_and_opted_out_skipped(api, org, link, make_contact):
    ana, bob, cy, dee = (make_contact(n) for n in ("Ana", "Bob", "Cy", "Dee"))
    put_in(org.org_id, ana["id"], list_="Volunteers")
    put_in(org.org_id, bob["id"], list_="Volunteers", tag="vip")
    put_in(org.org_id, cy["id"], tag="vip")
    assert api.patch(f"/api/v1/contacts/{cy['id']}", {"opted_out": True}).status_code == 200

    by_list = {"body": "RSVP {{link}}", "link_id": link["id"], "list": "Volunteers"}
    preview = api.post("/api/v1/broadcasts/preview", by_list).get_json()
    assert (preview["recipients"], preview["opted_out"]) == (2, 0)
    created = api.post("/api/v1/broadcasts", by_list).get_json()
    assert created["messages"] == 2
    sent_to = {
        m["contact_id"]
        for m in api.get(f"/api/v1/broadcasts/{created['id']}/messages").get_json()["messages"]
    }
    assert sent_to == {ana["id"], bob["id"]}

    by_tag = api.post(
        "/api/v1/broadcasts", {"body": "RSVP {{link}}", "link_id": link["id"], "tag": "vip"}
    )
    assert by_tag.get_json()["messages"] == 1 and by_tag.get_json()["opted_out"] == 1

    both = api.post(
        "/api/v1/broadcasts",
        {"body": "RSVP {{link}}", "link_id": link["id"], "tag": "vip", "contact_ids": [dee["id"]]},
    ).get_json()
    assert both["messages"] == 2 and both["opted_out"] == 1  # bob and dee; cy opted out
    assert (
        db.session.scalar(select(Message.id).where(Message.contact_id == cy["id"])) is None
    )  # an opted-out contact never gets a message


def test_a_broadcast_is_queued_chunk_by_chunk(api, link, make_contact, monkeypatch):
    """Recipients stream in chunks (2 here, 50,000 in use): every chunk's codes, messages and
    counts add up as one, and a contact's code issued before is the one its message carries."""
    monkeypatch.setattr(broadcasts_recipients, "CHUNK", 2)
    ids = [make_contact(n)["id"] for n in ("Ana", "Bob", "Cy", "Dee", "Eve")]
    assert api.patch(f"/api/v1/contacts/{ids[1]}", {"opted_out": True}).status_code == 200
    issued = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [ids[2]]})
    cy_url = issued.get_json()["urls"][0]["url"]
    outbox_before = db.session.scalar(select(func.count()).select_from(SyncOutbox))
    created = api.post("/api/v1/broadcasts", {"body": "Hi {{first_name}} {{link}}",
                                              "link_id": link["id"], "contact_ids": ids})  # fmt: skip
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["messages"], created.get_json()["opted_out"]) == (4, 1)
    broadcast_id = created.get_json()["id"]
    messages = api.get(f"/api/v1/broadcasts/{broadcast_id}/messages").get_json()["messages"]
    assert [m["contact_id"] for m in messages] == [ids[0], ids[2], ids[3], ids[4]]
    assert messages[1]["body"] == f"Hi Cy {cy_url}"
    urls = {m["body"].split(" ")[2] for m in messages}
    assert len(urls) == 4 and all(u.startswith("https://go.example.test/") for u in urls)
    again = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": ids[2:]}).get_json()
    assert {u["url"] for u in again["urls"]} <= urls  # the codes the messages carry
    events = db.session.scalar(
        select(func.count()).select_from(HistoryEntry).where(HistoryEntry.type == "message_out")
    )
    assert events == 4
    # The three new codes went to the outbox: one row per chunk that issued any (Ana; Dee;
    # Eve: Bob opted out, Cy had his).
    new_rows = db.session.scalars(
        select(SyncOutbox.payload).where(SyncOutbox.entity == "codes").order_by(SyncOutbox.id)
    ).all()[-3:]
    assert sorted(c for row in new_rows for c in row["codes"]) == sorted(
        u.split("/")[3] for u in urls if u != cy_url
    )
    assert db.session.scalar(select(func.count()).select_from(SyncOutbox)) == outbox_before + 3
    shown = api.get(f"/api/v1/broadcasts/{broadcast_id}").get_json()
    assert (shown["messages"], shown["opted_out"], shown["status"]) == (4, 1, "queued")


def test_preview_counts_segments_before_sending(api, link, make_contact):
    short = make_contact("Al")
    make_contact("A" * 150)  # a long name makes that contact's message two parts
    body = {
        "body": "Hi {{first_name}} {{link}}",
        "link_id": link["id"],
        "contact_ids": [short["id"]],
    }
    preview = api.post("/api/v1/broadcasts/preview", body).get_json()
    url_length = len("https://go.example.test/") + 7 + len("/gala2021")
    assert preview["recipients"] == 1 and preview["segments"] == 1
    assert preview["characters"] == len("Hi Al ") + url_length
    assert preview["encoding"] == "GSM-7"
    assert preview["sample"].startswith("Hi Al https://go.example.test/")

    contacts = api.get("/api/v1/contacts").get_json()["contacts"]
    everyone = {**body, "contact_ids": [c["id"] for c in contacts]}
    preview = api.post("/api/v1/broadcasts/preview", everyone).get_json()
    assert (preview["segments"], preview["segments_min"], preview["segments_total"]) == (2, 1, 3)

    same_for_all = api.post(
        "/api/v1/broadcasts/preview", {**everyone, "body": "Party! {{link}}"}
    ).get_json()
    assert (same_for_all["recipients"], same_for_all["segments_total"]) == (2, 2)

    emoji = {**body, "body": "Party 🎉 {{link}}"}
    preview = api.post("/api/v1/broadcasts/preview", emoji).get_json()
    assert preview["encoding"] == "UCS-2" and preview["segments"] == 1
    assert db.session.scalar(select(Message.id)) is None  # a preview sends nothing


def test_broadcast_without_a_link(api, make_contact):
    ana = make_contact("Ana")
    resp = api.post(
        "/api/v1/broadcasts",
        {"body": "Doors open at 7, {{first_name|friend}}", "contact_ids": [ana["id"]]},
    )
    assert resp.status_code == 201
    (message,) = api.get(f"/api/v1/broadcasts/{resp.get_json()['id']}/messages").get_json()[
        "messages"
    ]
    assert message["body"] == "Doors open at 7, Ana"


def test_bad_input_names_the_field(api, other_api, link, make_contact):
    ana = make_contact("Ana")
    ok = {"body": "Hi {{link}}", "link_id": link["id"], "contact_ids": [ana["id"]]}
    cases = [
        ({**ok, "body": "Hi {{nickname}} {{link}}"}, 422, "body"),
        ({**ok, "body": "Hi {{link"}, 422, "body"),
        ({**ok, "body": "no link here"}, 422, "body"),
        ({**ok, "body": ""}, 422, "body"),
        ({**ok, "body": 5}, 422, "body"),
        ({**ok, "body": "nul \u0000 {{link}}"}, 422, "body"),
        ({k: v for k, v in ok.items() if k != "link_id"}, 422, "link_id"),
        ({**ok, "link_id": 999999}, 404, "link_id"),
        ({**ok, "contact_ids": [999999]}, 404, "contact_ids"),
        ({**ok, "contact_ids": ["x"]}, 422, "contact_ids[0]"),
        ({"body": "Hi {{link}}", "link_id": link["id"]}, 422, "contact_ids"),
        ({"body": "Hi {{link}}", "link_id": link["id"], "list": "Nobody"}, 404, "list"),
        ({"body": "Hi {{link}}", "link_id": link["id"], "tag": "nope"}, 404, "tag"),
    ]
    for body, status, field in cases:
        for path in ("/api/v1/broadcasts", "/api/v1/broadcasts/preview"):
            resp = api.post(path, body)
            assert resp.status_code == status, (path, body, resp.get_json())
            assert resp.get_json()["error"]["field"] == field, (body, resp.get_json())
    assert (
        api.post("/api/v1/broadcasts", data="nope", content_type="application/json").status_code
        == 400
    )

    # Another organisation sees neither the link, nor the contacts, nor the broadcast.
    created = api.post("/api/v1/broadcasts", ok).get_json()
    assert other_api.get(f"/api/v1/broadcasts/{created['id']}").status_code == 404
    assert other_api.get(f"/api/v1/broadcasts/{created['id']}/messages").status_code == 404
    assert other_api.post("/api/v1/broadcasts", ok).status_code == 404
    assert api.get("/api/v1/broadcasts/999/messages").status_code == 404


def test_archived_link_cannot_be_sent(api, link, make_contact):
    ana = make_contact("Ana")
    assert api.patch(f"/api/v1/links/{link['id']}", {"archived": True}).status_code == 200
    resp = api.post(
        "/api/v1/broadcasts",
        {"body": "{{link}}", "link_id": link["id"], "contact_ids": [ana["id"]]},
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "link_id"


def test_everyone_opted_out_is_refused(api, link, make_contact):
    ana = make_contact("Ana", opted_out=True)
    resp = api.post(
        "/api/v1/broadcasts",
        {"body": "{{link}}", "link_id": link["id"], "contact_ids": [ana["id"]]},
    )
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "contact_ids"
    assert "1 opted out" in resp.get_json()["error"]["message"]


def test_messages_page_through(api, link, make_contact):
    ids = [make_contact(f"C{i}")["id"] for i in range(5)]
    created = api.post(
        "/api/v1/broadcasts", {"body": "{{link}}", "link_id": link["id"], "contact_ids": ids}
    ).get_json()
    first = api.get(f"/api/v1/broadcasts/{created['id']}/messages?limit=3").get_json()["messages"]
    rest = api.get(
        f"/api/v1/broadcasts/{created['id']}/messages?after={first[-1]['id']}"
    ).get_json()["messages"]
    assert [m["contact_id"] for m in first + rest] == ids
    assert api.get(f"/api/v1/broadcasts/{created['id']}/messages?limit=0").status_code == 422


def test_deleting_a_parent_still_cascades_to_messages_and_codes(api, org, link, make_contact):
    """messages and issued_codes have no foreign keys to their organisation, link and broadcast
    (migration 0011_broadcast_bulk): triggers on those parents keep the ON DELETE actions."""
    ids = [make_contact(n)["id"] for n in ("Ana", "Bob")]
    post = {"body": "Hi {{link}}", "link_id": link["id"], "contact_ids": ids}
    first, second = (api.post("/api/v1/broadcasts", post).get_json()["id"] for _ in range(2))

    def count(sql: str, **params: int) -> int:
        return int(db.session.scalar(text(sql), params))

    db.session.execute(text("DELETE FROM broadcasts WHERE id = :b"), {"b": first})
    assert count("SELECT count(*) FROM messages WHERE broadcast_id = :b", b=first) == 0
    assert count("SELECT count(*) FROM messages WHERE broadcast_id = :b", b=second) == 2
    assert count("SELECT count(*) FROM issued_codes WHERE link_id = :l", l=link["id"]) == 3
    db.session.execute(text("DELETE FROM links WHERE id = :l"), {"l": link["id"]})
    assert count("SELECT count(*) FROM issued_codes WHERE link_id = :l", l=link["id"]) == 0
    assert count(  # SET NULL: the messages stay, without their link
        "SELECT count(*) FROM messages WHERE broadcast_id = :b AND link_id IS NULL", b=second
    ) == 2
    db.session.execute(text("DELETE FROM organisations WHERE id = :o"), {"o": org.org_id})
    assert count("SELECT count(*) FROM messages WHERE org_id = :o", o=org.org_id) == 0
    db.session.rollback()
