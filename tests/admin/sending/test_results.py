"""Results per broadcast through the API: delivered, failed, clicked (unique, through the real
drain), click rate, opted out after it, replies; and a follow-up to a segment in one step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from admin.extensions import db
from admin.models import Domain, Message
from admin.sender.worker import Sender
from admin.services import provider_events
from tests.sync.clicks.helpers import click_fields, record_clicks


def clicks(clean: Any, org_id: int, link: dict[str, Any], contact_ids: list[int]) -> None:
    """People's clicks on their own URLs, through the edge's stream format and the drain."""
    domain_id = db.session.scalar(select(Domain.id).where(Domain.hostname == link["domain"]))
    entries = [click_fields(link["id"], c, domain_id) for c in contact_ids]
    entries.append(click_fields(link["id"], contact_ids[0], domain_id))  # twice: one unique
    record_clicks(clean.redis_url, clean.database_url, entries)


def deliver(org_id: int, broadcast_id: int, statuses: dict[int, str]) -> None:
    """Delivery callbacks, as the provider sends them, by message."""
    db.session.expire_all()
    for message in db.session.scalars(select(Message).where(Message.broadcast_id == broadcast_id)):
        if message.contact_id in statuses:
            provider_events.delivery_status(
                org_id, message.provider_message_id, statuses[message.contact_id]
            )


def test_results_and_a_follow_up_to_those_who_did_not_click(
    api, org, clean, link, make_contact, http
):
    people = [make_contact(n) for n in ("Ana", "Bob", "Cy", "Dee", "Eve")]
    ana, bob, cy, dee, eve = (p["id"] for p in people)
    created = api.post(
        "/api/v1/broadcasts",
        {"body": "Hi {{first_name}}: {{link}}", "link_id": link["id"],
         "contact_ids": [ana, bob, cy, dee, eve], "quiet_hours": False, "source": "gala-1"},
    ).get_json()  # fmt: skip
    sender = Sender(http=http, public_admin_url="https://admin.example.test")
    while sender.step():
        pass
    deliver(org.org_id, created["id"], {ana: "delivered", bob: "delivered", cy: "delivered",
                                        dee: "delivered", eve: "failed"})  # fmt: skip
    clicks(clean, org.org_id, link, [ana, bob])
    api.post("/api/v1/messages/inbound", {"contact_id": cy, "body": "What time?"})
    api.post("/api/v1/messages/inbound", {"contact_id": dee, "body": "STOP"})
    assert api.get(f"/api/v1/broadcasts/{created['id']}").get_json()["source"] == "gala-1"
    results = api.get(f"/api/v1/broadcasts/{created['id']}/results")
    assert results.status_code == 200
    got = results.get_json()
    print("RESULTS", got)
    # The broadcast itself says what its results say: nothing is left to send.
    shown = api.get(f"/api/v1/broadcasts/{created['id']}").get_json()
    assert got["status"] == shown["status"] == "done"
    assert api.get("/api/v1/broadcasts").get_json()["broadcasts"][0]["status"] == "done"
    assert {k: got[k] for k in ("messages", "sent", "delivered", "failed", "pending", "clicked",
                                "click_rate", "opted_out_after", "replied")} == {
        "messages": 5, "sent": 4, "delivered": 4, "failed": 1, "pending": 0, "clicked": 2,
        "click_rate": 0.5, "opted_out_after": 1, "replied": 2,
    }  # fmt: skip
    assert got["segments"]["did_not_click"] == {
        "follow_up": {"broadcast_id": created["id"], "segment": "did_not_click"}
    }
    # A follow-up in one step: the segment as recipients (Dee opted out: left out).
    follow = {"body": "Last call, {{first_name}}", "quiet_hours": False,
              **got["segments"]["did_not_click"]}  # fmt: skip
    preview = api.post("/api/v1/broadcasts/preview", follow).get_json()
    assert (preview["recipients"], preview["opted_out"]) == (1, 1)
    second = api.post("/api/v1/broadcasts", follow)
    assert second.status_code == 201, second.get_json()
    to = api.get(f"/api/v1/broadcasts/{second.get_json()['id']}/messages").get_json()["messages"]
    assert [(m["contact_id"], m["body"]) for m in to] == [(cy, "Last call, Cy")]
    shown = api.get(f"/api/v1/broadcasts/{second.get_json()['id']}").get_json()
    assert shown["audience"]["follow_up"] == {"broadcast_id": created["id"],
                                              "segment": "did_not_click"}  # fmt: skip
    clicked = api.post("/api/v1/broadcasts/preview", {**follow, "follow_up": {
        "broadcast_id": created["id"], "segment": "clicked"}}).get_json()  # fmt: skip
    assert clicked["recipients"] == 2
    replied = api.post("/api/v1/broadcasts/preview", {**follow, "follow_up": {
        "broadcast_id": created["id"], "segment": "replied"}}).get_json()  # fmt: skip
    assert (replied["recipients"], replied["opted_out"]) == (1, 1)


def test_follow_up_is_validated(api, other_api, make_contact):
    ana = make_contact("Ana")
    created = api.post("/api/v1/broadcasts", {"body": "x", "contact_ids": [ana["id"]]}).get_json()
    for follow_up, field in [({"broadcast_id": created["id"], "segment": "bored"}, "follow_up"),
                             ({"broadcast_id": 424242, "segment": "clicked"}, "broadcast_id")]:  # fmt: skip
        resp = api.post("/api/v1/broadcasts", {"body": "x", "follow_up": follow_up})
        assert resp.status_code in (404, 422) and field in resp.get_json()["error"]["field"]
    # Nobody clicked yet: an empty segment is refused, naming it.
    empty = api.post("/api/v1/broadcasts", {"body": "x", "follow_up": {
        "broadcast_id": created["id"], "segment": "clicked"}})  # fmt: skip
    assert empty.status_code == 422 and empty.get_json()["error"]["field"] == "follow_up.segment"
    assert other_api.get(f"/api/v1/broadcasts/{created['id']}/results").status_code == 404


def test_source_is_validated(api, make_contact):
    ana = make_contact("Ana")
    resp = api.post("/api/v1/broadcasts", {"body": "x", "contact_ids": [ana["id"]], "source": "x" * 65})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "source"
