"""Safe sending through the API: the confirmation (recipients, opted-out and unreachable left
out, segments, cost per provider), a test send, scheduling, quiet hours in the recipient's
time zone, and cancel before send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from admin.extensions import db
from admin.models import Message
from admin.sender.worker import Sender
from admin.services import quiet_hours
from admin.services.broadcasts_recipients import READ_CHUNK
from tests.sync.clicks.helpers import make_contacts


def fail_latest(contact_id: int) -> None:
    """The carrier refused the contact's latest message (as a status callback records it)."""
    db.session.execute(
        text(
            "INSERT INTO messages (org_id, contact_id, direction, to_phone, body, status)"
            " SELECT org_id, id, 'out', phone, 'earlier', 'undelivered' FROM contacts"
            " WHERE id = :c"
        ),
        {"c": contact_id},
    )
    db.session.commit()


def of_broadcast(broadcast_id: int) -> list[Message]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Message).where(Message.broadcast_id == broadcast_id).order_by(Message.id)
        )
    )


def drain_sender(http) -> Sender:
    sender = Sender(http=http, public_admin_url="https://admin.example.test")
    while sender.step(burst=False):
        pass
    return sender


def test_the_confirmation_counts_an_audience_read_in_several_chunks(api, org, link):
    """The confirmation streams its audience READ_CHUNK rows at a time (flat memory for
    millions): who is left out, counted across the chunks' edges, and the first recipient's
    sample."""
    n = READ_CHUNK * 2 + 5
    ids = make_contacts(org.org_id, n)
    opted_out = [ids[0], ids[READ_CHUNK], ids[-1]]
    db.session.execute(
        text("UPDATE contacts SET opted_out = true WHERE id = ANY(:ids)"), {"ids": opted_out}
    )
    db.session.commit()
    for contact_id in (ids[READ_CHUNK - 1], ids[2 * READ_CHUNK]):
        fail_latest(contact_id)
    body = {"body": "Hi {{first_name}}: {{link}}", "link_id": link["id"], "contact_ids": ids,
            "quiet_hours": False}  # fmt: skip
    preview = api.post("/api/v1/broadcasts/preview", body).get_json()
    assert (preview["recipients"], preview["opted_out"], preview["unreachable"]) == (n - 5, 3, 2)
    assert preview["segments_total"] == n - 5
    assert preview["sample"].startswith("Hi First1: https://go.example.test/")
    assert f"{n - 5} recipients hear from you for the first time" in " ".join(preview["warnings"])


def test_confirmation_names_who_is_left_out_and_the_cost(api, link, make_contact):
    ana, bob, cy = make_contact("Ana"), make_contact("Bob"), make_contact("Cy")
    api.patch(f"/api/v1/contacts/{bob['id']}", {"opted_out": True})
    fail_latest(cy["id"])
    body = {"body": "Hi {{first_name}}: {{link}}", "link_id": link["id"],
            "contact_ids": [ana["id"], bob["id"], cy["id"]], "quiet_hours": False}  # fmt: skip
    preview = api.post("/api/v1/broadcasts/preview", body).get_json()
    assert (preview["recipients"], preview["opted_out"], preview["unreachable"]) == (1, 1, 1)
    assert preview["segments"] == 1 and preview["segments_total"] == 1
    assert preview["cost"] == {
        "currency": "USD", "provider": "outbox", "note": "before carrier fees",
        "per_provider": {"outbox": 0.0, "twilio": 0.0083},
    }  # fmt: skip
    assert preview["sample"].startswith("Hi Ana: https://go.example.test/")
    created = api.post("/api/v1/broadcasts", body).get_json()
    assert created["messages"] == 1 and created["opted_out"] == 1
    shown = api.get(f"/api/v1/broadcasts/{created['id']}").get_json()
    assert shown["audience"]["unreachable"] == 1 and shown["status"] == "queued"
    assert [m.contact_id for m in of_broadcast(created["id"])] == [ana["id"]]


def test_a_test_send_goes_now_to_a_chosen_contact_or_a_phone(api, link, make_contact):
    ana = make_contact("Ana")
    body = {"body": "Hi {{first_name}}: {{link}}", "link_id": link["id"]}
    sent = api.post("/api/v1/broadcasts/test", {**body, "contact_id": ana["id"]})
    assert sent.status_code == 201, sent.get_json()
    issued = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [ana["id"]]})
    assert sent.get_json()["body"] == f"Hi Ana: {issued.get_json()['urls'][0]['url']}"
    assert sent.get_json()["broadcast_id"] is None and sent.get_json()["status"] == "queued"
    mine = api.post("/api/v1/broadcasts/test", {**body, "phone": "+1 (555) 010-9999"})
    assert mine.status_code == 201 and mine.get_json()["to"] == "+15550109999"
    assert mine.get_json()["body"].startswith("Hi Test send: https://go.example.test/")
    again = api.post("/api/v1/broadcasts/test", {**body, "phone": "+15550109999"})
    assert again.get_json()["contact_id"] == mine.get_json()["contact_id"]
    api.patch(f"/api/v1/contacts/{ana['id']}", {"opted_out": True})
    refused = api.post("/api/v1/broadcasts/test", {**body, "contact_id": ana["id"]})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "contact_id"
    nobody = api.post("/api/v1/broadcasts/test", body)
    assert nobody.status_code == 422 and nobody.get_json()["error"]["field"] == "contact_id"


def test_scheduled_broadcast_waits_then_cancel_stops_it(api, make_contact, http):
    ids = [make_contact(n)["id"] for n in ("Ana", "Bob")]
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    body = {"body": "Doors at 7", "contact_ids": ids, "send_at": at.isoformat(),
            "quiet_hours": False}  # fmt: skip
    created = api.post("/api/v1/broadcasts", body)
    assert created.status_code == 201, created.get_json()
    broadcast_id = created.get_json()["id"]
    shown = api.get(f"/api/v1/broadcasts/{broadcast_id}").get_json()
    assert shown["status"] == "scheduled"
    assert datetime.fromisoformat(shown["send_at"]) == at
    assert {m.next_attempt_at for m in of_broadcast(broadcast_id)} == {at}
    drain_sender(http)
    assert {m.status for m in of_broadcast(broadcast_id)} == {"queued"}  # not yet
    canceled = api.post(f"/api/v1/broadcasts/{broadcast_id}/cancel")
    assert canceled.get_json() == {"id": broadcast_id, "status": "canceled", "canceled": 2}
    assert api.post(f"/api/v1/broadcasts/{broadcast_id}/cancel").status_code == 409
    db.session.execute(text("UPDATE messages SET next_attempt_at = now() - interval '1 minute'"))
    db.session.commit()
    drain_sender(http)
    assert {m.status for m in of_broadcast(broadcast_id)} == {"canceled"}
    # A due broadcast sends; once every message has gone, there is nothing to cancel.
    sent = api.post("/api/v1/broadcasts", {**body, "send_at": None}).get_json()
    drain_sender(http)
    assert {m.status for m in of_broadcast(sent["id"])} == {"sent"}
    late = api.post(f"/api/v1/broadcasts/{sent['id']}/cancel")
    assert late.status_code == 409 and late.get_json()["error"]["field"] == "broadcast_id"
    assert api.post("/api/v1/broadcasts/424242/cancel").status_code == 404


def test_send_at_is_validated(api, make_contact):
    ids = [make_contact("Ana")["id"]]
    for value, _why in [("tomorrow", "RFC 3339"), ("2030-01-01T10:00:00", "offset"),
                       ("2001-01-01T10:00:00Z", "past"), ("2999-01-01T10:00:00Z", "year")]:  # fmt: skip
        resp = api.post("/api/v1/broadcasts", {"body": "x", "contact_ids": ids, "send_at": value})
        assert resp.status_code == 422, value
        assert resp.get_json()["error"]["field"] == "send_at"
    bad = api.post("/api/v1/broadcasts", {"body": "x", "contact_ids": ids, "quiet_hours": "no"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "quiet_hours"


def test_quiet_hours_hold_each_message_until_8_local(api, make_contact):
    tokyo = make_contact("Tokyo", fields={"time_zone": "Asia/Tokyo"})
    new_york = make_contact("NY", phone="+12125550147")  # area code 212: New York
    honolulu = make_contact("HI", phone="+18085550147")  # area code 808: Hawaii
    # Toll-free: no zone of its own, so the four continental US zones.
    unknown = make_contact("Toll-free", phone="+18005550147")
    fiction = make_contact("Fiction")  # a 555 number is no valid number: no area code, no hold
    ids = [tokyo["id"], new_york["id"], honolulu["id"], unknown["id"], fiction["id"]]
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    at = datetime(day.year, day.month, day.day, 14, 0, tzinfo=UTC)  # 23:00 Tokyo, 9-10 NY
    body = {"body": "Rally tonight", "contact_ids": ids, "send_at": at.isoformat()}
    preview = api.post("/api/v1/broadcasts/preview", body).get_json()
    assert preview["held_by_quiet_hours"] == 3 and preview["quiet_hours"] is True
    created = api.post("/api/v1/broadcasts", body).get_json()
    due = {m.contact_id: m.next_attempt_at for m in of_broadcast(created["id"])}
    assert due[new_york["id"]] == at  # 9:00 or 10:00 in New York: in the window
    assert due[fiction["id"]] == at
    assert due[tokyo["id"]] == datetime(day.year, day.month, day.day, 23, 0, tzinfo=UTC)
    assert due[tokyo["id"]].astimezone(quiet_hours._zone("Asia/Tokyo")).hour == 8
    assert due[honolulu["id"]].astimezone(quiet_hours._zone("Pacific/Honolulu")).hour == 8
    # 8:00 in Los Angeles, the last of the continental zones to open.
    assert due[unknown["id"]].astimezone(quiet_hours._zone("America/Los_Angeles")).hour == 8
    # Without quiet hours every message is due at send_at.
    loud = api.post("/api/v1/broadcasts", {**body, "quiet_hours": False}).get_json()
    assert {m.next_attempt_at for m in of_broadcast(loud["id"])} == {at}


def test_window_closes_at_21_local():
    zones = ("America/New_York",)
    evening = datetime(2030, 6, 3, 1, 30, tzinfo=UTC)  # 21:30 in New York (EDT)
    opens = quiet_hours.window_opens(evening, zones)
    assert opens == datetime(2030, 6, 3, 12, 0, tzinfo=UTC)  # 8:00 EDT
    assert quiet_hours.window_opens(datetime(2030, 6, 3, 0, 59, tzinfo=UTC), zones).hour == 0
    assert quiet_hours.zones_of("+12125550147", {"time_zone": "Not/AZone"}) == zones


def test_compose_lint_warns_about_first_contact_and_unverified_domains(api, link, make_contact):
    ana = make_contact("Ana")
    body = {"body": "Hi {{first_name}}: {{link}}", "link_id": link["id"],
            "contact_ids": [ana["id"]], "quiet_hours": False}  # fmt: skip
    warnings = api.post("/api/v1/broadcasts/preview", body).get_json()["warnings"]
    assert warnings == [
        "1 recipient hear from you for the first time: name Acme Campaign in the message.",
        'A first message should say how to opt out ("Reply STOP to opt out").',
        "The link is on go.example.test, which is not verified: carriers filter links on "
        "domains that are not your own verified ones.",
    ]
    db.session.execute(text("UPDATE domains SET verified_at = now()"))
    db.session.commit()
    named = {**body, "body": "Acme Campaign: hi {{first_name}} {{link}} Reply STOP to opt out"}
    assert api.post("/api/v1/broadcasts/preview", named).get_json()["warnings"] == []
    assert api.post("/api/v1/broadcasts", body).status_code == 201
    # Not a first contact any more: only a first message must name the organisation.
    assert api.post("/api/v1/broadcasts/preview", body).get_json()["warnings"] == []
