"""`smartlinks sender` survives Redis and PostgreSQL stalls and restarts without exiting (a
Redis stall longer than its 5 s timeout is a redis.TimeoutError, which once ended it), and
sends what is queued after each (issue 12, point 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.faults import FaultyServers, faulty, seeded, survives_every_fault, wait_until
from tests.servers import smartlinks_process

__all__ = ["faulty"]


@pytest.mark.slow
def test_sender_survives_redis_and_postgres_faults(faulty: FaultyServers, tmp_path: Path) -> None:
    org, _domain, _link, contacts = seeded(faulty, contacts=1)
    with smartlinks_process(["sender"], faulty.servers.env(), tmp_path) as role:

        def work(n: int) -> None:
            ((message,),) = faulty.sql(
                "INSERT INTO messages (org_id, contact_id, to_phone, body)"
                " VALUES (%s, %s, '+15550000001', %s) RETURNING id",
                (org, contacts[0], f"after fault {n}"),
            )
            faulty.sql("SELECT pg_notify('messages_queued', '')")
            wait_until(
                lambda: faulty.sql("SELECT status FROM messages WHERE id = %s", (message,))
                == [("sent",)],
                60, f"message sent after fault {n}", role,
            )  # fmt: skip

        print(*survives_every_fault(faulty, role, work), sep="\n")
