"""A link's expiry reaches Redis in its record and in the hash field the edge reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import redis
from flask import Flask

from admin.services.orgs import NewOrg
from core import keys
from sync.publish.publisher import Publisher
from tests.sync import factory
from tests.sync.publish.helpers import link_in


def test_expiry_is_published_and_cleared(
    app: Flask, org: NewOrg, rdb: redis.Redis, burst: Callable[..., Publisher]
) -> None:
    dom = factory.domain(org.org_id, "go.example.test")
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    lnk = factory.link(org.org_id, dom, expires_at=when)
    burst(full=True)
    assert link_in(rdb, lnk.id).expires_at_ms == int(when.timestamp() * 1000)
    assert rdb.hget(keys.link(lnk.id), keys.F_EXPIRES) == str(int(when.timestamp() * 1000)).encode()
    factory.update(lnk, expires_at=None)
    burst()
    assert link_in(rdb, lnk.id).expires_at_ms == 0
    assert rdb.hget(keys.link(lnk.id), keys.F_EXPIRES) == b"0"
