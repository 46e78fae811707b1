"""`smartlinks sync` survives Redis and PostgreSQL stalls and restarts without exiting, and
publishes the changes made after each (issue 12, point 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from core import keys
from tests.helpers.faults import FaultyServers, faulty, seeded, survives_every_fault, wait_until
from tests.servers import smartlinks_process

__all__ = ["faulty"]


@pytest.mark.slow
def test_sync_survives_redis_and_postgres_faults(faulty: FaultyServers, tmp_path: Path) -> None:
    with smartlinks_process(["sync"], faulty.servers.env(), tmp_path) as sync:

        def work(n: int) -> None:
            _org, domain, link, _contacts = seeded(faulty, contacts=1)
            (outbox,) = faulty.sql(
                "INSERT INTO sync_outbox (entity, entity_id, version) VALUES"
                " ('domain', %s, nextval('record_versions')),"
                " ('link', %s, nextval('record_versions')) RETURNING id;",
                (domain, link),
            )[-1:]
            faulty.sql("SELECT pg_notify('sync_outbox', 'link')")

            def published() -> bool:
                done = faulty.sql("SELECT processed_at FROM sync_outbox WHERE id = %s", outbox)
                with redis.Redis.from_url(faulty.rd.url) as client:
                    return done[0][0] is not None and bool(client.exists(keys.link(link)))

            wait_until(published, 60, f"link {link} published after fault {n}", sync)

        print(*survives_every_fault(faulty, sync, work), sep="\n")
