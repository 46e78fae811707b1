"""Takeover: a drain claims at once the pending clicks of a consumer that is provably gone
(sync/liveness.py), instead of waiting DRAIN_CLAIM_IDLE_MS (30 s, left at its default here)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from flask import Flask

from admin.services.orgs import NewOrg
from core import config, keys, records
from sync import liveness
from tests.conftest import Servers
from tests.servers import smartlinks_process
from tests.sync.clicks.helpers import (
    ACTIONS,
    click_fields,
    make_contacts,
    make_domain,
    make_link,
    scalar,
    xadd_all,
)
from tests.sync.clicks.streams import Streams
from tests.sync.clicks.test_processes import wait_for

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial


def _heartbeat(rdb: redis.Redis, worker_id: str, pid: int, **where: str) -> None:
    info = {"role": "drain", "pid": pid, **liveness.identity(), "started_at": time.time()}
    info.update(where)
    rdb.set(keys.worker("drain", worker_id), json.dumps(info), ex=60)


def test_take_over_claims_only_consumers_that_are_provably_gone(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    (contact,) = make_contacts(org.org_id, 1)
    rdb = streams.client
    drain = streams.drain("here:1", claim_idle_ms=30_000)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        time.sleep(1.1)  # the live process began well before its heartbeat's worker started
        cases = {
            "killed:1": (dead.pid, {}),  # this machine, its process gone: taken
            "alive:2": (sleeper.pid, {}),  # this machine, running
            "elsewhere:3": (dead.pid, {"boot": "another-machine"}),
            "container:4": (dead.pid, {"pid_ns": "pid:[1]"}),  # another pid namespace
            # The pid now runs a process begun after the heartbeat's worker: a reused pid.
            "reused:5": (sleeper.pid, {"started_at": "0"}),
        }
        for name, (pid, where) in cases.items():
            _heartbeat(rdb, name, pid, **where)
        for name in [*cases, "silent:6"]:  # silent: no heartbeat, but read just now
            streams.xadd_all([click_fields(link, contact, domain) for _ in range(3)])
            streams.read_as(f"{name}/1", 3)
        time.sleep(0.2)  # what another lane claimed in the last 100 ms is skipped
        # A gone consumer's batch per call; with shards, its batch of one shard (of the 3 that
        # got its 3 clicks). Few calls: "silent:6" counts as gone once idle for a second.
        batch = 3 if streams.partitions == 1 else 1
        calls = 6 // batch + 2
        taken = [drain.take_over() for _ in range(calls)]
        assert taken == [batch] * (6 // batch) + [0, 0]
        gone = {name for name in [*cases, "silent:6"] if streams.held_by(f"{name}/1") == 0}
        assert gone == {"killed:1", "reused:5"}
        assert scalar("SELECT count(*) FROM clicks") == 6
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_a_killed_drains_clicks_are_recorded_within_2s_of_the_restart(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, actions=ACTIONS)
    contacts = make_contacts(org.org_id, 300)
    entries = [click_fields(link, contacts[i % 300], domain) for i in range(3000)]
    env = clean.env(DRAIN_BATCH="500")
    assert "DRAIN_CLAIM_IDLE_MS" not in env  # the real default: 30 s
    logs = tmp_path / "logs"
    with (
        psycopg.connect(config.to_libpq(clean.database_url)) as locker,
        smartlinks_process(["drain"], env, logs) as first,
    ):
        xadd_all(rdb, entries[:500])
        wait_for(lambda: scalar("SELECT count(*) FROM clicks") == 500, 30, "a working drain",
                 first.log())  # fmt: skip
        # Hold the next batches in Postgres (an insert waits for the lock), as a slow commit
        # under load would: the drain has them pending when it is killed.
        locker.execute("LOCK TABLE clicks IN EXCLUSIVE MODE")
        # Under 1,000 clicks/s a lane holds a batch of ~150 (one read every ~150 ms): two MULTIs
        # of 150 (each read whole by one lane), with the rest appended behind them.
        click_ids: dict[str, str] = {}
        for chunk in (entries[500:650], entries[650:800], entries[800:]):
            pipe = rdb.pipeline(transaction=True)
            for fields in chunk:
                pipe.xadd(keys.CLICK_STREAM, fields)  # type: ignore[arg-type]
            for entry_id, fields in zip(pipe.execute(), chunk, strict=True):
                event = records.click_decoder.decode(fields[records.STREAM_EVENT])
                click_ids[entry_id.decode()] = event.click_id
        wait_for(lambda: int(rdb.xpending(keys.CLICK_STREAM, keys.DRAIN_GROUP)["pending"]) >= 300,
                 30, "both lanes holding a batch", first.log())  # fmt: skip
        pending = rdb.xpending_range(keys.CLICK_STREAM, keys.DRAIN_GROUP, "-", "+", 5000)
        held = [click_ids[p["message_id"].decode()] for p in pending]
        first.kill(signal.SIGKILL)
        first.proc.wait(5)
        locker.rollback()
    restarted = time.monotonic()
    with smartlinks_process(["drain"], env, logs) as second:
        wait_for(lambda: scalar("SELECT count(*) FROM clicks WHERE click_id = ANY(:ids)",
                                ids=held) == len(held), 30, "the held clicks", second.log())  # fmt: skip
        took = time.monotonic() - restarted
        wait_for(lambda: scalar("SELECT count(*) FROM clicks") == 3000, 30, "every click",
                 second.log())  # fmt: skip
        log = f"restarted at {time.time() - (time.monotonic() - restarted):.3f}\n{second.log()}"
        assert "took over a gone consumer's clicks" in log
    print(f"\nthe {len(held)} clicks the killed drain held: recorded {took:.2f} s after the restart")
    # The goal is 2 s from the restart, and alone it measures 1.2-1.8 s, most of it Python
    # starting; under a loaded CI machine the start alone can pass 2 s. Without the takeover
    # the clicks wait DRAIN_CLAIM_IDLE_MS (30 s), so 5 s still proves the mechanism.
    assert took < 5.0, log
    # Exactly once: one whisper per click, and nothing left pending or dead.
    assert scalar("SELECT count(*) FROM history_events WHERE type = 'whisper'") == 3000
    assert int(rdb.xpending(keys.CLICK_STREAM, keys.DRAIN_GROUP)["pending"]) == 0
    assert rdb.xlen(keys.DEAD_LETTER_STREAM) == 0
