"""The edge on a real 3-master Valkey Cluster (docs/decisions/0011-cluster-layout.md): every
request one slot per round trip, one round trip for a code issued in its contact's partition,
two for an older one, the clicks in the stream shard of the partition, and the edge's own
client following a slot that moves (ASK while it migrates, MOVED after)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core import keys, records
from smartlinks.cluster import EmbeddedCluster
from sync.publish.store import RecordStore
from tests.edge.conftest import HOST, IMESSAGE, IPHONE, World, make_world
from tests.edge.test_visits import MERGED
from tests.helpers.asgi_edge import AsgiEdge

PARTITIONS = 16
CONTACT_PARTITION = 100 % PARTITIONS  # the world's contact, id 100


@pytest.fixture(scope="module")
def cluster(valkey_cluster: EmbeddedCluster) -> EmbeddedCluster:
    """The shared cluster (tests/helpers/cluster.py), empty."""
    valkey_cluster.flush()
    return valkey_cluster


@pytest.fixture(scope="module")
def edge(cluster: EmbeddedCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsgiEdge]:
    spool = tmp_path_factory.mktemp("spool")
    with AsgiEdge(cluster.url, spool, cluster=True, partitions=PARTITIONS) as found:
        yield found


@pytest.fixture
def world(cluster: EmbeddedCluster) -> Iterator[World]:
    cluster.flush()
    client = cluster.client()
    w = make_world(RecordStore(client, PARTITIONS))
    # A code issued since the layout: in its contact's partition.
    w.store.put_codes([(HOME_CODE, w.link.id, w.contact.id)])
    yield w
    client.close()


HOME_CODE = keys.bucket_prefixes(CONTACT_PARTITION, PARTITIONS)[0] + "xY9k2"


def streams(cluster: EmbeddedCluster) -> dict[int, list[tuple[records.ClickEvent, str]]]:
    """The clicks of every stream shard that has any, read from the master that serves it."""
    out = {}
    for p, name in enumerate(keys.click_streams(PARTITIONS)):
        raw: Any = cluster.node(cluster.owner(name)).xrange(name)
        if raw:
            out[p] = [
                (
                    records.click_decoder.decode(f[records.STREAM_EVENT.encode()]),
                    f[records.STREAM_REF.encode()].decode(),
                )
                for _id, f in raw
            ]
    return out


def evalsha_calls(cluster: EmbeddedCluster) -> int:
    total = 0
    for port in cluster.ports:
        stats: Any = cluster.node(port).info("commandstats")
        total += int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
    return total


def test_the_world_is_spread_over_the_masters(cluster: EmbeddedCluster, world: World):
    held = [cluster.node(p).dbsize() for p in cluster.ports]
    # a domain and a link copy in each of 16 partitions, a contact, 3 code buckets
    assert sum(held) == 2 * PARTITIONS + 1 + 3
    assert all(n >= 8 for n in held), held


def test_code_in_its_contacts_partition_is_one_round_trip(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    assert keys.code_partition(HOME_CODE, PARTITIONS) == CONTACT_PARTITION
    before, trips = evalsha_calls(cluster), edge.resolver.second_trips
    r = edge.get(f"/{HOME_CODE}/gala2021", HOST, IPHONE)
    assert (r.status_code, r.headers["location"]) == (302, MERGED)
    assert evalsha_calls(cluster) - before == 1
    assert edge.resolver.second_trips == trips
    [(event, ref)] = streams(cluster)[CONTACT_PARTITION]
    assert (ref, event.code, event.kind) == ("10:100:1", HOME_CODE, "human")
    assert len(streams(cluster)) == 1


def test_older_code_reads_its_contact_in_a_second_round_trip(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    partition = keys.code_partition(world.code, PARTITIONS)
    assert partition != CONTACT_PARTITION  # issued before its contact's partition counted
    before, trips = evalsha_calls(cluster), edge.resolver.second_trips
    r = edge.get(f"/{world.code}/gala2021", HOST, IPHONE)
    assert (r.status_code, r.headers["location"]) == (302, MERGED)
    assert evalsha_calls(cluster) - before == 2
    assert edge.resolver.second_trips == trips + 1
    # the click goes with the contact, recorded by the second script
    assert {p: [ref for _e, ref in c] for p, c in streams(cluster).items()} == {
        CONTACT_PARTITION: ["10:100:1"]
    }


def test_a_plain_links_older_code_still_records_with_its_contact(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    # A destination that merges nothing of the contact: on one Redis the script skips the
    # contact's read (tests/edge/test_plain_links.py); across partitions it still reads it, to
    # learn that the contact, and so the stream its clicks go to, is elsewhere.
    world.put_link(destination="https://example.org/donate")
    trips = edge.resolver.second_trips
    r = edge.get(f"/{world.code}", HOST, IPHONE)
    assert (r.status_code, r.headers["location"]) == (302, "https://example.org/donate")
    assert edge.resolver.second_trips == trips + 1
    assert {p: [ref for _e, ref in c] for p, c in streams(cluster).items()} == {
        CONTACT_PARTITION: ["10:100:1"]
    }


def test_code_of_a_contact_without_a_record_is_answered_and_recorded(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    # contact 555's record is not (yet) in Redis: the script cannot tell that from "elsewhere",
    # so the second script runs in the contact's partition, finds nothing, records the click
    home = 555 % PARTITIONS
    code = keys.bucket_prefixes(home, PARTITIONS)[2] + "Nn0ne"
    world.store.put_codes([(code, world.link.id, 555)])
    trips = edge.resolver.second_trips
    r = edge.get(f"/{code}/gala2021", HOST, IPHONE)
    assert r.status_code == 302 and "Secretname" not in r.headers["location"]
    assert edge.resolver.second_trips == trips + 1
    assert [ref for _e, ref in streams(cluster)[home]] == ["10:555:1"]


def test_generic_code_is_one_round_trip_in_its_own_partition(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    before = evalsha_calls(cluster)
    r = edge.get(f"/{world.generic}", HOST, IPHONE)
    assert r.status_code == 302 and "Secretname" not in r.headers["location"]
    assert evalsha_calls(cluster) - before == 1
    partition = keys.code_partition(world.generic, PARTITIONS)
    assert [ref for _e, ref in streams(cluster)[partition]] == ["10::1"]


def test_preview_for_a_link_unfurler(cluster: EmbeddedCluster, edge: AsgiEdge, world: World):
    r = edge.get(f"/{world.code}/gala2021", HOST, IMESSAGE)
    assert r.status_code == 200 and "Gala 2021" in r.text
    assert "Secretname" not in r.text
    [(event, _ref)] = streams(cluster)[CONTACT_PARTITION]
    assert event.kind != "human"


def test_archived_link_records_nothing(cluster: EmbeddedCluster, edge: AsgiEdge, world: World):
    world.put_link(archived=True)
    for code in (HOME_CODE, world.code, world.generic):
        assert edge.get(f"/{code}/gala2021", HOST, IPHONE).status_code == 410
    assert streams(cluster) == {}


def test_unknown_code_and_unknown_host(cluster: EmbeddedCluster, edge: AsgiEdge, world: World):
    assert edge.get("/Zz00000", HOST, IPHONE).status_code == 404
    assert edge.get(f"/{HOME_CODE}", "nowhere.example.test", IPHONE).status_code == 404
    assert streams(cluster) == {}


def test_scripts_are_loaded_again_on_each_node_that_lost_them(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    for port in cluster.ports:
        cluster.node(port).script_flush()
    for code in (HOME_CODE, world.code):  # the second also needs the contact's script
        r = edge.get(f"/{code}/gala2021", HOST, IPHONE)
        assert (r.status_code, r.headers["location"]) == (302, MERGED)
    assert len(streams(cluster)[CONTACT_PARTITION]) == 2


def test_healthz_asks_every_master(edge: AsgiEdge, world: World):
    assert edge.get("/healthz", HOST, IPHONE).status_code == 200


def test_tls_ask_reads_a_domain_copy(edge: AsgiEdge, world: World):
    assert edge.get(f"/tls/ask?domain={HOST}", "edge.local", IPHONE).status_code == 200
    assert edge.get("/tls/ask?domain=nowhere.example.test", "edge.local", IPHONE).status_code == 404


def test_clicks_land_in_the_shard_of_their_partition(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    # A generic code in every partition: each click in its own shard, on the master that
    # serves that shard's slot.
    codes = {p: keys.bucket_prefixes(p, PARTITIONS)[1] + "Qq7w3" for p in range(PARTITIONS)}
    world.store.put_codes([(code, world.link.id, None) for code in codes.values()])
    for code in codes.values():
        assert edge.get(f"/{code}", HOST, IPHONE).status_code == 302
    found = streams(cluster)
    assert {p: [e.code for e, _r in c] for p, c in found.items()} == {
        p: [code] for p, code in codes.items()
    }
    owners = {cluster.owner(s) for s in keys.click_streams(PARTITIONS)}
    assert owners == set(cluster.ports)  # the shards are spread over every master


def test_edge_follows_a_slot_while_it_migrates_and_after(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    stream = keys.click_stream(CONTACT_PARTITION, PARTITIONS)
    slot = keys.slot(stream)
    source = cluster.owner_of_slot(slot)
    target = next(p for p in cluster.ports if p != source)
    assert edge.get(f"/{HOME_CODE}", HOST, IPHONE).status_code == 302  # the stream exists
    refreshes = edge.resolver.wire.refreshes  # type: ignore[union-attr]

    cluster.begin_move(slot, target)  # every key of the slot moved; the source answers ASK
    r = edge.get(f"/{HOME_CODE}", HOST, IPHONE)
    assert (r.status_code, r.headers["location"]) == (302, MERGED)
    importing = redis.Redis(port=target, password=cluster.password, single_connection_client=True)
    importing.execute_command("ASKING")  # the target answers for the slot only after ASKING
    assert importing.xlen(stream) == 2
    importing.close()
    cluster.finish_move(slot, target)  # the source now answers MOVED
    r = edge.get(f"/{HOME_CODE}", HOST, IPHONE)
    assert (r.status_code, r.headers["location"]) == (302, MERGED)
    assert cluster.node(target).xlen(stream) == 3
    assert cluster.node(source).execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 0
    wire = edge.resolver.wire
    assert wire.slots[slot].port == target  # type: ignore[union-attr]
    assert edge.get(f"/{HOME_CODE}", HOST, IPHONE).status_code == 302
    assert wire.refreshes > refreshes  # type: ignore[union-attr]
    # back, for the tests after this one
    cluster.move_slot(slot, source)


def _half_moved(cluster: EmbeddedCluster, edge: AsgiEdge, *names: str) -> tuple[str, int, int, int]:
    """HOME_CODE's slot migrating to another master with only ``names`` of its keys moved
    (after one click, so that its stream exists): the stream, the slot, source and target."""
    stream = keys.click_stream(CONTACT_PARTITION, PARTITIONS)
    slot = keys.slot(stream)
    source = cluster.owner_of_slot(slot)
    target = next(p for p in cluster.master_ports() if p != source)
    assert edge.get(f"/{HOME_CODE}", HOST, IPHONE).status_code == 302
    cluster.split_slot(slot, target, *names)
    return stream, slot, source, target


def test_edge_waits_while_a_slots_keys_are_split_between_two_masters(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    # valkey-cli moves a slot's keys 100 per MIGRATE: meanwhile the script's declared keys
    # (domain copy, code bucket, stream) may be on both sides, and both answer TRYAGAIN. The
    # edge asks again until the rest has moved (here: as soon as the first TRYAGAIN is seen).
    stream, slot, source, target = _half_moved(
        cluster, edge, keys.code_bucket(HOME_CODE, PARTITIONS)
    )

    def tryagains() -> int:
        stats: Any = cluster.command(source, "INFO", "errorstats")
        return int(stats.get("errorstat_TRYAGAIN", {}).get("count", 0))

    seen = tryagains()

    def finish() -> None:
        deadline = time.monotonic() + 5
        while tryagains() == seen and time.monotonic() < deadline:
            time.sleep(0.002)
        # The rest of the slot's keys: then the source answers ASK, which the edge follows
        # (handing the slot over, three SETSLOTs and a wait for every node to agree, comes
        # after the request, so the edge's 100 ms of TRYAGAIN need not cover it on a busy CI).
        cluster.begin_move(slot, target)

    mover = threading.Thread(target=finish)
    mover.start()
    r = edge.get(f"/{HOME_CODE}", HOST, IPHONE)
    mover.join()
    cluster.finish_move(slot, target)
    assert tryagains() > seen  # the edge did meet the split slot
    assert (r.status_code, r.headers["location"]) == (302, MERGED)
    # The click is in the slot's stream now; or, when a loaded machine's mover took longer than
    # the edge's 100 ms of TRYAGAIN, the edge answered from its memory and its spool replays the
    # click, into whichever partition's stream is next (edge/resolve.py's append: the drain
    # reads them all). Either way it is there once.
    deadline = time.monotonic() + 3
    while len(_home_clicks(cluster)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_home_clicks(cluster)) == 2  # the click of _half_moved's request, and this one
    cluster.move_slot(slot, source)  # back, for the tests after this one


def _home_clicks(cluster: EmbeddedCluster) -> list[str]:
    """The ids of HOME_CODE's clicks in every partition's stream."""
    found = streams(cluster).values()
    return [event.click_id for events in found for event, _ in events if event.code == HOME_CODE]


def test_edge_reads_key_by_key_while_a_slot_is_half_moved(
    cluster: EmbeddedCluster, edge: AsgiEdge, world: World
):
    # A reshard moves a slot's keys in batches: the link's copy may reach the importing master
    # before the keys the script declares (domain copy, code bucket, stream), so the script runs
    # on the source and fails on the link ("non local key"): the worker went into an outage and
    # answered from its memory, its click spooled to another partition's stream. The edge now
    # reads the records key by key (each command follows ASK), the click in its own stream.
    stream, slot, source, target = _half_moved(
        cluster, edge, keys.link(world.link.id, CONTACT_PARTITION, PARTITIONS)
    )
    trips = edge.resolver.second_trips
    r = edge.get(f"/{HOME_CODE}", HOST, IPHONE)
    assert (r.status_code, r.headers.get("location")) == (302, MERGED)
    assert edge.resolver.second_trips == trips + 1  # key by key, then the second script
    cluster.begin_move(slot, target)
    cluster.finish_move(slot, target)
    assert cluster.node(target).xlen(stream) == 2  # the click was recorded, once
    cluster.move_slot(slot, source)  # back, for the tests after this one


def test_store_writes_a_record_copy_per_partition_with_one_version(world: World):
    client: redis.RedisCluster = world.rdb  # type: ignore[assignment]
    versions = {
        client.hget(keys.link(world.link.id, p, PARTITIONS), keys.F_VERSION)
        for p in range(PARTITIONS)
    }
    assert versions == {str(world.link.version).encode()}
    world.put_link(name="renamed")
    assert world.store.put_link(world.link) == 0  # the same version again: no copy changes
    versions = {
        client.hget(keys.link(world.link.id, p, PARTITIONS), keys.F_VERSION)
        for p in range(PARTITIONS)
    }
    assert versions == {str(world.link.version).encode()}
