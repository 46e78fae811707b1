"""Full rebuild and reconcile: Redis is a derived cache that sync can always rebuild."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask

from admin.services.orgs import NewOrg
from core import keys
from core.config import to_libpq
from core.records import LinkRecord
from sync.publish.publisher import Publisher
from sync.publish.reconcile import Reconciler
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.sync import factory
from tests.sync.publish.helpers import code_in, contact_in, domain_in, link_in, version_in


def _world(org_id: int) -> dict[str, object]:
    dom = factory.domain(org_id, "r.example.test")
    links = [factory.link(org_id, dom, f"https://example.org/{i}") for i in range(3)]
    people = [factory.contact(org_id, f"+1555300{i:04d}", first_name=f"P{i}") for i in range(5)]
    codes = factory.issue(org_id, links[0], [p.id for p in people] + [None])
    return {"dom": dom, "links": links, "people": people, "codes": codes}


def test_a_flushed_redis_is_rebuilt_without_being_asked(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    w = _world(org.org_id)
    burst()
    assert rdb.hexists(keys.SYNC_STATE, "full_at")
    rdb.flushall()
    burst()  # no --full: the missing state key is enough
    assert domain_in(rdb, "r.example.test").id == w["dom"].id  # type: ignore[attr-defined]
    for lnk in w["links"]:  # type: ignore[attr-defined]
        assert version_in(rdb, keys.link(lnk.id)) == lnk.version
    for p in w["people"]:  # type: ignore[attr-defined]
        assert contact_in(rdb, p.id).first_name == p.first_name
    for code in w["codes"].values():  # type: ignore[attr-defined]
        assert code_in(rdb, code)
    state = rdb.hgetall(keys.SYNC_STATE)
    assert int(state[b"links"]) == 3 and int(state[b"contacts"]) == 5 and int(state[b"codes"]) == 6


def test_full_rebuild_prunes_what_postgres_no_longer_has(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    w = _world(org.org_id)
    burst()
    store = RecordStore(rdb)
    ghost = LinkRecord(
        id=999_999,
        org_id=1,
        domain_id=1,
        hostname="r.example.test",
        version=1,
        destination="https://example.org/ghost",
    )
    store.put_link(ghost)
    store.put_codes([("zzGhost", 999_999, None)])
    rdb.hset(keys.code_bucket("ab"), "Zmisplc", "1:")  # a code in a bucket not its own
    burst(full=True)
    assert link_in(rdb, 999_999).deleted is True
    assert code_in(rdb, "zzGhost") is None
    assert not rdb.hexists(keys.code_bucket("ab"), "Zmisplc")
    for code in w["codes"].values():  # type: ignore[attr-defined]
        assert code_in(rdb, code)


def test_reconcile_repairs_drift(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher], clean: Servers
) -> None:
    w = _world(org.org_id)
    burst()
    lost_link = w["links"][1]  # type: ignore[index]
    lost_code = next(iter(w["codes"].values()))  # type: ignore[attr-defined]
    rdb.delete(keys.link(lost_link.id))
    rdb.hdel(keys.code_bucket(lost_code), lost_code)
    reconciler = Reconciler(to_libpq(clean.database_url), RecordStore(rdb))
    assert sorted(reconciler.reconcile()) == ["codes", "links"]
    assert version_in(rdb, keys.link(lost_link.id)) == lost_link.version
    assert code_in(rdb, lost_code)
    assert reconciler.reconcile() == []  # nothing left to repair
    # Changes committed but not yet published are in flight, not drift.
    factory.update(lost_link, destination="https://example.org/in-flight")
    factory.issue(org.org_id, w["links"][2], [None])  # type: ignore[index]
    assert reconciler.reconcile() == []
    assert rdb.hexists(keys.SYNC_STATE, "reconciled_at")


def test_a_flush_during_a_rebuild_is_noticed(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers
) -> None:
    _world(org.org_id)
    flushed: list[bool] = []

    def flush_once() -> int:
        if not flushed:
            rdb.flushall()
            flushed.append(True)
        return 0

    reconciler = Reconciler(to_libpq(clean.database_url), RecordStore(rdb), between=flush_once)
    assert reconciler.full_rebuild() is False
    assert not rdb.hexists(keys.SYNC_STATE, "full_at")
    reconciler.heal()  # the next check rebuilds again, this time to completion
    assert rdb.hexists(keys.SYNC_STATE, "full_at")
    assert domain_in(rdb, "r.example.test") is not None


def test_one_rebuild_at_a_time(app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers) -> None:
    _world(org.org_id)
    reconciler = Reconciler(to_libpq(clean.database_url), RecordStore(rdb))
    rdb.set(keys.SYNC_REBUILD_LOCK, "another-process", px=10_000)
    assert reconciler.full_rebuild() is False  # the other process's rebuild is not disturbed
    assert not rdb.exists(keys.SYNC_STATE)
    assert rdb.get(keys.SYNC_REBUILD_LOCK) == b"another-process"
    pub = Publisher(clean.database_url, clean.redis_url)
    try:
        assert pub.run(full=True, burst=True) == 1  # `sync --full --burst` says it could not
    finally:
        pub.close()
        pub.client.close()
    rdb.delete(keys.SYNC_REBUILD_LOCK)  # it finished (or its lock expired)
    assert reconciler.full_rebuild() is True
    assert not rdb.exists(keys.SYNC_REBUILD_LOCK)  # released
    assert domain_in(rdb, "r.example.test") is not None
