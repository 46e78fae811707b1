"""The full rebuild and the reconcile on a real 3-master Valkey Cluster, in the layout of 16
partitions (docs/decisions/0011-cluster-layout.md): every copy written, every copy pruned."""

from __future__ import annotations

import psycopg
import pytest
import redis
from flask import Flask

from admin.services.orgs import NewOrg
from core import keys
from core.config import to_libpq
from core.records import LinkRecord
from smartlinks.cluster import EmbeddedCluster
from sync.publish.reconcile import Reconciler
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.sync.publish.test_reconcile import _world

PARTITIONS = 16


@pytest.fixture(scope="module")
def cluster(valkey_cluster: EmbeddedCluster) -> EmbeddedCluster:
    """The shared cluster (tests/helpers/cluster.py), empty."""
    valkey_cluster.flush()
    return valkey_cluster


def _versions(client: redis.RedisCluster, key_of: object, record_id: object) -> set[bytes | None]:
    return {
        client.hget(key_of(record_id, p, PARTITIONS), keys.F_VERSION)  # type: ignore[operator]
        for p in range(PARTITIONS)
    }


def test_rebuild_and_reconcile_write_and_prune_every_copy(
    app: Flask, org: NewOrg, clean: Servers, cluster: EmbeddedCluster
) -> None:
    w = _world(org.org_id)
    client = cluster.client()
    store = RecordStore(client, PARTITIONS)
    ghost = LinkRecord(
        id=999_999, org_id=1, domain_id=1, hostname="r.example.test", version=1, destination="x"
    )
    store.put_link(ghost)
    misplaced = keys.code_bucket("ab", PARTITIONS)  # a code in a bucket that is not its own
    client.hset(misplaced, "Zmisplc", "1:")
    reconciler = Reconciler(to_libpq(clean.database_url), store)
    assert reconciler.full_rebuild() is True

    for lnk in w["links"]:  # type: ignore[attr-defined]
        assert _versions(client, keys.link, lnk.id) == {str(lnk.version).encode()}
    dom = w["dom"]
    assert _versions(client, keys.domain, dom.hostname) == {str(dom.version).encode()}  # type: ignore[attr-defined]
    for person in w["people"]:  # type: ignore[attr-defined]
        assert client.hexists(keys.contact(person.id, PARTITIONS), keys.F_DATA)
    for code in w["codes"].values():  # type: ignore[attr-defined]
        assert client.hexists(keys.code_bucket(code, PARTITIONS), code)
    # the ghost's every copy is a tombstone; the misplaced code is gone
    states = {
        client.hget(keys.link(ghost.id, p, PARTITIONS), keys.F_STATE) for p in range(PARTITIONS)
    }
    assert states == {b"x"}
    assert not client.hexists(misplaced, "Zmisplc")

    # what the rebuild published is no longer in flight (a publisher would mark it so)
    with psycopg.connect(to_libpq(clean.database_url), autocommit=True) as conn:
        conn.execute("UPDATE sync_outbox SET processed_at = now()")
    # a lost link (every copy) and a lost code: found by the reconcile, repaired
    lost = w["links"][0]  # type: ignore[index]
    for p in range(PARTITIONS):
        client.delete(keys.link(lost.id, p, PARTITIONS))
    code = next(iter(w["codes"].values()))  # type: ignore[attr-defined]
    client.hdel(keys.code_bucket(code, PARTITIONS), code)
    assert sorted(reconciler.reconcile()) == ["codes", "links"]
    assert _versions(client, keys.link, lost.id) == {str(lost.version).encode()}
    assert reconciler.reconcile() == []
    client.close()
