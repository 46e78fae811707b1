"""Exactly once: a real `smartlinks sender` killed with SIGKILL mid-broadcast, again and again,
hands every one of 4,000 messages to the local Twilio-compatible server exactly once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import text

from admin.extensions import db
from tests.admin.sender.test_sender import SID, use_twilio
from tests.servers import Process, smartlinks_process

COUNT = 4_000
KILLS = (600, 1600, 2800)  # requests the server has seen when the sender is killed


def make_contacts(org_id: int, n: int) -> list[int]:
    rows = db.session.execute(
        text(
            "INSERT INTO contacts (org_id, phone, first_name)"
            " SELECT :org, '+1555' || lpad(i::text, 7, '0'), 'C' || i"
            " FROM generate_series(1, :n) AS i RETURNING id"
        ),
        {"org": org_id, "n": n},
    ).scalars()
    ids = sorted(rows)
    db.session.commit()
    return ids


def statuses() -> Counter[str]:
    db.session.rollback()
    rows = db.session.execute(text("SELECT status, count(*) FROM messages GROUP BY 1")).all()
    return Counter({r[0]: r[1] for r in rows})


def wait_until(done: Callable[[], bool], proc: Process, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert proc.proc.poll() is None, proc.log()[-3000:]
        if time.monotonic() > deadline:
            proc.kill(signal.SIGABRT)
            time.sleep(1)
            raise AssertionError((statuses(), proc.log()[-5000:]))
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # 4,000 paced sends through a Python HTTP server, three restarts
def test_a_killed_sender_sends_each_message_exactly_once(api, org, clean, fake_twilio, tmp_path):
    use_twilio(api, fake_twilio.url, rate=1000.0)
    ids = make_contacts(org.org_id, COUNT)
    created = api.post("/api/v1/broadcasts", {"body": "Doors at 7, {{first_name}}", "contact_ids": ids})
    assert created.status_code == 201 and created.get_json()["messages"] == COUNT
    # PYTHONFAULTHANDLER: a sender that hangs is told to abort, and its stack is in its log.
    # The local Twilio-compatible server is on loopback: the operator allows it (OUTBOUND_ALLOW_NETWORKS).
    env = clean.env(
        SENDER_STALE_SECONDS="1", PYTHONFAULTHANDLER="1", OUTBOUND_ALLOW_NETWORKS="127.0.0.1"
    )
    for kill_at in KILLS:
        with smartlinks_process(["sender"], env, tmp_path) as proc:
            wait_until(lambda at=kill_at: len(fake_twilio.requests) >= at, proc, 300)
            proc.kill()  # SIGKILL: no warm stop, claimed messages stay in `sending`
            proc.proc.wait(10)
        assert statuses()["sending"] > 0  # the kill left claimed messages behind
        time.sleep(1.5)  # they are stale now: the next sender reconciles them at start
    started = time.monotonic()
    with smartlinks_process(["sender"], env, tmp_path) as proc:
        wait_until(lambda: statuses()["accepted"] == COUNT, proc, 1000)
        print(f"last sender: {COUNT - KILLS[-1]} or so in {time.monotonic() - started:.0f} s")
        assert "reconciled messages left in sending" in proc.log()
    sent = Counter(r.form["To"] for r in fake_twilio.requests)
    assert len(sent) == COUNT and set(sent.values()) == {1}, sent.most_common(3)
    assert fake_twilio.lookups > 0  # stale messages were looked up, not sent blindly
    # Each message carries the sid the server gave for its number.
    db.session.rollback()
    rows = db.session.execute(
        text("SELECT to_phone, provider_message_id FROM messages WHERE broadcast_id = :b"),
        {"b": created.get_json()["id"]},
    ).all()
    given = {to: found[0]["sid"] for to, found in fake_twilio.accepted.items()}
    assert {r.to_phone: r.provider_message_id for r in rows} == given
    assert all(r.path == f"/2010-04-01/Accounts/{SID}/Messages.json" for r in fake_twilio.requests)
