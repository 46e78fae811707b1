"""The publisher in burst mode, in this process: each kind of change reaches Redis, deletes
leave tombstones, outbox rows are marked processed, and two publishers share the work."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.services.orgs import NewOrg
from admin.services.outbox import enqueue
from core import keys
from core.config import to_libpq
from sync.publish.publisher import Publisher, publish_batch
from tests.conftest import Servers
from tests.helpers.threads import in_threads
from tests.sync import factory
from tests.sync.publish.helpers import code_in, contact_in, domain_in, link_in, version_in


def _pending() -> int:
    return int(
        db.session.execute(
            text("SELECT count(*) FROM sync_outbox WHERE processed_at IS NULL")
        ).scalar_one()
    )


def test_each_kind_of_change_reaches_redis(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    dom = factory.domain(org.org_id, "go.example.test", "https://example.org/fallback")
    lnk = factory.link(
        org.org_id,
        dom,
        "https://example.org/rsvp?first={{first_name}}",
        name="Gala",
        extension="gala2021",
        preview_title="Gala 2021",
        preview_description="Join us",
        preview_image_url="https://example.org/gala.jpg",
    )
    person = factory.contact(
        org.org_id,
        "+15551234567",
        first_name="Ada",
        fields={"source": "sms", "age": 36, "vip": True},
    )
    codes = factory.issue(org.org_id, lnk, [person.id, None])
    burst()

    d = domain_in(rdb, "go.example.test")
    assert (d.id, d.org_id, d.fallback_url, d.deleted) == (
        dom.id,
        org.org_id,
        "https://example.org/fallback",
        False,
    )
    rec = link_in(rdb, lnk.id)
    assert rec.hostname == "go.example.test" and rec.domain_id == dom.id
    assert rec.destination == "https://example.org/rsvp?first={{first_name}}"
    assert (rec.extension, rec.preview_title, rec.preview_description) == (
        "gala2021",
        "Gala 2021",
        "Join us",
    )
    assert rec.preview_image_url == "https://example.org/gala.jpg"
    assert rec.version == lnk.version and rec.archived is False
    assert rdb.hget(keys.link(lnk.id), keys.F_DOMAIN_ID) == str(dom.id).encode()
    c = contact_in(rdb, person.id)
    assert (c.phone, c.first_name, c.fields) == (
        "+15551234567",
        "Ada",
        {"source": "sms", "age": "36", "vip": "true"},
    )
    assert code_in(rdb, codes[person.id]) == f"{lnk.id}:{person.id}"
    assert code_in(rdb, codes[None]) == f"{lnk.id}:"
    assert _pending() == 0

    # An edit, an archive, a changed contact field.
    v_edit = factory.update(lnk, destination="https://example.org/v2")
    burst()
    assert link_in(rdb, lnk.id).destination == "https://example.org/v2"
    assert version_in(rdb, keys.link(lnk.id)) == v_edit
    factory.update(lnk, archived=True)
    factory.update(person, fields={"source": "email"})
    burst()
    assert link_in(rdb, lnk.id).archived is True
    assert rdb.hget(keys.link(lnk.id), keys.F_STATE) == b"x"
    assert contact_in(rdb, person.id).fields == {"source": "email"}
    assert _pending() == 0


def test_deletes_leave_tombstones_and_remove_codes(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    dom = factory.domain(org.org_id, "del.example.test")
    lnk = factory.link(org.org_id, dom)
    person = factory.contact(org.org_id, "+15551230000")
    codes = factory.issue(org.org_id, lnk, [person.id])
    burst()
    assert code_in(rdb, codes[person.id])

    v_contact = factory.delete(person)  # cascades to its issued code
    enqueue("codes", lnk.id, 0, {"codes": [codes[person.id]]})
    db.session.commit()
    v_link = factory.delete(lnk)
    burst()
    assert contact_in(rdb, person.id).deleted is True
    assert version_in(rdb, keys.contact(person.id)) == v_contact
    assert link_in(rdb, lnk.id).deleted is True
    assert version_in(rdb, keys.link(lnk.id)) == v_link
    assert code_in(rdb, codes[person.id]) is None

    # A deleted domain: its hostname comes from the payload (or sync's id -> hostname map).
    v_dom = factory.delete(dom)
    burst()
    assert domain_in(rdb, "del.example.test").deleted is True
    assert version_in(rdb, keys.domain("del.example.test")) == v_dom
    assert rdb.hget(keys.SYNC_DOMAIN_HOSTS, str(dom.id)) is None


def test_a_renamed_domain_leaves_a_tombstone_at_its_old_hostname(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    dom = factory.domain(org.org_id, "old.example.test")
    burst()
    factory.update(dom, hostname="new.example.test")
    burst()
    assert domain_in(rdb, "new.example.test").id == dom.id
    assert rdb.hget(keys.domain("old.example.test"), keys.F_STATE) == b"x"


def test_a_late_older_outbox_row_does_not_go_backwards(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    dom = factory.domain(org.org_id, "v.example.test")
    lnk = factory.link(org.org_id, dom, "https://example.org/1")
    factory.update(lnk, destination="https://example.org/2")
    burst()
    newest = version_in(rdb, keys.link(lnk.id))
    # An old outbox row processed after the newer one (e.g. by a slower second worker).
    enqueue("link", lnk.id, 1)
    db.session.commit()
    burst()
    assert version_in(rdb, keys.link(lnk.id)) == newest
    assert link_in(rdb, lnk.id).destination == "https://example.org/2"


def test_a_failed_redis_write_leaves_the_rows_pending(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: object
) -> None:
    dom = factory.domain(org.org_id, "fail.example.test")
    factory.link(org.org_id, dom)
    pub = Publisher(clean.database_url, "redis://127.0.0.1:1/0")  # type: ignore[attr-defined]
    pub.connect()
    try:
        try:
            pub.publish_pending()
        except redis.ConnectionError:
            pass
        else:
            raise AssertionError("a publish without Redis must fail")
    finally:
        pub.close()
    assert _pending() == 2


def test_two_publishers_share_the_outbox_without_loss(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: object
) -> None:
    dom = factory.domain(org.org_id, "two.example.test")
    people = [factory.contact(org.org_id, f"+1555200{i:04d}") for i in range(150)]
    versions = {p.id: factory.update(p, first_name=f"N{p.id}") for p in people}
    url, rurl = clean.database_url, clean.redis_url  # type: ignore[attr-defined]
    pubs = [Publisher(url, rurl, batch_size=20) for _ in range(2)]
    for p in pubs:
        p.connect()
    done: list[int] = []

    def drain(pub: Publisher) -> None:
        n = 0
        while k := pub.publish_pending():
            n += k
        done.append(n)

    in_threads(drain, pubs)
    for p in pubs:
        p.close()
    assert sum(done) == 1 + 300  # the domain, 150 creates, 150 edits: each row once
    assert _pending() == 0
    for pid, version in versions.items():
        assert version_in(rdb, keys.contact(pid)) == version
        assert contact_in(rdb, pid).first_name == f"N{pid}"
    assert domain_in(rdb, "two.example.test").id == dom.id


def test_libpq_url_drops_the_sqlalchemy_driver() -> None:
    assert to_libpq("postgresql+psycopg://u:p@h:1/db") == "postgresql://u:p@h:1/db"
    assert to_libpq("postgresql://u@h/db") == "postgresql://u@h/db"


def test_a_batch_takes_a_bounded_number_of_codes(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers
) -> None:
    dom = factory.domain(org.org_id, "codes.example.test")
    lnk = factory.link(org.org_id, dom)
    people = [factory.contact(org.org_id, f"+1555400{i:04d}") for i in range(6)]
    issued = [factory.issue(org.org_id, lnk, [p.id for p in people[i : i + 2]]) for i in (0, 2, 4)]
    enqueue("codes", lnk.id, 0, {"codes": "not a list"})  # a malformed payload is skipped
    db.session.commit()
    pub = Publisher(clean.database_url, clean.redis_url)
    try:
        conn = psycopg.connect(to_libpq(clean.database_url), autocommit=True)
        with conn:
            # domain + link + 6 contacts, then the first codes row (2 codes fit, a third does not)
            assert publish_batch(conn, pub.store, 500, max_codes=3) == 9
            assert [code_in(rdb, c) is not None for c in issued[0].values()] == [True, True]
            assert code_in(rdb, next(iter(issued[1].values()))) is None
            assert publish_batch(conn, pub.store, 500, max_codes=3) == 1
            assert publish_batch(conn, pub.store, 500, max_codes=3) == 2  # last codes + malformed
            assert publish_batch(conn, pub.store, 500, max_codes=3) == 0
    finally:
        pub.client.close()
    for codes in issued:
        for contact_id, code in codes.items():
            assert code_in(rdb, code) == f"{lnk.id}:{contact_id}"
    assert _pending() == 0


def test_processed_outbox_rows_are_deleted_after_a_day(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers, burst: Callable[..., Publisher]
) -> None:
    dom = factory.domain(org.org_id, "old.example.test")
    factory.link(org.org_id, dom)
    burst()
    db.session.execute(
        text(
            "UPDATE sync_outbox SET processed_at = now() - interval '2 days' WHERE entity = 'domain'"
        )
    )
    enqueue("link", 424242, 1)  # pending: kept whatever its age
    db.session.execute(text("UPDATE sync_outbox SET created_at = now() - interval '3 days'"))
    db.session.commit()
    pub = Publisher(clean.database_url, clean.redis_url)
    try:
        assert pub.delete_old() == 1
    finally:
        pub.close()
        pub.client.close()
    left = db.session.execute(
        text("SELECT entity, processed_at IS NULL FROM sync_outbox ORDER BY id")
    ).all()
    assert [tuple(r) for r in left] == [("link", False), ("link", True)]
