"""Real `smartlinks drain` and `smartlinks webhooks` processes: kill -9 in the middle of 5,000
clicks, metrics lag, warm and cold stops, webhook delivery by its own role."""

from __future__ import annotations

import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Transaction

from admin.extensions import db
from admin.models import Webhook
from admin.services.orgs import NewOrg
from core import keys
from sync.clicks.drain import Drain
from tests.conftest import Api, Servers
from tests.servers import Process, smartlinks_process
from tests.sync.clicks.helpers import (
    ACTIONS,
    click_fields,
    make_contacts,
    make_domain,
    make_link,
    run_burst,
    scalar,
    xadd_all,
)
from tests.sync.webhooks.receiver import Receiver


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log[-4000:]}")
        time.sleep(0.02)


@contextmanager
def _stopping_mid_batch(
    link: int, env: dict[str, str], logs: Path, blocked: Callable[[], bool]
) -> Iterator[tuple[Transaction, Process]]:
    """A drain process whose batch waits for the link's counter row (locked here until
    ``lock.rollback()``), asked for a warm stop (SIGTERM) while it waits."""
    with db.engine.connect() as locker:
        lock = locker.begin()
        locker.execute(
            text("SELECT 1 FROM link_counters WHERE link_id = :l FOR UPDATE"), {"l": link}
        )
        with smartlinks_process(["drain"], env, logs) as drain:
            wait_for(blocked, 30, "the batch to wait", drain.log())
            drain.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: "warm stop requested" in drain.log(), 5, "the signal", drain.log())
            yield lock, drain


def _pending(rdb: redis.Redis) -> int:
    return int(rdb.xpending(keys.CLICK_STREAM, keys.DRAIN_GROUP)["pending"])


def _lag(rdb: redis.Redis) -> int:
    """Entries no consumer of the group has read yet."""
    group = next(g for g in rdb.xinfo_groups(keys.CLICK_STREAM) if g["name"] == b"drain")
    return int(group["lag"] or 0)


@pytest.mark.slow
def test_kill_9_during_5000_clicks_records_each_click_and_action_once(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, actions=ACTIONS)
    contacts = make_contacts(org.org_id, 200)
    entries = [
        click_fields(
            link,
            None if i % 7 == 0 else contacts[i % 200],
            domain,
            kind="preview" if i % 20 == 0 else "human",
            ip=f"198.51.100.{i % 50}",
        )
        for i in range(5000)
    ]
    env = clean.env(DRAIN_CLAIM_IDLE_MS="500", DRAIN_BATCH="100")
    logs = tmp_path / "logs"
    with smartlinks_process(["drain"], env, logs) as first:
        for start in range(0, 2500, 100):
            xadd_all(rdb, entries[start : start + 100])
        wait_for(
            lambda: scalar("SELECT count(*) FROM clicks") >= 300, 30, "first clicks", first.log()
        )
        first.kill(signal.SIGKILL)  # mid-stream: some batches committed, one maybe half-done
        first.proc.wait(5)
        killed_at = scalar("SELECT count(*) FROM clicks")
    assert killed_at < 5000
    with smartlinks_process(["drain"], env, logs) as second:
        for start in range(2500, 5000, 100):
            xadd_all(rdb, entries[start : start + 100])
        xadd_all(rdb, entries[:300])  # the same events again, as a retried XADD would
        wait_for(
            lambda: (
                scalar("SELECT count(*) FROM clicks") == 5000
                and _pending(rdb) == 0
                and _lag(rdb) == 0
            ),
            60,
            "all 5,000 clicks",
            second.log(),
        )
    human = sum(1 for i in range(5000) if i % 20 != 0)
    human_contact = sum(1 for i in range(5000) if i % 20 != 0 and i % 7 != 0)
    assert scalar("SELECT count(*) FROM clicks") == 5000
    assert scalar("SELECT count(*) FROM clicks WHERE kind = 'human'") == human
    # Every action ran once: one whisper per human click by a contact, no more.
    assert scalar("SELECT count(*) FROM history_events WHERE type = 'whisper'") == human_contact
    assert scalar("SELECT count(DISTINCT click_id) FROM history_events") == human_contact
    assert scalar("SELECT clicks FROM link_counters WHERE link_id = :l", l=link) == human
    assert scalar("SELECT previews FROM link_counters WHERE link_id = :l", l=link) == 5000 - human
    assert scalar("SELECT sum(clicks) FROM link_contact_clicks") == human_contact
    contacts_clicked = scalar("SELECT count(*) FROM link_contact_clicks")
    visitors = scalar("SELECT count(*) FROM link_visitors")
    assert scalar("SELECT unique_clicks FROM link_counters WHERE link_id = :l", l=link) == (
        contacts_clicked + visitors
    )
    assert scalar("SELECT count(*) FROM contact_tags") == contacts_clicked
    assert rdb.xlen(keys.DEAD_LETTER_STREAM) == 0
    print(f"\nkill -9 landed after {killed_at} of 5,000 clicks were recorded")


def test_metrics_lag_is_under_one_second(
    app: Flask, org: NewOrg, api: Api, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, actions=ACTIONS)
    (a,) = make_contacts(org.org_id, 1)

    def clicks() -> int:
        db.session.rollback()
        count: int = api.get(f"/api/v1/links/{link}/metrics").get_json()["clicks"]
        return count

    with smartlinks_process(["drain"], clean.env(), tmp_path / "logs") as drain:
        xadd_all(rdb, [click_fields(link, a, domain)])  # the drain is up once this is counted
        wait_for(lambda: clicks() == 1, 30, "the drain to start", drain.log())
        lags = []
        for n in range(2, 12):
            xadd_all(rdb, [click_fields(link, a, domain)])
            sent = time.monotonic()
            wait_for(lambda n=n: clicks() == n, 5, f"click {n} in metrics", drain.log())  # type: ignore[misc]
            lags.append(time.monotonic() - sent)
    print(
        f"\nmetrics lag: median {statistics.median(lags) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms"
    )
    assert max(lags) < 1.0


def test_warm_stop_finishes_the_batch_and_cold_stop_is_immediate(
    app: Flask,
    org: NewOrg,
    rdb: redis.Redis,
    clean: Servers,
    tmp_path: Path,
    make_drain: Callable[..., Drain],
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, actions=ACTIONS)
    contacts = make_contacts(org.org_id, 100)
    db.session.execute(
        text("INSERT INTO link_counters (link_id, org_id) VALUES (:l, :o)"),
        {"l": link, "o": org.org_id},
    )
    db.session.commit()
    total = 2000
    xadd_all(rdb, [click_fields(link, contacts[i % 100], domain) for i in range(total)])
    lanes = 2  # two batches in hand at once (sync.clicks.drain.Lane): each is finished
    env = clean.env(DRAIN_BATCH="200", DRAIN_LANES=str(lanes))
    logs = tmp_path / "logs"

    def blocked_on_lock() -> bool:
        return scalar("SELECT count(*) FROM pg_locks WHERE NOT granted") >= lanes

    # Hold the link's counter row: the drain's batch waits for it, mid-transaction.
    with _stopping_mid_batch(link, env, logs, blocked_on_lock) as (lock, drain):
        time.sleep(0.3)
        assert drain.proc.poll() is None  # still finishing its batch
        lock.rollback()  # the batch can go on: it commits, acknowledges and stops
        assert drain.proc.wait(10) == 0
    stopped_at = scalar("SELECT count(*) FROM clicks")
    assert stopped_at == 200 * lanes  # exactly the batches in hand
    assert _pending(rdb) == 0

    with _stopping_mid_batch(link, env, logs, blocked_on_lock) as (lock, drain):
        drain.proc.send_signal(signal.SIGTERM)
        assert drain.proc.wait(5) != 0  # gone without waiting for the lock
        assert "cold stop" in drain.log()
        lock.rollback()
    # The abandoned batches were rolled back and are still pending: reclaimed, recorded once.
    assert scalar("SELECT count(*) FROM clicks") == stopped_at
    assert _pending(rdb) == 200 * lanes
    run_burst(make_drain(claim_idle_ms=0))
    make_drain(claim_idle_ms=0).reclaim()
    assert scalar("SELECT count(*) FROM clicks") == total
    assert scalar("SELECT count(*) FROM history_events") == total
    assert scalar("SELECT clicks FROM link_counters WHERE link_id = :l", l=link) == total
    assert _pending(rdb) == 0


def test_webhooks_role_delivers_signed_clicks(
    app: Flask,
    org: NewOrg,
    rdb: redis.Redis,
    clean: Servers,
    tmp_path: Path,
    make_drain: Callable[..., Drain],
) -> None:
    receiver = Receiver()
    try:
        hook = Webhook(org_id=org.org_id, url=receiver.url("/hook"), secret="whsec_process_test")
        db.session.add(hook)
        db.session.commit()
        receiver.secrets["/hook"] = "whsec_process_test"
        domain = make_domain(org.org_id)
        link = make_link(org.org_id, domain)
        (a,) = make_contacts(org.org_id, 1)
        env = clean.env(WEBHOOK_ALLOW_HTTP_LOOPBACK="1")  # the receiver is local
        with smartlinks_process(["webhooks"], env, tmp_path / "logs") as worker:
            xadd_all(rdb, [click_fields(link, a, domain, click_id="process-click")])
            run_burst(make_drain())
            wait_for(lambda: len(receiver.received) == 1, 15, "the delivery", worker.log())
            worker.proc.send_signal(signal.SIGTERM)
            assert worker.proc.wait(10) == 0
        got: Any = receiver.received[0]
        assert got.signature_ok
        assert got.json()["click_id"] == "process-click"
        assert scalar("SELECT status FROM webhook_deliveries") == "delivered"
    finally:
        receiver.close()
