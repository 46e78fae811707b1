"""`smartlinks webhooks` survives Redis and PostgreSQL stalls and restarts without exiting, and
delivers what is queued after each (issue 12, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.faults import FaultyServers, faulty, seeded, survives_every_fault, wait_until
from tests.servers import smartlinks_process
from tests.sync.webhooks.receiver import Receiver

__all__ = ["faulty"]


@pytest.mark.slow
def test_webhooks_survive_redis_and_postgres_faults(faulty: FaultyServers, tmp_path: Path) -> None:
    org, _domain, _link, _contacts = seeded(faulty, contacts=1)
    receiver = Receiver(secrets={"/hook": "s3cret"})
    ((webhook,),) = faulty.sql(
        "INSERT INTO webhooks (org_id, url, secret) VALUES (%s, %s, 's3cret') RETURNING id",
        (org, receiver.url("/hook")),
    )
    try:
        # The receiver is on loopback: the operator allows it (OUTBOUND_ALLOW_NETWORKS).
        env = faulty.servers.env(OUTBOUND_ALLOW_NETWORKS="127.0.0.1")
        with smartlinks_process(["webhooks"], env, tmp_path) as role:

            def work(n: int) -> None:
                faulty.sql(
                    "INSERT INTO webhook_deliveries (webhook_id, org_id, click_id, payload)"
                    " VALUES (%s, %s, %s, %s)",
                    (webhook, org, f"fault-{n}", json.dumps({"click_id": f"fault-{n}"})),
                )
                faulty.sql("SELECT pg_notify('webhook_deliveries', '')")
                wait_until(lambda: len(receiver.at("/hook")) >= n + 1, 60,
                           f"delivery after fault {n}", role)  # fmt: skip

            print(*survives_every_fault(faulty, role, work), sep="\n")
        assert all(r.signature_ok for r in receiver.at("/hook"))
    finally:
        receiver.close()
