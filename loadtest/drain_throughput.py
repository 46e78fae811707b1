"""Drain throughput: click events per second that one drain process records, actions running.

    python -m loadtest.drain_throughput --events 20000 --contacts 2000 [--batch 500] [--lanes 2]

With REDIS_CLUSTER=1 (or a `smartlinks up` running a local cluster) the events go to the
REDIS_PARTITIONS click stream shards, one after another, and the drain reads them all.

Makes its own organisation, domain and link (actions: whisper, add_tag, add_to_list) and
contacts with plain SQL, appends the events to the click stream exactly as the edge does (90%
human clicks by contacts, 5% on the generic URL, 5% previews; a few user agents), then drains
them with the drain's own code in burst mode and times it from the first read to the last
commit. Prints one JSON object. Needs DATABASE_URL and REDIS_URL (or a running `smartlinks up`);
stop any running drain first, or it shares the events and the figure means less.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from typing import Any

import psycopg
import redis

from core import config, keys, records
from core.clicks import HUMAN, PREVIEW
from core.records import ClickEvent
from sync.clicks.drain import Drain, DrainSettings, Lane
from sync.clicks.useragents import describe
from sync.connections import connect

USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
)
ACTIONS = [
    {"type": "whisper"},
    {"type": "add_tag", "tag": "bench-clicked"},
    {"type": "add_to_list", "list": "Bench clicked"},
]


def seed(conn: psycopg.Connection[Any], contacts: int) -> tuple[int, int, int, list[int]]:
    """(org id, domain id, link id, contact ids), all new."""
    tag = secrets.token_hex(4)
    with conn.transaction():
        org = conn.execute(
            "INSERT INTO organisations (name) VALUES (%s) RETURNING id", (f"drain bench {tag}",)
        ).fetchone()[0]  # type: ignore[index]
        domain = conn.execute(
            "INSERT INTO domains (org_id, hostname) VALUES (%s, %s) RETURNING id",
            (org, f"drain-bench-{tag}.test"),
        ).fetchone()[0]  # type: ignore[index]
        link = conn.execute(
            "INSERT INTO links (org_id, domain_id, name, destination, actions)"
            " VALUES (%s, %s, 'Drain bench', 'https://example.org/', %s) RETURNING id",
            (org, domain, json.dumps(ACTIONS)),
        ).fetchone()[0]  # type: ignore[index]
        ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO contacts (org_id, phone, first_name)"
                " SELECT %s, '+1555' || lpad(i::text, 7, '0'), 'Bench' || i"
                " FROM generate_series(1, %s) AS i RETURNING id",
                (org, contacts),
            ).fetchall()
        ]
    return org, domain, link, ids


def append_events(
    client: redis.Redis, link: int, domain: int, contacts: list[int], events: int,
    partitions: int = 1,
) -> list[tuple[str, bool]]:
    """Append ``events`` click events (spread over ``partitions`` stream shards); their (click
    id, human click by a contact)."""
    streams = keys.click_streams(partitions)
    now = time.time_ns() // 1_000_000
    pipe = client.pipeline(transaction=False)
    appended = []
    for i in range(events):
        generic = i % 20 == 1
        kind = PREVIEW if i % 20 == 0 else HUMAN
        contact = None if generic else contacts[i % len(contacts)]
        event = ClickEvent(
            click_id=secrets.token_hex(16),
            ts_ms=now + i,
            code="Bench12",
            host="bench.test",
            kind=kind,
            user_agent=USER_AGENTS[i % len(USER_AGENTS)],
            ip=f"198.51.{(i // 250) % 250}.{i % 250}",
        )
        ref = f"{link}:{contact if contact is not None else ''}:{domain}"
        appended.append((event.click_id, kind == HUMAN and contact is not None))
        pipe.xadd(
            streams[i % partitions],
            {records.STREAM_EVENT: records.encode(event), records.STREAM_REF: ref},
        )
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return appended


def measure(
    db_url: str, redis_url: str, events: int, contacts: int, batch: int, lanes: int = 1,
    cluster: bool = False, partitions: int = 1,
) -> dict[str, Any]:
    client = connect(redis_url, cluster)
    with psycopg.connect(config.to_libpq(db_url), autocommit=True) as conn:
        org, domain, link, contact_ids = seed(conn, contacts)
        drain = Drain(
            client,
            db_url,
            f"bench-{os.getpid()}",
            DrainSettings(batch=batch, claim_idle_ms=60_000, max_deliveries=5, scheme="https",
                          partitions=partitions),  # fmt: skip
        )
        drain.burst = True
        drain.ensure_group()
        # Anything already in the stream is drained first, outside the measurement.
        while drain.step():
            pass
        append_events(client, link, domain, contact_ids, events, partitions)
        for agent in USER_AGENTS:  # ua-parser compiles its rules on first use: not per click
            describe(agent)
        # The drain process's other lanes (DRAIN_LANES): consumers on threads, as sync.clicks.drain.main
        # runs them.
        others = [
            Lane(Drain(client, db_url, f"bench-{os.getpid()}/{n}", drain.settings), bool, True)
            for n in range(1, lanes)
        ]
        for lane in others:
            lane.drain.burst = True
        started = time.perf_counter()
        for lane in others:
            lane.thread.start()
        done = 0
        while n := drain.step():
            done += n
        for lane in others:
            lane.thread.join()
        seconds = time.perf_counter() - started
        done += sum(
            lane.drain.totals["recorded"] + lane.drain.totals["duplicates"] for lane in others
        )
        recorded = conn.execute(
            "SELECT count(*) FROM clicks WHERE link_id = %s", (link,)
        ).fetchone()[0]  # type: ignore[index]
        whispers = conn.execute(
            "SELECT count(*) FROM history_events WHERE link_id = %s", (link,)
        ).fetchone()[0]  # type: ignore[index]
        drain.close()
    client.close()
    return {
        "events": events,
        "read": done,
        "recorded": recorded,
        "whispers": whispers,
        "contacts": contacts,
        "batch": batch,
        "lanes": lanes,
        "cluster": cluster,
        "partitions": partitions,
        "seconds": round(seconds, 3),
        "clicks_per_second": round(events / seconds),
        "org_id": org,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    try:
        settings = config.load()
        db_url, r_url = config.libpq_url(settings), config.redis_url(settings)
    except config.SettingsError as exc:
        parser.error(str(exc))
    parser.add_argument("--batch", type=int, default=settings.drain.batch)
    parser.add_argument("--lanes", type=int, default=settings.drain.lanes)
    args = parser.parse_args()
    if not r_url:
        parser.error("set REDIS_URL (or start `smartlinks up`)")
    cluster, partitions = config.redis_cluster(settings), config.redis_partitions(settings)
    print(json.dumps(measure(db_url, r_url, args.events, args.contacts, args.batch, args.lanes,
                             cluster, partitions)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
