"""Retention: clicks older than their organisation's setting lose IP address and user agent,
in batches, while every count stays; younger clicks and other organisations' keep theirs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.services import privacy
from admin.services.orgs import NewOrg
from sync.clicks import retention
from sync.clicks.drain import Drain
from tests.sync.clicks.helpers import (
    click_fields,
    make_contacts,
    make_domain,
    make_link,
    run_burst,
    xadd_all,
)

DAY_MS = 86_400_000


def _visitor_data(org_id: int) -> list[tuple[int, bool, bool]]:
    """(age in days, has an IP address, has a user agent) of each click, oldest first."""
    db.session.rollback()
    rows = db.session.execute(
        text(
            "SELECT round(extract(epoch FROM now() - at) / 86400)::int, ip IS NOT NULL,"
            " user_agent <> '' FROM clicks WHERE org_id = :o ORDER BY at"
        ),
        {"o": org_id},
    )
    return [tuple(r) for r in rows]


def test_old_clicks_lose_visitor_data_and_keep_their_counts(
    app: Flask,
    org: NewOrg,
    other_org: NewOrg,
    rdb: redis.Redis,
    make_drain: Callable[..., Drain],
) -> None:
    now_ms = time.time_ns() // 1_000_000
    ages = (120, 45, 31, 29, 2)  # days
    links = {}
    for n, who in enumerate((org, other_org)):
        domain = make_domain(who.org_id, f"go{n}.retention.test")
        links[who.org_id] = make_link(who.org_id, domain)
        (contact,) = make_contacts(who.org_id, 1, first=n * 10)
        xadd_all(
            rdb,
            [click_fields(links[who.org_id], contact, domain, ts_ms=now_ms - age * DAY_MS,
                          host=f"go{n}.retention.test") for age in ages],
        )  # fmt: skip
    drain = make_drain()
    assert run_burst(drain) == 2 * len(ages)
    privacy.set_retention(org.org_id, 30)  # the other keeps the default, 90 days

    drain.apply_retention()  # what the drain's periodic task runs
    assert _visitor_data(org.org_id) == [
        (120, False, False), (45, False, False), (31, False, False), (29, True, True),
        (2, True, True),
    ]  # fmt: skip
    assert _visitor_data(other_org.org_id) == [
        (120, False, False), (45, True, True), (31, True, True), (29, True, True),
        (2, True, True),
    ]  # fmt: skip
    db.session.rollback()
    counts = db.session.execute(
        text("SELECT link_id, clicks FROM link_counters ORDER BY link_id")
    ).all()
    assert [c.clicks for c in counts] == [len(ages), len(ages)]

    # Cleared clicks are not read again; a later clock clears the rest, in small batches.
    assert retention.apply(drain.conn) == 0
    later = datetime.now(UTC) + timedelta(days=50)
    assert retention.apply(drain.conn, later, batch=1, budget_seconds=0) == 0  # no time left
    assert retention.apply(drain.conn, later, batch=2) == 3  # two batches
    assert {(ip, ua) for _age, ip, ua in _visitor_data(org.org_id)} == {(False, False)}
    assert [ip for _age, ip, _ua in _visitor_data(other_org.org_id)] == [False] * 2 + [True] * 3
