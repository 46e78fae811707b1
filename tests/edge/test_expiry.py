"""Link expiry at a real granian edge: after ``expires_at`` the domain's fallback (302) or 410,
for people and previews alike, and no click recorded."""

from __future__ import annotations

import time

from core import keys
from tests.edge.conftest import IMESSAGE, Edge, World

HOUR_MS = 3_600_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_an_expired_link_answers_410_and_records_nothing(edge: Edge, world: World) -> None:
    world.put_link(expires_at_ms=_now_ms() - 1000)
    assert world.rdb.hget(keys.link(world.link.id), keys.F_EXPIRES) is not None
    assert edge.get(f"/{world.code}").status_code == 410
    assert edge.get(f"/{world.generic}/gala2021").status_code == 410
    assert edge.get(f"/{world.code}", ua=IMESSAGE).status_code == 410
    assert edge.head(f"/{world.code}").status_code == 410
    assert world.clicks() == []


def test_an_expired_link_goes_to_the_domains_fallback(edge: Edge, world: World) -> None:
    world.put_domain(fallback_url="https://example.org/over")
    world.put_link(expires_at_ms=_now_ms() - 1000)
    answer = edge.get(f"/{world.code}")
    assert (answer.status_code, answer.headers["location"]) == (302, "https://example.org/over")
    assert world.clicks() == []


def test_before_its_expiry_a_link_serves_and_counts(edge: Edge, world: World) -> None:
    world.put_link(expires_at_ms=_now_ms() + HOUR_MS)
    answer = edge.get(f"/{world.code}")
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("https://example.org/rsvp/")
    assert len(world.clicks()) == 1


def test_a_cleared_expiry_serves_again(edge: Edge, world: World) -> None:
    world.put_link(expires_at_ms=_now_ms() - 1000)
    assert edge.get(f"/{world.code}").status_code == 410
    world.put_link(expires_at_ms=0)  # the new version overwrites the hash's expiry
    assert edge.get(f"/{world.code}").status_code == 302
    assert len(world.clicks()) == 1
