"""Versions never go backwards: RecordStore's check in Redis, seen from the records."""

from __future__ import annotations

import redis

from core import keys
from core.records import ContactRecord, DomainRecord, LinkRecord
from sync.publish.store import RecordStore
from tests.sync.publish.helpers import contact_in, domain_in, link_in, version_in


def _link(version: int, destination: str = "https://example.org/", **kw: object) -> LinkRecord:
    return LinkRecord(
        id=7,
        org_id=1,
        domain_id=3,
        hostname="go.example.test",
        version=version,
        destination=destination,
        **kw,  # type: ignore[arg-type]
    )


def test_an_older_version_written_after_a_newer_one_is_ignored(rdb: redis.Redis) -> None:
    store = RecordStore(rdb)
    assert store.put_link(_link(20, "https://example.org/new")) == 1
    assert store.put_link(_link(10, "https://example.org/old")) == 0
    assert link_in(rdb, 7).destination == "https://example.org/new"
    assert version_in(rdb, keys.link(7)) == 20
    # The same version again is not newer either.
    assert store.put_link(_link(20, "https://example.org/same")) == 0
    assert link_in(rdb, 7).destination == "https://example.org/new"


def test_a_tombstone_beats_an_older_live_write(rdb: redis.Redis) -> None:
    store = RecordStore(rdb)
    store.put_link(_link(5))
    store.put_link(_link(30, deleted=True))
    store.put_link(_link(25, "https://example.org/late"))  # a write that was in flight
    assert link_in(rdb, 7).deleted is True
    assert rdb.hget(keys.link(7), keys.F_STATE) == b"x"
    # Contacts and domains behave the same.
    store.put_contact(ContactRecord(id=4, org_id=1, version=9, deleted=True))
    store.put_contact(ContactRecord(id=4, org_id=1, version=8, first_name="Back"))
    assert contact_in(rdb, 4).deleted is True
    store.put_domain(DomainRecord(id=2, org_id=1, hostname="h.test", version=12, deleted=True))
    store.put_domain(DomainRecord(id=2, org_id=1, hostname="h.test", version=11))
    assert domain_in(rdb, "h.test").deleted is True
    assert rdb.hget(keys.domain("h.test"), keys.F_STATE) == b"x"


def test_a_newer_live_write_replaces_a_tombstone(rdb: redis.Redis) -> None:
    store = RecordStore(rdb)
    store.put_domain(DomainRecord(id=2, org_id=1, hostname="h.test", version=12, deleted=True))
    store.put_domain(DomainRecord(id=3, org_id=1, hostname="h.test", version=13))
    assert domain_in(rdb, "h.test").id == 3
    assert rdb.hget(keys.domain("h.test"), keys.F_STATE) == b"a"


def test_writes_queued_on_one_pipeline_keep_the_newest(rdb: redis.Redis) -> None:
    store = RecordStore(rdb)
    pipe = rdb.pipeline(transaction=False)
    for v in (3, 9, 4, 7):
        store.put_link(_link(v, f"https://example.org/{v}"), pipe)
    assert pipe.execute() == [1, 1, 0, 0]
    assert link_in(rdb, 7).destination == "https://example.org/9"
