"""The drain in burst mode, in this process: clicks recorded once, counters, actions, poison
entries, redelivery, reclaim, dead letters, trimming and concurrent consumers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.services.orgs import NewOrg
from core import keys, records
from sync.clicks.drain import Drain
from tests.helpers.threads import in_threads
from tests.sync.clicks.helpers import (
    ACTIONS,
    ANDROID,
    DESKTOP,
    IMESSAGE,
    IPHONE,
    amendment_fields,
    click_fields,
    make_contacts,
    make_domain,
    make_link,
    run_burst,
    scalar,
    xadd_all,
)
from tests.sync.clicks.streams import Streams


def _pending(rdb: redis.Redis) -> int:
    return int(rdb.xpending(keys.CLICK_STREAM, keys.DRAIN_GROUP)["pending"])


def _counters(link_id: int) -> tuple[int, int, int, int]:
    db.session.rollback()
    row = db.session.execute(
        text("SELECT clicks, unique_clicks, previews, bots FROM link_counters WHERE link_id = :l"),
        {"l": link_id},
    ).one()
    return (row.clicks, row.unique_clicks, row.previews, row.bots)


def test_clicks_counters_and_actions(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, actions=ACTIONS, extension="gala2021")
    a, b, c = make_contacts(org.org_id, 3)
    # c starts in "Not yet clicked"; a click moves it out.
    db.session.execute(
        text("INSERT INTO contact_lists (org_id, name) VALUES (:o, 'Not yet clicked')"),
        {"o": org.org_id},
    )
    db.session.execute(
        text(
            "INSERT INTO list_members (list_id, contact_id)"
            " SELECT id, :c FROM contact_lists WHERE name = 'Not yet clicked'"
        ),
        {"c": c},
    )
    db.session.commit()
    entries = [
        click_fields(link, a, domain, user_agent=IPHONE),
        click_fields(link, a, domain, user_agent=IPHONE),
        click_fields(link, b, domain, user_agent=ANDROID),
        click_fields(link, c, domain, user_agent=DESKTOP),
        click_fields(link, a, domain, kind="preview", user_agent=IMESSAGE),
        click_fields(link, b, domain, kind="bot", user_agent="Googlebot/2.1"),
        # generic URL: one visitor twice, another once
        click_fields(link, None, domain, ip="198.51.100.1", user_agent=IPHONE),
        click_fields(link, None, domain, ip="198.51.100.1", user_agent=IPHONE),
        click_fields(link, None, domain, ip="198.51.100.2", user_agent=IPHONE),
    ]
    streams.xadd_all(entries)
    drain = streams.drain()
    assert run_burst(drain) == len(entries)

    assert scalar("SELECT count(*) FROM clicks") == 9
    # clicks: 4 contact + 3 generic human; unique: a, b, c + 2 visitors; previews: preview + bot
    assert _counters(link) == (7, 5, 2, 1)
    assert streams.pending() == 0
    whispers = db.session.execute(
        text("SELECT contact_id, body FROM history_events WHERE type = 'whisper'")
    ).all()
    assert sorted(w.contact_id for w in whispers) == [a, a, b, c]
    assert all(
        w.body.startswith("Clicked Gala RSVP: https://go.example.test/Ab3dE6g/gala2021 at ")
        for w in whispers
    )
    tagged = db.session.execute(
        text(
            "SELECT ct.contact_id FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id"
            " WHERE t.name = 'gala-clicked' AND t.org_id = :o"
        ),
        {"o": org.org_id},
    ).scalars()
    assert sorted(tagged) == [a, b, c]
    members = db.session.execute(
        text(
            "SELECT l.name, m.contact_id FROM list_members m JOIN contact_lists l"
            " ON l.id = m.list_id ORDER BY 1, 2"
        )
    ).all()
    assert [tuple(m) for m in members] == [("Clicked", a), ("Clicked", b), ("Clicked", c)]
    devices: dict[str, str] = dict(
        db.session.execute(
            text("SELECT user_agent, device || '/' || os || '/' || browser FROM clicks")
        ).all()
    )
    assert devices[IPHONE] == "iPhone/iOS/Mobile Safari"
    assert devices[ANDROID].endswith("/Android/Chrome Mobile")
    assert devices[DESKTOP] == "Desktop/Windows/Chrome"
    # Generic clicks carry a visitor hash, contacts' clicks do not need one.
    assert scalar("SELECT count(DISTINCT visitor_hash) FROM clicks WHERE contact_id IS NULL") == 2
    assert (
        scalar("SELECT count(*) FROM clicks WHERE contact_id IS NOT NULL AND visitor_hash <> ''")
        == 0
    )

    # The stream delivers the same events again (a retried XADD, a redelivery): nothing changes.
    streams.xadd_all(entries)
    assert run_burst(drain) == len(entries)
    assert scalar("SELECT count(*) FROM clicks") == 9
    assert _counters(link) == (7, 5, 2, 1)
    assert scalar("SELECT count(*) FROM history_events") == 4


def test_link_with_omitted_actions_whispers_and_generic_runs_none(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, name="Plain")  # actions omitted: the default whisper
    tagging = make_link(
        org.org_id, domain, name="Tagger", actions=[{"type": "add_tag", "tag": "t"}]
    )
    (a,) = make_contacts(org.org_id, 1)
    xadd_all(
        rdb,
        [
            click_fields(link, a, domain),
            click_fields(link, None, domain),
            click_fields(tagging, None, domain),
            click_fields(tagging, a, domain, kind="preview"),
        ],
    )
    run_burst(make_drain())
    assert scalar("SELECT count(*) FROM history_events WHERE type = 'whisper'") == 1
    # Neither a generic click nor a preview tags anyone, and a tag-only link does not whisper.
    assert scalar("SELECT count(*) FROM tags") == 0
    assert scalar("SELECT count(*) FROM contact_tags") == 0


def test_link_with_empty_actions_records_the_click_with_no_effect(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]
) -> None:
    """``"actions": []`` means no actions (the contract): the click counts, nothing else."""
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, name="Quiet", actions=[])
    (a,) = make_contacts(org.org_id, 1)
    xadd_all(rdb, [click_fields(link, a, domain, user_agent=IPHONE)])
    assert run_burst(make_drain()) == 1
    assert scalar("SELECT count(*) FROM clicks WHERE contact_id = :c", c=a) == 1
    assert _counters(link) == (1, 1, 0, 0)
    assert scalar("SELECT count(*) FROM history_events") == 0
    assert scalar("SELECT count(*) FROM contact_tags") == 0
    assert scalar("SELECT count(*) FROM list_members") == 0


def test_tag_changes_follow_click_order(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]
) -> None:
    domain = make_domain(org.org_id)
    adds = make_link(org.org_id, domain, actions=[{"type": "add_tag", "tag": "hot"}])
    removes = make_link(org.org_id, domain, actions=[{"type": "remove_tag", "tag": "hot"}])
    a, b = make_contacts(org.org_id, 2)
    now = time.time_ns() // 1_000_000
    xadd_all(
        rdb,
        [
            # a: add then remove -> untagged; b: remove then add -> tagged (one batch)
            click_fields(adds, a, domain, ts_ms=now),
            click_fields(removes, a, domain, ts_ms=now + 1),
            click_fields(removes, b, domain, ts_ms=now),
            click_fields(adds, b, domain, ts_ms=now + 1),
        ],
    )
    run_burst(make_drain())
    tagged = db.session.execute(text("SELECT contact_id FROM contact_tags")).scalars().all()
    assert tagged == [b]


def test_poison_entries_are_dead_lettered_and_do_not_block(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    (a,) = make_contacts(org.org_id, 1)
    good = [click_fields(link, a, domain) for _ in range(3)]
    poison: list[dict[Any, bytes]] = [
        {
            records.STREAM_EVENT: b"\xc1not msgpack",
            records.STREAM_REF: f"{link}:{a}:{domain}".encode(),
        },
        click_fields(link + 999, a, domain),  # unknown link
        {b"x": b"neither a click nor an amendment"},
        click_fields(link, a, domain, kind="robot"),
        click_fields(link, a, domain, ts_ms=10**18),  # a timestamp no datetime holds
    ]
    streams.xadd_all(
        [good[0], poison[0], good[1], poison[1], poison[2], good[2], poison[3], poison[4]]
    )
    run_burst(streams.drain())
    assert scalar("SELECT count(*) FROM clicks") == 3
    assert scalar("SELECT count(*) FROM history_events") == 3
    assert streams.pending() == 0
    dead: Any = streams.dead()
    reasons = sorted(fields[b"reason"].decode().split(":")[0].split(" ")[0] for _, fields in dead)
    assert reasons == ["invalid", "undecodable", "undecodable", "unknown", "unknown"]
    # The dead letter keeps the original fields, to be inspected or replayed.
    unknown = next(f for _, f in dead if f[b"reason"].startswith(b"unknown link"))
    assert unknown[records.STREAM_EVENT.encode()] == poison[1][records.STREAM_EVENT]


def test_failing_entry_is_isolated_then_dead_lettered_after_max_deliveries(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    (a,) = make_contacts(org.org_id, 1)
    # A database failure for one click only (as a broken row would cause), whatever the batch.
    db.session.execute(
        text(
            """
            CREATE FUNCTION test_reject_click() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.click_id = 'poison-click' THEN RAISE EXCEPTION 'rejected for the test'; END IF;
              RETURN NEW;
            END $$
            """
        )
    )
    db.session.execute(
        text(
            "CREATE TRIGGER test_reject_click BEFORE INSERT ON clicks"
            " FOR EACH ROW EXECUTE FUNCTION test_reject_click()"
        )
    )
    db.session.commit()
    try:
        streams.xadd_all(
            [
                click_fields(link, a, domain),
                click_fields(link, a, domain, click_id="poison-click"),
                click_fields(link, a, domain),
            ],
        )
        drain = streams.drain(claim_idle_ms=0, max_deliveries=2)
        run_burst(drain)
        assert scalar("SELECT count(*) FROM clicks") == 2  # the others went in
        assert streams.pending() == 1  # the failing one waits for a retry
        # Retried (reclaimed) until it has been delivered more than max_deliveries times.
        for _ in range(5):
            drain.reclaim()
        assert streams.pending() == 0
        dead: Any = streams.dead()
        assert len(dead) == 1
        assert b"delivered 3 times" in dead[0][1][b"reason"]
    finally:
        db.session.rollback()
        db.session.execute(text("DROP TRIGGER test_reject_click ON clicks"))
        db.session.execute(text("DROP FUNCTION test_reject_click()"))
        db.session.commit()


def test_amendments_mark_merge_fallback_even_before_their_click(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    (a,) = make_contacts(org.org_id, 1)
    xadd_all(rdb, [click_fields(link, a, domain, click_id="c1"), amendment_fields("c1")])
    # An amendment whose click is still pending elsewhere stays pending until it is recorded.
    xadd_all(rdb, [amendment_fields("c2")])
    drain = make_drain(claim_idle_ms=0)
    run_burst(drain)
    assert scalar("SELECT merge_fallback FROM clicks WHERE click_id = 'c1'") is True
    assert _pending(rdb) == 1
    xadd_all(rdb, [click_fields(link, a, domain, click_id="c2")])
    run_burst(drain)
    drain.reclaim()
    assert scalar("SELECT merge_fallback FROM clicks WHERE click_id = 'c2'") is True
    assert _pending(rdb) == 0


def test_reclaim_and_trim_never_drop_unacknowledged_entries(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    contacts = make_contacts(org.org_id, 50)
    streams.xadd_all([click_fields(link, contacts[i % 50], domain) for i in range(1500)])
    drain = streams.drain(claim_idle_ms=0, batch=200)
    # A consumer that read the oldest 300 entries and died before acknowledging them. Its
    # heartbeat still looks alive (another host's), so the takeover of provably gone consumers
    # (test_takeover.py) leaves its entries alone and only reclaim()'s idle rule finds them:
    # without it a slow burst (over liveness.QUIET_MS) would take them over on a loaded machine.
    # (With shards: the oldest 300 / shards of each shard.)
    streams.client.set(keys.worker("drain", "dead-consumer"), json.dumps({"host": "elsewhere"}),
                       ex=60)  # fmt: skip
    held = streams.read_as("dead-consumer", 300 // streams.partitions)
    assert 290 <= held <= 300
    run_burst(drain)
    assert scalar("SELECT count(*) FROM clicks") == 1500 - held
    drain.trim()
    assert streams.length() == 1500  # each shard's oldest entry is unacknowledged: keep all
    drain.reclaim()
    assert scalar("SELECT count(*) FROM clicks") == 1500
    assert scalar("SELECT count(*) FROM history_events") == 1500
    assert streams.pending() == 0
    drain.trim()
    left = streams.length()
    # Trimmed exactly, once all are acknowledged; each shard's last delivered entry stays.
    assert left == streams.partitions
    # New entries after a trim are read and recorded as usual.
    streams.xadd_all([click_fields(link, contacts[0], domain)])
    run_burst(drain)
    assert scalar("SELECT count(*) FROM clicks") == 1501


def test_concurrent_consumers_record_each_click_once(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    links = [make_link(org.org_id, domain, name=f"L{i}", actions=ACTIONS) for i in range(3)]
    contacts = make_contacts(org.org_id, 100)
    entries = [
        click_fields(links[i % 3], contacts[i % 100], domain, kind="human" if i % 10 else "preview")
        for i in range(3000)
    ]
    streams.xadd_all(entries)
    streams.xadd_all(entries[:500])  # duplicates, likely read by another consumer than the first
    drains = [streams.drain(f"consumer-{i}", batch=100) for i in range(3)]
    errors: list[BaseException] = []

    def work(d: Drain) -> None:
        try:
            run_burst(d)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    in_threads(work, drains)
    assert not errors
    human = 2700
    assert scalar("SELECT count(*) FROM clicks") == 3000
    assert scalar("SELECT count(*) FROM history_events") == human
    assert scalar("SELECT sum(clicks) FROM link_counters") == human
    assert scalar("SELECT sum(previews) FROM link_counters") == 300
    assert scalar("SELECT sum(clicks) FROM link_contact_clicks") == human
    assert scalar("SELECT sum(unique_clicks) FROM link_counters") == scalar(
        "SELECT count(*) FROM link_contact_clicks"
    )
    assert streams.pending() == 0
    assert sum(d.totals["recorded"] for d in drains) == 3000


def test_a_flushed_redis_gets_its_group_back(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    (a,) = make_contacts(org.org_id, 1)
    drain = streams.drain()
    streams.xadd_all([click_fields(link, a, domain)])
    run_burst(drain)
    streams.flush()  # the stream and its group are gone; the edge appends again
    streams.xadd_all([click_fields(link, a, domain), click_fields(link, a, domain)])
    assert drain.step() == 0  # NOGROUP: the group is made again, from the first entry
    assert drain.step() == 2
    assert scalar("SELECT count(*) FROM clicks") == 3
    assert streams.pending() == 0


@pytest.mark.parametrize("streams", ["cluster"], indirect=True)
def test_a_shard_without_its_group_does_not_hold_back_the_others(
    app: Flask, org: NewOrg, streams: Streams
) -> None:
    # A drain lane that read before the group was made on every shard (or a master restarted
    # empty): that shard's NOGROUP once discarded what the other shards of the same pipelined
    # read had just delivered, and those entries waited 30 s for a reclaim.
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    people = make_contacts(org.org_id, streams.partitions)
    drain = streams.drain()
    streams.client.xgroup_destroy(streams.names[1], keys.DRAIN_GROUP)
    streams.xadd_all([click_fields(link, p, domain) for p in people])
    assert drain.step() == streams.partitions - 1  # every shard's entry but the groupless one's
    assert streams.held_by("test-consumer") == 0  # none left delivered and unrecorded
    assert drain.step() == 1  # the group was made again, from the shard's first entry
    assert scalar("SELECT count(*) FROM clicks") == streams.partitions
    assert streams.pending() == 0
