"""The sender worker and the providers: the outbox marks messages sent at once; the Twilio
provider posts to a real local HTTP server (rate-limited, retried on 429/5xx with backoff),
and delivery-status callbacks signed like Twilio's update each message."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from admin.extensions import db
from admin.models import Message
from admin.providers.twilio import signature
from admin.sender.worker import Sender

SID, TOKEN = "AC" + "1" * 32, "secret-auth-token"


def run(sender: Sender) -> None:
    """Burst: until nothing is queued (waiting for scheduled retries)."""
    deadline = time.monotonic() + 20
    while sender.step(burst=True):
        assert time.monotonic() < deadline, "the sender did not finish"


def messages() -> list[Message]:
    db.session.expire_all()
    return list(db.session.scalars(select(Message).order_by(Message.id)))


def broadcast(api, contact_ids, body="Doors open at 7, {{first_name}}"):
    resp = api.post("/api/v1/broadcasts", {"body": body, "contact_ids": contact_ids})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def use_twilio(api, base_url, rate=100.0):
    resp = api.client.put(
        "/api/v1/sending/provider",
        json={"provider": "twilio", "account_sid": SID, "auth_token": TOKEN, "from": "+15550001111",
              "base_url": base_url, "rate_per_second": rate},
        headers=api.headers,
    )  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@pytest.fixture
def sender(app, http):
    return Sender(http=http, public_admin_url="https://admin.example.test", backoff_base=0.05)


def test_outbox_marks_messages_sent(api, make_contact, sender):
    ids = [make_contact(n)["id"] for n in ("Ana", "Bob")]
    created = broadcast(api, ids)
    run(sender)
    sent = messages()
    assert [(m.status, m.provider) for m in sent] == [("sent", "outbox")] * 2
    assert all(m.sent_at is not None and m.provider_message_id == f"outbox-{m.id}" for m in sent)
    listed = api.get(f"/api/v1/broadcasts/{created['id']}/messages").get_json()["messages"]
    assert [m["status"] for m in listed] == ["sent", "sent"]
    assert sender.step(burst=True) == 0  # nothing left


def test_twilio_provider_posts_the_messages_api(api, org, make_contact, sender, fake_twilio):
    settings = use_twilio(api, fake_twilio.url)
    assert "auth_token" not in settings and settings["auth_token_set"] is True
    assert settings["status_callback_url"].endswith(f"/api/v1/providers/twilio/{org.org_id}/status")
    ana = make_contact("Ana")
    broadcast(api, [ana["id"]], "Hi {{first_name}} ü€")
    run(sender)
    (request,) = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert fake_twilio.auth_of(request) == (SID, TOKEN)
    assert request.form == {
        "To": ana["phone"],
        "From": "+15550001111",
        "Body": "Hi Ana ü€",
        "StatusCallback": f"https://admin.example.test/api/v1/providers/twilio/{org.org_id}/status",
    }
    (message,) = messages()
    assert (message.status, message.provider, message.provider_message_id) == (
        "accepted",
        "twilio",
        "SM" + "1".zfill(32),
    )
    assert message.attempts == 1


def test_rate_limit_and_server_errors_are_retried_with_backoff(
    api, make_contact, sender, fake_twilio
):
    use_twilio(api, fake_twilio.url)
    fake_twilio.responses = [
        (429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "0.2"}),
        (503, {"message": "busy"}, {}),
    ]
    broadcast(api, [make_contact("Ana")["id"]])
    run(sender)
    first, second, third = fake_twilio.requests
    assert third.at - first.at >= 0.2  # Retry-After is honoured
    assert third.at - second.at >= 0.1  # backoff doubles: 0.05, then 0.1
    (message,) = messages()
    assert message.status == "accepted" and message.attempts == 3 and message.error == ""


def test_a_refusal_fails_without_retry(api, make_contact, sender, fake_twilio):
    use_twilio(api, fake_twilio.url)
    fake_twilio.responses = [(400, {"code": 21211, "message": "Invalid 'To' Phone Number"}, {})]
    broadcast(api, [make_contact("Ana")["id"]])
    run(sender)
    assert len(fake_twilio.requests) == 1
    (message,) = messages()
    assert message.status == "failed" and "21211" in message.error and message.attempts == 1


def test_retries_end(api, make_contact, http, fake_twilio):
    use_twilio(api, "http://127.0.0.1:9")  # nothing listens: connection refused
    broadcast(api, [make_contact("Ana")["id"]])
    run(Sender(http=http, public_admin_url="http://x", backoff_base=0.01, max_attempts=3))
    (message,) = messages()
    assert message.status == "failed" and message.attempts == 3
    assert "unreachable" in message.error


def test_sends_are_paced_per_organisation(api, make_contact, sender, fake_twilio):
    use_twilio(api, fake_twilio.url, rate=20.0)
    broadcast(api, [make_contact(f"C{i}")["id"] for i in range(6)])
    run(sender)
    times = [r.at for r in fake_twilio.requests]
    assert len(times) == 6
    assert times[-1] - times[0] >= 5 / 20 - 0.02  # at most 20 a second, one token of burst
    assert {m.status for m in messages()} == {"accepted"}


def _callback(client, org_id, params, token=TOKEN, kind="status"):
    url = f"http://localhost/api/v1/providers/twilio/{org_id}/{kind}"
    sig = signature(token, url, list(params.items()))
    return client.post(url, data=params, headers={"X-Twilio-Signature": sig})


def test_status_callback_updates_the_message(
    api, client, org, other_org, make_contact, sender, fake_twilio
):
    use_twilio(api, fake_twilio.url)
    broadcast(api, [make_contact("Ana")["id"]])
    run(sender)
    (message,) = messages()
    sid = message.provider_message_id
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SID}

    forged = _callback(client, org.org_id, params, token="wrong-token")
    assert forged.status_code == 403
    assert messages()[0].status == "accepted"
    assert (
        client.post(f"/api/v1/providers/twilio/{org.org_id}/status", data=params).status_code == 403
    )
    # Another organisation (no Twilio account) never sees this message.
    assert _callback(client, other_org.org_id, params).status_code == 404

    assert _callback(client, org.org_id, params).status_code == 204
    assert messages()[0].status == "delivered"
    # A late "sent" never moves a delivered message back.
    assert _callback(client, org.org_id, {**params, "MessageStatus": "sent"}).status_code == 204
    assert messages()[0].status == "delivered"
    listed = api.get(f"/api/v1/messages/{message.id}").get_json()
    assert listed["status"] == "delivered"


def test_failed_delivery_keeps_the_error_code(api, client, org, make_contact, sender, fake_twilio):
    use_twilio(api, fake_twilio.url)
    broadcast(api, [make_contact("Ana")["id"]])
    run(sender)
    sid = messages()[0].provider_message_id
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert _callback(client, org.org_id, params).status_code == 204
    (message,) = messages()
    assert message.status == "undelivered" and "30003" in message.error
    bad = _callback(client, org.org_id, {"MessageSid": sid, "MessageStatus": "nonsense"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "MessageStatus"


def test_provider_settings_are_validated(api):
    put = lambda body: api.client.put("/api/v1/sending/provider", json=body, headers=api.headers)  # noqa: E731
    good = {"provider": "twilio", "account_sid": SID, "auth_token": TOKEN, "from": "+15550001111"}
    for body, field in [
        ({**good, "account_sid": "nope"}, "account_sid"),
        ({**good, "auth_token": ""}, "auth_token"),
        ({**good, "auth_token": "a\u0000b"}, "auth_token"),
        ({**good, "from": "+1 (555) not a number"}, "from"),
        ({**good, "base_url": "ftp://x"}, "base_url"),
        ({**good, "base_url": "http://a\u0000b"}, "base_url"),
        ({**good, "rate_per_second": 0}, "rate_per_second"),
        ({**good, "provider": "carrier-pigeon"}, "provider"),
    ]:
        resp = put(body)
        assert resp.status_code == 422 and resp.get_json()["error"]["field"] == field, (
            body,
            resp.get_json(),
        )
    assert put(good).status_code == 200
    # The token is write-only, and kept when left out of a later change.
    kept = put({k: v for k, v in good.items() if k != "auth_token"} | {"rate_per_second": 5})
    assert kept.status_code == 200 and kept.get_json()["auth_token_set"] is True
    assert kept.get_json()["rate_per_second"] == 5
    assert api.get("/api/v1/sending/provider").get_json()["provider"] == "twilio"
    assert put({"provider": "outbox"}).get_json() == {"provider": "outbox"}


def test_sender_role_runs_as_a_process(api, clean, make_contact, fake_twilio):
    """`smartlinks sender --burst`, as the supervisor and a deployment run it."""
    import subprocess
    import sys

    use_twilio(api, fake_twilio.url)
    broadcast(api, [make_contact("Ana")["id"], make_contact("Bob")["id"]])
    done = subprocess.run(
        [sys.executable, "-m", "smartlinks.cli", "sender", "--burst"],
        # The operator lets outbound requests reach the local fake provider.
        env=clean.env(OUTBOUND_ALLOW_NETWORKS="127.0.0.1"), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(fake_twilio.requests) == 2
    assert [m.status for m in messages()] == ["accepted", "accepted"]
    assert '"role": "sender"' in done.stderr


def test_organisations_are_served_side_by_side(api, other_api, make_contact, http, fake_twilio):
    """A slow (paced) organisation claims only a few seconds' worth at a time, so another
    organisation's messages are not stuck behind its queue."""
    use_twilio(api, fake_twilio.url, rate=10.0)
    broadcast(api, [make_contact(f"C{i}")["id"] for i in range(25)])
    sender = Sender(http=http, public_admin_url="http://x", paced_seconds=0.5)
    theirs = other_api.post("/api/v1/contacts", {"phone": "+15550108888"}).get_json()
    broadcast(other_api, [theirs["id"]])
    assert sender.step() == 6  # 10 a second x 0.5 s for the paced one, and the other's message
    statuses = {(m.org_id, m.status) for m in messages()}
    assert (2, "sent") in statuses  # the outbox organisation is done
    assert sum(1 for m in messages() if m.status == "queued") == 20


def test_running_sender_wakes_on_new_messages_and_stops_warm(api, clean, make_contact, tmp_path):
    import signal

    from tests.servers import smartlinks_process

    with smartlinks_process(["sender"], clean.env(), tmp_path) as proc:
        ana = make_contact("Ana")
        broadcast(api, [ana["id"]])
        deadline = time.monotonic() + 15
        while messages()[0].status != "sent":
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.05)
        proc.kill(signal.SIGTERM)
        assert proc.proc.wait(10) == 0
    assert "warm stop requested" in proc.log()


def test_messages_left_in_sending_are_reconciled_not_resent(api, make_contact, http, fake_twilio):
    """A dead sender's claims: the one the provider got is recorded with its sid, the others
    go back to the queue and are sent once."""
    use_twilio(api, fake_twilio.url)
    broadcast(api, [make_contact(n)["id"] for n in ("Ana", "Bob", "Cy")])
    dead = Sender(http=http, public_admin_url="http://x", stale_seconds=1)
    claimed, dropped = dead._claim(messages()[0].org_id, 10)
    assert (len(claimed), dropped) == (3, 0)
    dead._send(dead._providers({claimed[0].org_id})[claimed[0].org_id], claimed[0])  # then dies
    db.session.rollback()
    assert [m.status for m in messages()] == ["sending"] * 3
    time.sleep(1.1)
    fresh = Sender(http=http, public_admin_url="http://x", stale_seconds=1)
    assert fresh.requeue_stale() == 2
    first, *rest = messages()
    assert (first.status, first.provider_message_id) == ("accepted", "SM" + "1".zfill(32))
    assert [m.status for m in rest] == ["queued", "queued"]
    run(fresh)
    assert sorted(r.form["To"] for r in fake_twilio.requests) == sorted(m.to_phone for m in messages())
    assert len(fake_twilio.requests) == 3 and fake_twilio.lookups == 3
