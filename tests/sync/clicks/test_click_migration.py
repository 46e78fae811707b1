"""Migration 0005_click_rollups on a database with clicks: downgrade copies them back into a
plain table, upgrade partitions them again and builds the rollups from them."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade

from admin import MIGRATIONS_DIR
from admin.extensions import db
from admin.services.orgs import NewOrg
from sync.clicks.drain import Drain
from tests.sync.clicks import helpers
from tests.sync.clicks.oracle import assert_rollups_match_clicks, rows

REVISION = "0005_click_rollups"
ROLLUPS = (
    "SELECT link_id, grain, t, clicks, previews, bots FROM link_series ORDER BY 1, 2, 3",
    "SELECT link_id, dimension, name, clicks FROM link_breakdown ORDER BY 1, 2, 3",
    "SELECT * FROM link_broadcast_clicks ORDER BY 1, 2",
)


def test_downgrade_then_upgrade_keeps_every_click_and_rebuilds_the_rollups(
    app: Flask, org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]
) -> None:
    domain = helpers.make_domain(org.org_id)
    link = helpers.make_link(org.org_id, domain)
    contacts = helpers.make_contacts(org.org_id, 5)
    rng = random.Random(11)
    t0 = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    helpers.xadd_all(
        rdb,
        [
            helpers.click_fields(
                link, rng.choice([*contacts, None]), domain,
                kind=rng.choice(("human", "human", "preview", "bot")),
                ts_ms=int((t0 + timedelta(minutes=rng.randrange(0, 6000))).timestamp() * 1000),
                user_agent=rng.choice((helpers.IPHONE, helpers.ANDROID)),
            )
            for _ in range(60)
        ],
    )
    helpers.run_burst(make_drain())
    clicks = rows("SELECT click_id, at, kind, contact_id FROM clicks ORDER BY click_id")
    before = [rows(sql) for sql in ROLLUPS]
    assert before[0]
    down = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(REVISION).down_revision
    db.session.rollback()
    db.session.close()
    try:
        downgrade(directory=str(MIGRATIONS_DIR), revision=str(down))
        assert helpers.scalar("SELECT relkind FROM pg_class WHERE relname = 'clicks'") == "r"
        assert helpers.scalar("SELECT to_regclass('link_series') IS NULL")
        assert rows("SELECT click_id, at, kind, contact_id FROM clicks ORDER BY click_id") == clicks
    finally:
        db.session.close()
        upgrade(directory=str(MIGRATIONS_DIR))
    assert helpers.scalar("SELECT relkind FROM pg_class WHERE relname = 'clicks'") == "p"
    assert helpers.scalar("SELECT count(*) FROM clicks_p202611") > 0  # the data's months, partitioned
    assert rows("SELECT click_id, at, kind, contact_id FROM clicks ORDER BY click_id") == clicks
    assert [rows(sql) for sql in ROLLUPS] == before
    assert_rollups_match_clicks()
    # The drain goes on against the new table: a redelivery conflicts, a new click counts.
    again = helpers.click_fields(link, contacts[0], domain, ts_ms=int(t0.timestamp() * 1000))
    helpers.xadd_all(rdb, [again, again])
    helpers.run_burst(make_drain("after"))
    assert helpers.scalar("SELECT count(*) FROM clicks") == len(clicks) + 1
    assert_rollups_match_clicks()
