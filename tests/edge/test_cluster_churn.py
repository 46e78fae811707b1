"""Issue 13, points 5 and 6, short: slots moved between masters online, and a master killed
with replicas, while ~1,000 clicks/s arrive through a real edge (granian) and a real drain
records them (loadtest/cluster_churn.py's trial; its long run and figures are in
docs/decisions/0012-cluster-drain-and-failover.md). A reshard breaks no redirect and loses or
repeats no click; a failover answers only 302 or 503 and loses at most replication's window."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask

from admin.extensions import db
from admin.services.codes import issue_codes
from admin.services.orgs import NewOrg
from core import keys
from core.config import to_libpq
from loadtest.cluster_churn import kill, trial
from smartlinks.cluster import EmbeddedCluster
from tests.conftest import Servers
from tests.servers import ROOT, SMARTLINKS, http_role, smartlinks_process
from tests.sync import factory

PARTITIONS = 16
HOST = "go.churn.test"
RATE = 1000


@contextlib.contextmanager
def stack(cluster: EmbeddedCluster, org: NewOrg, clean: Servers, tmp_path: Path,
          partitions: int = PARTITIONS) -> Iterator[tuple[int, list[str], Any]]:  # fmt: skip
    """A link with a whisper and 400 contacts' codes published to ``cluster``, a drain and an
    edge on it: yields the edge's port, the codes, and a SQL function for trial()."""
    cluster.flush()
    dom = factory.domain(org.org_id, HOST)
    lnk = factory.link(org.org_id, dom, "https://example.org/r?first={{first_name}}",
                       actions=[{"type": "whisper"}])  # fmt: skip
    ids = [factory.contact(org.org_id, f"+1555100{n:04d}", first_name=f"P{n}").id
           for n in range(400)]  # fmt: skip
    urls = issue_codes(org.org_id, lnk.id, ids, partitions=partitions)
    db.session.commit()
    env = clean.env(REDIS_URL=cluster.url, REDIS_CLUSTER="1", REDIS_PARTITIONS=str(partitions),
                    LOG_LEVEL="WARNING", DRAIN_LANES="2")  # fmt: skip
    subprocess.run([*SMARTLINKS, "sync", "--full", "--burst"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    dsn = to_libpq(clean.database_url)

    def sql(query: str, params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    with (
        smartlinks_process(["drain"], env, tmp_path),
        http_role("edge", env, tmp_path, "EDGE_PORT") as (_edge, base),
    ):
        yield int(base.rsplit(":", 1)[1]), [u.split("/")[3] for _i, u in urls], sql


@pytest.mark.serial  # 1,000 requests/s: the machine's cores
def test_slots_move_under_load_without_a_broken_redirect_or_a_lost_click(
    app: Flask, org: NewOrg, clean: Servers, valkey_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    cluster = valkey_cluster
    with stack(cluster, org, clean, tmp_path) as (port, codes, sql):
        # four partitions' slots (each: a stream shard, code buckets, contacts, record copies),
        # each to the next master, by the slot-migration commands valkey-cli's reshard sends
        slots = [keys.slot(keys.click_stream(p, PARTITIONS)) for p in (1, 6, 9, 14)]
        masters = cluster.master_ports()
        before = {slot: cluster.owner_of_slot(slot) for slot in slots}
        after = {s: masters[(masters.index(o) + 1) % len(masters)] for s, o in before.items()}

        def move() -> str:
            for slot, target in after.items():
                cluster.move_slot(slot, target)
            return "4 slots"

        row = trial(move, sql, port, HOST, codes, RATE, before=1.5, after=3)
    print(f"\nreshard under load: {row}")
    assert {slot: cluster.owner_of_slot(slot) for slot in slots} == after
    for slot, target in after.items():  # the streams moved, with the clicks the edge added
        assert cluster.node(target).execute_command("CLUSTER COUNTKEYSINSLOT", slot) > 0
    assert row["served"] >= RATE  # the load ran, at a rate even a loaded machine reaches
    assert row["not 3xx"] == {}  # no redirect broke while the slots moved
    assert (row["lost"], row["duplicated"], row["phantom"]) == (0, 0, 0), row
    assert row["recorded"] == row["served"]
    for slot, source in before.items():  # back, for the session's other tests
        cluster.move_slot(slot, source)


@pytest.mark.serial
def test_a_master_killed_under_load_fails_over(
    app: Flask, org: NewOrg, clean: Servers, valkey_cluster_replicas: EmbeddedCluster, tmp_path: Path
) -> None:
    with stack(valkey_cluster_replicas, org, clean, tmp_path) as (port, codes, sql):
        row = trial(lambda: kill(valkey_cluster_replicas, PARTITIONS), sql, port, HOST, codes,
                    RATE, before=1.5, after=6)  # fmt: skip
    print(f"\nmaster kill under load: {row}")
    assert row["served"] >= RATE
    # 503 ("try again") while the slots have no master, never another answer; a 503 whose
    # click Redis took before the edge gave up is recorded (phantom), never twice
    assert set(row["not 3xx"]) <= {503}, row
    assert row["duplicated"] == 0, row
    assert row["lost"] <= RATE // 20, row  # replication's window: at most 50 ms of clicks
