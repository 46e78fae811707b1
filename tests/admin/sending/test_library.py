"""Library actions: saved replies holding a smart link, sent from a conversation, or fired by
a contact's keyword reply (simulated, and through Twilio's signed inbound webhook)."""

from __future__ import annotations

from sqlalchemy import select

from admin.extensions import db
from admin.models import Contact, Message
from admin.providers.twilio import signature


def urls_of(api, link_id, contact_id):
    resp = api.post(f"/api/v1/links/{link_id}/issue", {"contact_ids": [contact_id]})
    return resp.get_json()["urls"][0]["url"]


def save_action(api, link, **extra):
    body = {
        "name": "Gala invite",
        "body": "Hi {{first_name}}! Tickets: {{link}}",
        "link_id": link["id"],
        **extra,
    }
    resp = api.post("/api/v1/library", body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_crud_and_send_from_a_conversation(api, other_api, link, make_contact):
    ana = make_contact("Ana")
    action = save_action(api, link, keyword=" Gala ")
    assert action["keyword"] == "gala"
    assert api.get("/api/v1/library").get_json()["actions"] == [action]

    sent = api.post(f"/api/v1/library/{action['id']}/send", {"contact_id": ana["id"]})
    assert sent.status_code == 201, sent.get_json()
    message = sent.get_json()
    assert message["body"] == f"Hi Ana! Tickets: {urls_of(api, link['id'], ana['id'])}"
    assert message["library_action_id"] == action["id"] and message["status"] == "queued"
    events = api.get(f"/api/v1/contacts/{ana['id']}/history").get_json()["events"]
    assert [(e["type"], e["text"]) for e in events] == [("message_out", message["body"])]

    changed = api.patch(
        f"/api/v1/library/{action['id']}", {"body": "New: {{link}}", "keyword": None}
    )
    assert changed.status_code == 200 and changed.get_json()["keyword"] is None
    assert other_api.get(f"/api/v1/library/{action['id']}").status_code == 404
    assert (
        other_api.post(
            f"/api/v1/library/{action['id']}/send", {"contact_id": ana["id"]}
        ).status_code
        == 404
    )
    assert api.delete(f"/api/v1/library/{action['id']}").status_code == 204
    assert api.get(f"/api/v1/library/{action['id']}").status_code == 404


def test_bad_actions_name_the_field(api, link):
    save_action(api, link, keyword="gala")
    cases = [
        ({"name": "", "body": "{{link}}", "link_id": link["id"]}, 422, "name"),
        ({"name": "a\u0000", "body": "{{link}}", "link_id": link["id"]}, 422, "name"),
        ({"name": "x", "body": "no link", "link_id": link["id"]}, 422, "body"),
        ({"name": "x", "body": "{{link}}"}, 422, "link_id"),
        (
            {"name": "x", "body": "{{link}}", "link_id": link["id"], "keyword": "two words"},
            422,
            "keyword",
        ),
        (
            {"name": "x", "body": "{{link}}", "link_id": link["id"], "keyword": "STOP"},
            422,
            "keyword",
        ),
        (
            {"name": "x", "body": "{{link}}", "link_id": link["id"], "keyword": "GALA"},
            409,
            "keyword",
        ),
    ]
    for body, status, field in cases:
        resp = api.post("/api/v1/library", body)
        assert resp.status_code == status and resp.get_json()["error"]["field"] == field, (
            body,
            resp.get_json(),
        )


def test_keyword_reply_fires_the_action(api, link, make_contact):
    ana = make_contact("Ana")
    action = save_action(api, link, keyword="gala")
    reply = api.post("/api/v1/messages/inbound", {"contact_id": ana["id"], "body": "  GaLa "})
    assert reply.status_code == 201, reply.get_json()
    result = reply.get_json()
    assert result["library_action_id"] == action["id"] and result["reply_message_id"]
    answer = api.get(f"/api/v1/messages/{result['reply_message_id']}").get_json()
    assert answer["body"] == f"Hi Ana! Tickets: {urls_of(api, link['id'], ana['id'])}"
    assert answer["to"] == ana["phone"]

    # Anything but the exact keyword is just a reply.
    other = api.post(
        "/api/v1/messages/inbound", {"from": ana["phone"], "body": "gala please"}
    ).get_json()
    assert other["reply_message_id"] is None and other["library_action_id"] is None
    events = api.get(f"/api/v1/contacts/{ana['id']}/history").get_json()["events"]
    assert [(e["type"], e["text"]) for e in events] == [
        ("message_in", "  GaLa "),
        ("message_out", answer["body"]),
        ("message_in", "gala please"),
    ]
    assert (
        api.post("/api/v1/messages/inbound", {"from": "+15559999999", "body": "gala"}).status_code
        == 404
    )
    assert api.post("/api/v1/messages/inbound", {"body": "gala"}).status_code == 422


def test_stop_opts_out_and_start_opts_back_in(api, link, make_contact):
    ana = make_contact("Ana")
    save_action(api, link, keyword="gala")
    assert (
        api.post("/api/v1/messages/inbound", {"contact_id": ana["id"], "body": "Stop"}).get_json()[
            "opted_out"
        ]
        is True
    )
    assert api.get(f"/api/v1/contacts/{ana['id']}").get_json()["opted_out"] is True
    # An opted-out contact gets nothing, not even a keyword's answer.
    fired = api.post(
        "/api/v1/messages/inbound", {"contact_id": ana["id"], "body": "gala"}
    ).get_json()
    assert fired["reply_message_id"] is None
    one_off = api.post("/api/v1/messages", {"contact_id": ana["id"], "body": "hello"})
    assert one_off.status_code == 422 and one_off.get_json()["error"]["field"] == "contact_id"
    assert (
        api.post("/api/v1/messages/inbound", {"contact_id": ana["id"], "body": "START"}).get_json()[
            "opted_out"
        ]
        is False
    )
    assert (
        api.post("/api/v1/messages", {"contact_id": ana["id"], "body": "welcome back"}).status_code
        == 201
    )


def test_twilio_inbound_webhook_is_signed_and_fires_keywords(api, client, org, link, make_contact):
    ana = make_contact("Ana")
    action = save_action(api, link, keyword="gala")
    resp = api.client.put(
        "/api/v1/sending/provider",
        json={
            "provider": "twilio",
            "account_sid": "AC" + "2" * 32,
            "auth_token": "tok",
            "from": "+15550001111",
        },
        headers=api.headers,
    )
    assert resp.status_code == 200
    url = f"http://localhost/api/v1/providers/twilio/{org.org_id}/inbound"
    params = {
        "From": ana["phone"],
        "To": "+15550001111",
        "Body": "GALA",
        "MessageSid": "SMin1",
        "AccountSid": "AC" + "2" * 32,
    }
    forged = client.post(
        url,
        data=params,
        headers={"X-Twilio-Signature": signature("nope", url, list(params.items()))},
    )
    assert forged.status_code == 403
    signed = {"X-Twilio-Signature": signature("tok", url, list(params.items()))}
    resp = client.post(url, data=params, headers=signed)
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    # Twilio retries a webhook it thinks failed: the same MessageSid fires nothing twice.
    assert client.post(url, data=params, headers=signed).status_code == 200
    events = api.get(f"/api/v1/contacts/{ana['id']}/history").get_json()["events"]
    assert [e["type"] for e in events] == ["message_in", "message_out"]
    assert events[1]["text"].startswith("Hi Ana! Tickets: https://go.example.test/")
    db.session.expire_all()
    replies = db.session.scalars(select(Message).where(Message.direction == "out")).all()
    assert [m.library_action_id for m in replies] == [action["id"]]
    assert db.session.scalar(select(Contact.opted_out).where(Contact.id == ana["id"])) is False


def test_team_member_message_carries_the_contacts_url(api, link, make_contact):
    ana = make_contact("Ana")
    resp = api.post(
        "/api/v1/messages",
        {"contact_id": ana["id"], "body": "Ana, your link: {{link}}", "link_id": link["id"]},
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["body"] == f"Ana, your link: {urls_of(api, link['id'], ana['id'])}"
    bad = api.post("/api/v1/messages", {"contact_id": 424242, "body": "hi"})
    assert bad.status_code == 404 and bad.get_json()["error"]["field"] == "contact_id"


def test_a_reply_with_odd_characters_is_kept(api, make_contact):
    ana = make_contact("Ana")
    resp = api.post("/api/v1/messages/inbound", {"contact_id": ana["id"], "body": "a\u0000b 🎉"})
    assert resp.status_code == 201, resp.get_json()
    events = api.get(f"/api/v1/contacts/{ana['id']}/history").get_json()["events"]
    assert events[-1]["text"] == "ab 🎉"
