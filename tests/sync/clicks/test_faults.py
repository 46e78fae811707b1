"""`smartlinks drain` survives Redis and PostgreSQL stalls and restarts without exiting, and
records what is appended after each (issue 12, point 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from loadtest.drain_throughput import append_events
from tests.helpers.faults import FaultyServers, faulty, seeded, survives_every_fault, wait_until
from tests.servers import smartlinks_process

__all__ = ["faulty"]


@pytest.mark.slow
def test_drain_survives_redis_and_postgres_faults(faulty: FaultyServers, tmp_path: Path) -> None:
    _org, domain, link, contacts = seeded(faulty)
    with smartlinks_process(["drain"], faulty.servers.env(), tmp_path) as drain:

        def work(n: int) -> None:
            with redis.Redis.from_url(faulty.rd.url) as client:
                append_events(client, link, domain, contacts, 10)
            wait_until(
                lambda: faulty.sql("SELECT count(*) FROM clicks WHERE link_id = %s", (link,))
                == [(10 * (n + 1),)],
                60, f"clicks after fault {n}", drain,
            )  # fmt: skip

        print(*survives_every_fault(faulty, drain, work), sep="\n")
