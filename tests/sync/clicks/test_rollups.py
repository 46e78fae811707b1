"""The metrics' rollups (sync/clicks/rollups.py) against the clicks they summarise: kept by the drain
exactly once, equal to the old queries over raw clicks, and the clicks table's monthly
partitions (sync/clicks/partitions.py): made ahead, a month without one, retention by dropping."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.models import Broadcast, Message
from admin.services import metrics
from admin.services.orgs import NewOrg
from core import config
from loadtest.seed_clicks import seed_clicks
from sync.clicks import partitions, rollups
from sync.clicks.drain import Drain
from tests.conftest import Servers
from tests.sync.clicks import helpers
from tests.sync.clicks.oracle import assert_rollups_match_clicks


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_rollups_equal_the_clicks_after_batches_with_duplicates(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]
) -> None:
    domain = helpers.make_domain(org.org_id)
    links = [helpers.make_link(org.org_id, domain, name=f"Link {i}") for i in range(2)]
    contacts = helpers.make_contacts(org.org_id, 12)
    broadcasts = []
    for link in links:
        b = Broadcast(org_id=org.org_id, link_id=link, body="Hi {{link}}")
        db.session.add(b)
        db.session.flush()
        broadcasts.append(b.id)
        for contact in contacts[:8]:  # the last four clicked without a broadcast
            db.session.add(
                Message(
                    org_id=org.org_id, contact_id=contact, broadcast_id=b.id, link_id=link,
                    to_phone="+15550000000", body="Hi",
                )
            )
    db.session.commit()
    rng = random.Random(7)
    t0 = datetime(2026, 11, 30, 23, 58, 0, tzinfo=UTC)  # across a day and a month boundary
    entries = []
    for _ in range(150):
        kind = rng.choice(("human",) * 6 + ("preview", "bot"))
        entries.append(
            helpers.click_fields(
                rng.choice(links),
                rng.choice([*contacts, None]),
                domain,
                kind=kind,
                ts_ms=_ms(t0 + timedelta(seconds=rng.randrange(0, 4 * 3600))),
                user_agent=rng.choice((helpers.IPHONE, helpers.ANDROID, helpers.DESKTOP, "Mozilla/5.0 (X11) Odd/1")),
                ip=f"198.51.100.{rng.randrange(1, 40)}",
            )
        )
    # Duplicates within one batch, and the same events again in later batches (redelivery).
    helpers.xadd_all(rdb, entries[:60] + entries[:10])
    helpers.run_burst(make_drain(batch=25))
    assert_rollups_match_clicks()
    helpers.xadd_all(rdb, entries[40:] + entries[:50])
    helpers.run_burst(make_drain("second", batch=30))
    assert helpers.scalar("SELECT count(*) FROM clicks") == 150
    assert helpers.scalar("SELECT count(DISTINCT click_id) FROM clicks") == 150
    assert_rollups_match_clicks()
    human = helpers.scalar("SELECT count(*) FROM clicks WHERE kind = 'human'")
    assert helpers.scalar("SELECT sum(clicks) FROM link_series WHERE grain = 'day'") == human
    assert helpers.scalar("SELECT sum(clicks) FROM link_counters") == human
    assert helpers.scalar("SELECT count(*) FROM link_broadcast_clicks") == 2


def _old_series(org_id: int, link_id: int, bucket: str, start: datetime, end: datetime) -> list:
    """The series as it was computed before the rollups: an aggregate over raw clicks."""
    step = metrics.BUCKETS[bucket]
    first, last = rollups.truncate(start, bucket), rollups.truncate(end, bucket)
    found = {
        r.bucket_start.astimezone(UTC): r
        for r in db.session.execute(
            text(
                """
                SELECT date_trunc(:bucket, at, 'UTC') AS bucket_start,
                       count(*) FILTER (WHERE kind = 'human') AS clicks,
                       count(*) FILTER (WHERE kind <> 'human') AS previews
                FROM clicks
                WHERE link_id = :link AND org_id = :org AND at >= :start AND at < :end
                GROUP BY 1
                """
            ),
            {"bucket": bucket, "link": link_id, "org": org_id, "start": first,
             "end": last + step},
        ).all()
    }
    points, t = [], first
    while t <= last:
        r = found.get(t)
        points.append({"t": t, "clicks": r.clicks if r else 0, "previews": r.previews if r else 0})
        t += step
    return points


def _old_breakdown(org_id: int, link_id: int) -> dict[str, Any]:
    found: dict[str, list[dict[str, Any]]] = {}
    for dim in ("device", "os", "browser"):
        counts = db.session.execute(
            text(
                f"SELECT {dim} AS name, count(*) AS n FROM clicks"
                " WHERE link_id = :link AND org_id = :org AND kind = 'human' GROUP BY 1"
            ),
            {"link": link_id, "org": org_id},
        ).all()
        items = [{"name": r.name or "Other", "clicks": r.n} for r in counts]
        found[dim] = sorted(items, key=lambda x: (-x["clicks"], x["name"]))[
            : metrics.BREAKDOWN_TOP
        ]
    found["broadcasts"] = [
        {"broadcast_id": r[0], "clicks": r[1], "unique_clicks": r[2]}
        for r in db.session.execute(
            text(
                "SELECT broadcast_id, count(*), count(DISTINCT contact_id) FROM clicks"
                " WHERE link_id = :link AND org_id = :org AND kind = 'human'"
                " AND broadcast_id IS NOT NULL GROUP BY 1 ORDER BY 1"
            ),
            {"link": link_id, "org": org_id},
        ).all()
    ]
    return found


def test_series_and_breakdown_answer_as_the_old_queries_on_a_seeded_link(
    app: Flask, clean: Servers
) -> None:
    seeded = seed_clicks(clean.database_url, 6000, 300, 90, seed=3, log=lambda s: None)
    org, link = seeded.org_id, seeded.link_id
    last = datetime.fromisoformat(seeded.last_at)
    for bucket, span in (
        ("minute", timedelta(hours=1)),
        ("minute", timedelta(days=3)),
        ("hour", timedelta(hours=48)),
        ("hour", timedelta(days=91)),
        ("day", timedelta(days=30)),
        ("day", timedelta(days=100)),
    ):
        start = last - span + timedelta(seconds=17)
        got = metrics.series(org, link, bucket, start, last)
        assert got == _old_series(org, link, bucket, start, last), (bucket, span)
        assert sum(p["clicks"] for p in got) > 0
    assert metrics.breakdown(org, link) == _old_breakdown(org, link)
    assert metrics.breakdown(org, link)["broadcasts"][0]["unique_clicks"] > 250
    assert metrics.series(org + 1000, link, "day", last - timedelta(days=5), last) == [
        {"t": p["t"], "clicks": 0, "previews": 0}
        for p in metrics.series(org, link, "day", last - timedelta(days=5), last)
    ]


def _conn(servers: Servers) -> psycopg.Connection[Any]:
    return psycopg.connect(config.to_libpq(servers.database_url))


def test_partitions_are_made_ahead_and_a_month_without_one_never_fails(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain], clean: Servers
) -> None:
    with _conn(clean) as conn:
        now = datetime.now(UTC)
        partitions.ensure(conn, now)
        assert partitions.ensure(conn, now) == []  # made once
        with conn.cursor() as cur:
            have = partitions.months(cur)
        month = partitions.month_of(now)
        for _ in range(partitions.AHEAD + 1):
            assert month in have
            month = partitions.next_month(month)

    domain = helpers.make_domain(org.org_id)
    link = helpers.make_link(org.org_id, domain)
    far = datetime(2031, 5, 17, 9, 30, tzinfo=UTC)  # no partition for May 2031
    with _conn(clean) as conn, conn.cursor() as cur:
        assert date(2031, 5, 1) not in partitions.months(cur)
    entries = [helpers.click_fields(link, None, domain, ts_ms=_ms(far + timedelta(minutes=i)))
               for i in range(3)]
    helpers.xadd_all(rdb, entries)
    helpers.run_burst(make_drain())
    assert helpers.scalar("SELECT count(*) FROM clicks_default WHERE link_id = :l", l=link) == 3

    db.session.rollback()  # ATTACH waits for readers of the default partition to finish
    with _conn(clean) as conn, conn.cursor() as cur:  # the month is made: its rows move in
        assert partitions.create_month(cur, date(2031, 5, 1))
    assert helpers.scalar("SELECT count(*) FROM clicks_default WHERE link_id = :l", l=link) == 0
    assert helpers.scalar("SELECT count(*) FROM clicks_p203105 WHERE link_id = :l", l=link) == 3
    # A redelivered click still conflicts in its new partition; a new one lands there.
    helpers.xadd_all(rdb, [entries[0], helpers.click_fields(link, None, domain, ts_ms=_ms(far))])
    helpers.run_burst(make_drain())
    assert helpers.scalar("SELECT count(*) FROM clicks_p203105 WHERE link_id = :l", l=link) == 4
    assert helpers.scalar("SELECT clicks FROM link_counters WHERE link_id = :l", l=link) == 4
    assert_rollups_match_clicks()


def test_retention_drops_old_months_and_keeps_their_totals(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain], clean: Servers
) -> None:
    with _conn(clean) as conn, conn.cursor() as cur:
        for month in (date(2001, 1, 1), date(2001, 2, 1)):
            partitions.create_month(cur, month)
    domain = helpers.make_domain(org.org_id)
    link = helpers.make_link(org.org_id, domain)
    old, newer = datetime(2001, 1, 20, tzinfo=UTC), datetime(2001, 2, 3, tzinfo=UTC)
    helpers.xadd_all(
        rdb,
        [helpers.click_fields(link, None, domain, ts_ms=_ms(old), click_id=secrets.token_hex(16))
         for _ in range(5)]
        + [helpers.click_fields(link, None, domain, ts_ms=_ms(newer)) for _ in range(2)],
    )
    helpers.run_burst(make_drain())
    db.session.rollback()  # DROP waits for readers of the partition to finish
    with _conn(clean) as conn, conn.cursor() as cur:
        assert partitions.drop_before(cur, date(2001, 2, 1)) == ["clicks_p200101"]
        assert date(2001, 2, 1) in partitions.months(cur)
    assert helpers.scalar("SELECT count(*) FROM clicks WHERE link_id = :l", l=link) == 2
    assert helpers.scalar("SELECT to_regclass('clicks_p200101') IS NULL")
    # The totals stay: the counters and the day rollup still hold the dropped month.
    assert helpers.scalar("SELECT clicks FROM link_counters WHERE link_id = :l", l=link) == 7
    assert helpers.scalar(
        "SELECT clicks FROM link_series WHERE link_id = :l AND grain = 'day' AND t = :t",
        l=link, t=old,
    ) == 5
    helpers.xadd_all(rdb, [helpers.click_fields(link, None, domain, ts_ms=_ms(newer))])
    helpers.run_burst(make_drain())
    assert helpers.scalar("SELECT count(*) FROM clicks WHERE link_id = :l", l=link) == 3
