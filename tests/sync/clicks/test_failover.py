"""A master of the cluster killed (-9) while clicks are appended and a `smartlinks drain` records
them: its replica is promoted, redis-py finds the new slot map, and the drain records what the
promoted replica holds within seconds, each click once.

Redis replication is asynchronous: what the killed master acknowledged but had not yet sent to
its replica is lost. The test counts appended (XADD answered with an id) | recorded | lost |
duplicated and prints them; on one machine the replica is microseconds behind, so a loss is
rare but allowed (bounded here by what a 1,000 clicks/s edge appends in the last 50 ms)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from flask import Flask

from admin.services.orgs import NewOrg
from core import keys, records
from smartlinks.cluster import EmbeddedCluster
from tests.conftest import Servers
from tests.servers import smartlinks_process
from tests.sync.clicks.helpers import click_fields, make_contacts, make_domain, make_link, scalar
from tests.sync.clicks.test_processes import wait_for

PARTITIONS = 8
RATE = 1000  # clicks/s, the figure


class Appender(threading.Thread):
    """The edge's XADDs at RATE, one shard after another; each click tried once (the edge
    spools what Redis refuses: not this test's subject)."""

    def __init__(self, client: redis.Redis, entries: list[dict[str, bytes]]) -> None:
        super().__init__(daemon=True)
        self.client, self.entries = client, entries
        self.streams = keys.click_streams(PARTITIONS)
        self.appended: list[str] = []  # click ids Redis answered with an entry id
        # click ids whose XADD failed: refused, or sent and never answered (a timeout, or the
        # master killed before its reply), which Redis may have taken all the same
        self.unanswered: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        for n, fields in enumerate(self.entries):
            if self.stop.is_set():
                return
            time.sleep(max(0.0, began + n / RATE - time.monotonic()))
            click_id = records.click_decoder.decode(fields[records.STREAM_EVENT]).click_id
            try:
                self.client.xadd(self.streams[n % PARTITIONS], fields)  # type: ignore[arg-type]
            except (redis.RedisError, OSError):
                self.refused += 1
                self.unanswered.append(click_id)
                continue
            self.appended.append(click_id)


@pytest.mark.slow
def test_a_killed_master_fails_over_and_the_drain_follows(
    app: Flask, org: NewOrg, clean: Servers, valkey_cluster_replicas: EmbeddedCluster,
    tmp_path: Path,
) -> None:  # fmt: skip
    cluster = valkey_cluster_replicas
    cluster.flush()
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)  # the default whisper: one history event per click
    contacts = make_contacts(org.org_id, 200)
    entries = [click_fields(link, contacts[i % 200], domain) for i in range(8000)]
    env = clean.env(REDIS_URL=cluster.url, REDIS_CLUSTER="1", REDIS_PARTITIONS=str(PARTITIONS))
    client = cluster.client(socket_timeout=0.25, socket_connect_timeout=0.25)
    victim = cluster.owner(keys.click_stream(0, PARTITIONS))
    appender = Appender(client, entries)
    with smartlinks_process(["drain"], env, tmp_path / "logs") as drain:
        wait_for(lambda: all(client.exists(s) for s in appender.streams), 30,
                 "the drain's groups", drain.log())  # fmt: skip
        appender.start()
        wait_for(lambda: scalar("SELECT count(*) FROM clicks") >= 1000, 30, "a working drain",
                 drain.log())  # fmt: skip
        before = len(appender.appended)
        cluster.kill(victim)
        killed = time.monotonic()
        promoted = cluster.wait_promoted(victim)
        wait_for(lambda: len(appender.appended) > before + 1000, 30, "appends after the failover")
        after_failover = len(appender.appended)
        # The drain follows: what was appended after the promotion is recorded within seconds.
        wait_for(lambda: scalar("SELECT count(*) FROM clicks WHERE click_id = ANY(:ids)",
                                ids=appender.appended[before:after_failover][-200:]) == 200,
                 15, "the drain to follow the failover", drain.log())  # fmt: skip
        followed = time.monotonic() - killed
        appender.stop.set()
        appender.join(10)
        appended = set(appender.appended)
        wait_for(lambda: scalar("SELECT count(*) FROM clicks") >= len(appended) - RATE // 20,
                 30, "the drain to catch up", drain.log())  # fmt: skip
        time.sleep(1.0)  # anything still coming (a reclaim) comes now
        recorded = scalar("SELECT count(*) FROM clicks")
        recorded_appended = scalar(
            "SELECT count(*) FROM clicks WHERE click_id = ANY(:ids)", ids=list(appended)
        )
        recorded_unanswered = scalar(
            "SELECT count(*) FROM clicks WHERE click_id = ANY(:ids)", ids=appender.unanswered
        )
        whispers = scalar("SELECT count(*) FROM history_events WHERE type = 'whisper'")
        before_kill = scalar("SELECT count(*) FROM clicks WHERE click_id = ANY(:ids)",
                             ids=appender.appended[:before])  # fmt: skip
    lost = len(appended) - recorded_appended
    print(
        f"\nfailover of the master on {victim}: promoted {promoted:.1f} s after the kill, "
        f"drain caught up {followed:.1f} s after; appended before the kill {before}, of them "
        f"recorded {before_kill}; in all appended {len(appended)} | recorded "
        f"{recorded} | lost {lost} | duplicated {whispers - recorded} | refused during the "
        f"failover {appender.refused}"
    )
    # Nothing recorded that was not sent: a click is recorded only if Redis answered its XADD,
    # or took it and its answer was lost in the failover (seen once: 2,089 against 2,088).
    assert recorded == recorded_appended + recorded_unanswered
    assert recorded_unanswered <= RATE // 20
    assert before - before_kill <= RATE // 20
    assert whispers == recorded  # each recorded click's actions ran once
    assert lost <= RATE // 20  # asynchronous replication's window, at most 50 ms of clicks
    assert followed < 15
