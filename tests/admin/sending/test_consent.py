"""Opt-out, opt-in and HELP to the carriers' and the FCC's rules, each word through Twilio's
signed inbound webhook; an opted-out contact gets nothing by any path but the compliance
answers; every change is in the contact's history with its source."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin.extensions import db
from admin.models import Contact, Message
from admin.providers.twilio import signature
from admin.sender.worker import Sender
from admin.services import consent

SID = "AC" + "3" * 32
OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT",
           "stop", "Stop!", "stop.", "  StOp  ", "opt-out", "Opt Out.", "optout", "Stop all",
           "UNSUBSCRIBE!!", "\tquit\n", "revoke."]  # fmt: skip
OPT_IN = ["START", "UNSTOP", "YES", "start!", " Yes. ", "unstop"]
HELP = ["HELP", "INFO", "help?", " Info. "]
NOT_KEYWORDS = ["stop texting me about the gala", "stopp", "helpful", "yes please", "end game"]


@pytest.fixture
def twilio(api, org):
    resp = api.client.put(
        "/api/v1/sending/provider",
        json={"provider": "twilio", "account_sid": SID, "auth_token": "tok",
              "from": "+15550001111"},
        headers=api.headers,
    )  # fmt: skip
    assert resp.status_code == 200
    counter = iter(range(10_000))

    def reply(phone: str, body: str) -> None:
        url = f"http://localhost/api/v1/providers/twilio/{org.org_id}/inbound"
        params = {"From": phone, "To": "+15550001111", "Body": body,
                  "MessageSid": f"SMin{next(counter)}", "AccountSid": SID}  # fmt: skip
        signed = {"X-Twilio-Signature": signature("tok", url, list(params.items()))}
        resp = api.client.post(url, data=params, headers=signed)
        assert resp.status_code == 200, resp.get_data(as_text=True)

    return reply


def outgoing(contact_id: int) -> list[Message]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.contact_id == contact_id, Message.direction == "out")
            .order_by(Message.id)
        )
    )


def opted_out(contact_id: int) -> bool:
    db.session.expire_all()
    return bool(db.session.scalar(select(Contact.opted_out).where(Contact.id == contact_id)))


def put_help(api, body):
    return api.client.put("/api/v1/sending/help", json=body, headers=api.headers)


def history(api, contact_id):
    return api.get(f"/api/v1/contacts/{contact_id}/history").get_json()["events"]


@pytest.mark.parametrize("word", OPT_OUT)
def test_each_opt_out_word_opts_out_with_one_confirmation(api, twilio, make_contact, word):
    ana = make_contact("Ana")
    twilio(ana["phone"], word)
    assert opted_out(ana["id"])
    (confirmation,) = outgoing(ana["id"])
    assert confirmation.compliance and confirmation.status == "queued"
    assert confirmation.body.startswith("Acme Campaign: you are unsubscribed")
    assert "START" in confirmation.body
    # The same word again (or another) changes nothing and sends no second confirmation.
    twilio(ana["phone"], word)
    twilio(ana["phone"], "STOP")
    assert len(outgoing(ana["id"])) == 1
    events = [e for e in history(api, ana["id"]) if e["type"] == "opt_out"]
    assert len(events) == 1
    assert events[0]["text"] == f"Opted out: replied {word.strip()!r} (twilio)"


@pytest.mark.parametrize("word", OPT_IN)
def test_each_opt_in_word_opts_back_in(api, twilio, make_contact, word):
    ana = make_contact("Ana")
    twilio(ana["phone"], "STOP")
    twilio(ana["phone"], word)
    assert not opted_out(ana["id"])
    stop_answer, start_answer = outgoing(ana["id"])
    assert start_answer.compliance and "subscribed again" in start_answer.body
    types = [e["type"] for e in history(api, ana["id"])]
    assert types == ["message_in", "opt_out", "message_out", "message_in", "opt_in", "message_out"]
    # START from someone who never opted out: nothing to confirm.
    bob = make_contact("Bob")
    twilio(bob["phone"], word)
    assert outgoing(bob["id"]) == [] and not opted_out(bob["id"])


@pytest.mark.parametrize("word", HELP)
def test_help_and_info_answer_with_the_help_text(api, twilio, make_contact, word):
    ana = make_contact("Ana")
    twilio(ana["phone"], word)
    (answer,) = outgoing(ana["id"])
    assert answer.compliance and answer.body == consent.default_help_text("Acme Campaign")
    assert "Acme Campaign" in answer.body and "STOP" in answer.body
    # The organisation's own text; HELP is answered even after an opt-out.
    saved = put_help(api, {"help_text": "Acme: call 555-0100. STOP to end."})
    assert saved.status_code == 200 and saved.get_json()["help_text"].startswith("Acme: call")
    assert api.get("/api/v1/sending/help").get_json() == saved.get_json()
    twilio(ana["phone"], "STOP")
    twilio(ana["phone"], word)
    assert outgoing(ana["id"])[-1].body == "Acme: call 555-0100. STOP to end."
    assert opted_out(ana["id"])


def test_help_text_is_validated_and_restored(api):
    bad = put_help(api, {"help_text": "x" * 400})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "help_text"
    default = put_help(api, {"help_text": ""}).get_json()["help_text"]
    assert default == consent.default_help_text("Acme Campaign")


@pytest.mark.parametrize("text", NOT_KEYWORDS)
def test_other_replies_change_nothing(api, twilio, make_contact, text):
    ana = make_contact("Ana")
    twilio(ana["phone"], text)
    assert not opted_out(ana["id"]) and outgoing(ana["id"]) == []


def test_an_opted_out_contact_gets_nothing_by_any_path(api, link, twilio, make_contact, http):
    ana, bob = make_contact("Ana"), make_contact("Bob")
    action = api.post(
        "/api/v1/library",
        {"name": "Gala", "body": "Tickets: {{link}}", "link_id": link["id"], "keyword": "gala"},
    ).get_json()
    # A broadcast queued before Ana opts out: the sender drops her message.
    queued = api.post("/api/v1/broadcasts", {"body": "Doors at 7", "contact_ids": [ana["id"], bob["id"]]})
    assert queued.status_code == 201
    twilio(ana["phone"], "Stop!")
    # Broadcast, library action, team member's message: refused or skipped after the opt-out.
    later = api.post("/api/v1/broadcasts", {"body": "Again", "contact_ids": [ana["id"], bob["id"]]})
    assert later.get_json()["messages"] == 1 and later.get_json()["opted_out"] == 1
    only_ana = api.post("/api/v1/broadcasts", {"body": "Again", "contact_ids": [ana["id"]]})
    assert only_ana.status_code == 422
    sent = api.post(f"/api/v1/library/{action['id']}/send", {"contact_id": ana["id"]})
    assert sent.status_code == 422 and sent.get_json()["error"]["field"] == "contact_id"
    one_off = api.post("/api/v1/messages", {"contact_id": ana["id"], "body": "hi"})
    assert one_off.status_code == 422
    twilio(ana["phone"], "gala")  # a keyword fires nothing for her
    api.client.put("/api/v1/sending/provider", json={"provider": "outbox"}, headers=api.headers)
    sender = Sender(http=http, public_admin_url="https://admin.example.test")
    while sender.step(burst=True):
        pass
    statuses = [(m.body.split(":")[0], m.status) for m in outgoing(ana["id"])]
    assert statuses == [("Doors at 7", "opted_out"), ("Acme Campaign", "sent")]
    assert {m.status for m in outgoing(bob["id"])} == {"sent"}


def test_api_and_edits_record_their_source(api, make_contact):
    ana = make_contact("Ana")
    assert api.patch(f"/api/v1/contacts/{ana['id']}", {"opted_out": True}).status_code == 200
    assert api.patch(f"/api/v1/contacts/{ana['id']}", {"opted_out": True}).status_code == 200
    assert api.patch(f"/api/v1/contacts/{ana['id']}", {"opted_out": False}).status_code == 200
    new = api.post("/api/v1/contacts", {"phone": "+15550107777", "opted_out": True}).get_json()
    assert [(e["type"], e["text"]) for e in history(api, ana["id"])] == [
        ("opt_out", "Opted out: changed through the API"),
        ("opt_in", "Opted back in: changed through the API"),
    ]
    assert [(e["type"], e["text"]) for e in history(api, new["id"])] == [
        ("opt_out", "Opted out: created through the API")
    ]
