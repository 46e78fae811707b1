"""The edge through a master's crash on a real Valkey Cluster with a replica per master: the
replica takes over, and the edge's own client finds it (its slot map refreshed after the
failed connection) within seconds, without a restart; meanwhile the other masters' slots
answer as before (the outage is the dead master's alone)."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from core import keys
from edge.resolve import SOCKET_TIMEOUT_S
from smartlinks.cluster import EmbeddedCluster
from sync.publish.store import RecordStore
from tests.edge.conftest import HOST, IPHONE, World, make_world
from tests.helpers.asgi_edge import AsgiEdge

PARTITIONS = 16


@pytest.fixture(scope="module")
def cluster(valkey_cluster_replicas: EmbeddedCluster) -> EmbeddedCluster:
    """The shared cluster (tests/helpers/cluster.py), empty."""
    valkey_cluster_replicas.flush()
    return valkey_cluster_replicas


def replicated(cluster: EmbeddedCluster, master: int) -> None:
    """Wait until every replica of ``master`` has all it wrote: on a machine busy with other
    tests a replica can lag by the moment the test kills its master, and the promoted replica
    then lacks the test's codes (404, which this test would take for the edge's doing)."""
    node = cluster.node(master)
    deadline = time.monotonic() + 10
    while True:
        info: Any = node.info("replication")
        offsets = [v["offset"] for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        if offsets and min(offsets) >= info["master_repl_offset"]:
            return
        assert time.monotonic() < deadline, f"the replicas of {master} did not catch up: {info}"
        time.sleep(0.01)


def test_a_stalled_master_holds_up_its_own_slots_only(
    cluster: EmbeddedCluster, tmp_path_factory: pytest.TempPathFactory
):
    """A master that stops answering (SIGSTOP: no refused connection, a wait) costs one request
    the wire's timeout; after that its outage answers at once, also for an older code whose
    contact is on it (the second trip), and the other masters' codes are answered by Redis."""
    client = cluster.client()
    world: World = make_world(RecordStore(client, PARTITIONS))
    stalled = cluster.owner_of_slot(keys.slot(keys.contact(str(world.contact.id), PARTITIONS)))
    elsewhere = next(
        p for p in range(PARTITIONS)
        if cluster.owner_of_slot(keys.slot(keys.click_stream(p, PARTITIONS))) != stalled
    )  # fmt: skip
    prefixes = keys.bucket_prefixes(elsewhere, PARTITIONS)
    # codes issued before the layout: the code's partition on a live master, the contact's
    # record on the stalled one; and a generic code, all on live masters
    older = [f"{prefixes[0]}Sta1l", f"{prefixes[1]}Sta1l"]
    generic = f"{prefixes[2]}Sta1l"
    world.store.put_codes([(code, world.link.id, world.contact.id) for code in older])
    world.store.put_codes([(generic, world.link.id, None)])
    proc = cluster.procs[cluster.ports.index(stalled)]
    with AsgiEdge(cluster.url, tmp_path_factory.mktemp("spool"), cluster=True, partitions=PARTITIONS) as edge:
        assert edge.get(f"/{generic}", HOST, IPHONE).status_code == 302
        proc.send_signal(signal.SIGSTOP)
        try:
            asked = time.monotonic()
            assert edge.get(f"/{older[0]}", HOST, IPHONE).status_code == 503
            assert time.monotonic() - asked >= SOCKET_TIMEOUT_S  # waited, and found it down
            asked = time.monotonic()
            assert edge.get(f"/{older[1]}", HOST, IPHONE).status_code == 503
            assert time.monotonic() - asked < SOCKET_TIMEOUT_S  # did not wait again
            assert edge.get(f"/{generic}", HOST, IPHONE).status_code == 302
        finally:
            proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 5
        while edge.get(f"/{older[1]}", HOST, IPHONE).status_code != 302:
            assert time.monotonic() < deadline, "the master's outage did not end"
            time.sleep(0.1)
    client.close()


def test_edge_follows_a_failover(cluster: EmbeddedCluster, tmp_path_factory: pytest.TempPathFactory):
    client = cluster.client()
    world: World = make_world(RecordStore(client, PARTITIONS))
    # generic codes in one partition, none of them asked before: the edge's memory of recent
    # answers cannot answer for them, only Redis can
    prefixes = keys.bucket_prefixes(3, PARTITIONS)
    codes = [f"{prefix}Fo7er" for prefix in prefixes[:40]]
    world.store.put_codes([(code, world.link.id, None) for code in codes])
    stream = keys.click_stream(3, PARTITIONS)
    slot = keys.slot(stream)
    master = cluster.owner_of_slot(slot)
    # and codes of a partition another master serves, none asked before either
    other = next(
        p for p in range(PARTITIONS)
        if cluster.owner_of_slot(keys.slot(keys.click_stream(p, PARTITIONS))) != master
    )  # fmt: skip
    elsewhere = [f"{prefix}Fo7er" for prefix in keys.bucket_prefixes(other, PARTITIONS)[:40]]
    world.store.put_codes([(code, world.link.id, None) for code in elsewhere])
    with AsgiEdge(cluster.url, tmp_path_factory.mktemp("spool"), cluster=True, partitions=PARTITIONS) as edge:
        assert edge.get(f"/{codes[0]}", HOST, IPHONE).status_code == 302
        replicated(cluster, master)  # a crash loses what the replica has not yet received
        cluster.kill(master)
        started = time.monotonic()
        answers, others = [], []
        for code, unaffected in zip(codes[1:], elsewhere, strict=False):
            r = edge.get(f"/{code}", HOST, IPHONE)
            answers.append(r.status_code)
            if r.status_code == 302:
                break
            assert r.status_code == 503  # never anything but the redirect or "try again"
            # the dead master's outage is not the other masters': theirs answer from Redis
            asked = time.monotonic()
            others.append(edge.get(f"/{unaffected}", HOST, IPHONE).status_code)
            assert time.monotonic() - asked < SOCKET_TIMEOUT_S  # it did not wait on the dead one
            time.sleep(0.5)
        recovered = time.monotonic() - started
        assert others and set(others) == {302}, others
        assert answers[-1] == 302, answers
        assert recovered < 15, recovered
        promoted = cluster.owner_of_slot(slot)
        assert promoted != master
        assert edge.resolver.wire.slots[slot].port == promoted  # type: ignore[union-attr]
        assert cluster.node(promoted).xlen(stream) >= 2  # the first click and the last
    client.close()
