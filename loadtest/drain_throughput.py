"""Drain throughput: click events per second that drain processes record, actions running.

    python -m loadtest.drain_throughput --events 20000 --contacts 2000 [--batch 500] [--lanes 2]
    python -m loadtest.drain_throughput --processes 1,2,4   # each in turn, one line each

Makes its own organisation, domain and link (actions: whisper, add_tag, add_to_list) and
contacts with plain SQL, appends the events to the click stream exactly as the edge does (90%
human clicks by contacts, 5% on the generic URL, 5% previews; a few user agents), then drains
them with ``--processes`` drain processes (each with ``--lanes`` consumers, the drain's own
code in burst mode), timed from the start signal to the last commit, with the CPU time
Postgres spent per click (its postmaster's, with the backends it has reaped, when the server
is local). Prints one JSON object per process count. Needs DATABASE_URL and REDIS_URL (or a
running `smartlinks up`; stop its drain first, or it shares the events and the figure means less), or ``--embedded``:
its own durable Postgres and Valkey, as `smartlinks up` runs them, migrated.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis

from core import config, keys, records
from core.clicks import HUMAN, PREVIEW
from core.records import ClickEvent
from loadtest import machine, script_parser, stack
from sync.clicks.drain import Drain, DrainSettings, Lane
from sync.clicks.useragents import describe
from sync.connections import connect
from sync.worker import Worker

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


def drain_all(
    client: redis.Redis, db_url: str, name: str, batch: int, lanes: int, partitions: int = 1
) -> int:
    """One drain process's work in burst mode, its lanes on threads as sync.clicks.drain.main
    runs them: events read (recorded or duplicates) until the streams have nothing new."""
    settings = _settings(batch, partitions)
    drains = [Drain(client, db_url, f"{name}/{n}" if n else name, settings) for n in range(lanes)]
    for d in drains:
        d.burst = True
    others = [Lane(d, bool, True) for d in drains[1:]]
    for lane in others:
        lane.thread.start()
    while drains[0].step():
        pass
    for lane in others:
        lane.thread.join()
        if lane.error is not None:
            raise lane.error
    done = sum(d.totals["recorded"] + d.totals["duplicates"] for d in drains)
    for d in drains:
        d.close()
    return done


def _settings(batch: int, partitions: int) -> DrainSettings:
    return DrainSettings(batch=batch, claim_idle_ms=60_000, max_deliveries=5, scheme="https",
                         partitions=partitions)  # fmt: skip


def _process(
    db_url: str, redis_url: str, batch: int, lanes: int, go: Any, out: Any,
    cluster: bool = False, partitions: int = 1,
) -> None:  # fmt: skip
    """A drain process of the measurement (spawned): ready, wait for the start, drain. Named
    and announced as a drain worker (``host:pid`` and its heartbeat), so that the other
    processes do not judge it gone and take its pending entries over."""
    client = connect(redis_url, cluster)
    worker = Worker("drain", client, heartbeat_seconds=600)  # one beat outlives the run
    worker.beat(force=True)
    name = worker.worker_id
    for agent in USER_AGENTS:  # ua-parser compiles its rules on first use: not per click
        describe(agent)
    out.put(("ready", name, 0, 0.0))
    go.wait()
    cpu = time.process_time()  # this process's CPU (every thread) from the start signal
    done = drain_all(client, db_url, name, batch, lanes, partitions)
    out.put(("done", name, done, time.process_time() - cpu))
    client.close()


def postgres_cpu(conn: psycopg.Connection[Any]) -> float | None:
    """CPU seconds the Postgres server has used so far, its ended backends included (the
    postmaster reaps them: their time is in its children's), or None when it is not a local
    server we can read (its postmaster.pid names the postmaster)."""
    try:
        row = conn.execute("SHOW data_directory").fetchone()
        pid = int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0])  # type: ignore[index]
        root = psutil.Process(pid)
        t = root.cpu_times()
        seconds = t.user + t.system + t.children_user + t.children_system
        return seconds + machine.cpu_seconds([c.pid for c in root.children()])
    except (OSError, ValueError, IndexError, psycopg.Error, psutil.Error):
        return None


def measure(
    db_url: str,
    redis_url: str,
    events: int,
    contacts: int,
    batch: int,
    lanes: int = 1,
    processes: int = 1,
    cluster: bool = False,
    partitions: int = 1,
) -> dict[str, Any]:
    """``cluster``/``partitions``: REDIS_CLUSTER and REDIS_PARTITIONS of the Redis at
    ``redis_url`` (the events go to every click stream shard, the drains read them all)."""
    client = connect(redis_url, cluster)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited sockets
    with psycopg.connect(config.to_libpq(db_url), autocommit=True) as conn:
        org, domain, link, contact_ids = seed(conn, contacts)
        first = Drain(client, db_url, f"bench-{os.getpid()}", _settings(batch, partitions))
        first.burst = True
        first.ensure_group()
        # Anything already in the stream is drained first, outside the measurement.
        while first.step():
            pass
        first.close()
        append_events(client, link, domain, contact_ids, events, partitions)
        go, out = ctx.Event(), ctx.Queue()
        children = [
            ctx.Process(
                target=_process,
                args=(db_url, redis_url, batch, lanes, go, out, cluster, partitions),
            )
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        for _ in children:
            out.get(timeout=120)  # every process started and ready
        pg_before = postgres_cpu(conn)
        started = time.perf_counter()
        go.set()
        results = [out.get(timeout=3600) for _ in children]
        seconds = time.perf_counter() - started
        pg_after = postgres_cpu(conn)
        for child in children:
            child.join(60)
        done = sum(r[2] for r in results)
        drain_cpu = sum(r[3] for r in results)
        recorded = conn.execute(
            "SELECT count(*) FROM clicks WHERE link_id = %s", (link,)
        ).fetchone()[0]  # type: ignore[index]
        whispers = conn.execute(
            "SELECT count(*) FROM history_events WHERE link_id = %s", (link,)
        ).fetchone()[0]  # type: ignore[index]
    client.close()
    pg_cpu = pg_after - pg_before if pg_before is not None and pg_after is not None else None
    return {
        "events": events,
        "read": done,
        "recorded": recorded,
        "whispers": whispers,
        "contacts": contacts,
        "batch": batch,
        "processes": processes,
        "lanes": lanes,
        "seconds": round(seconds, 3),
        "clicks_per_second": round(events / seconds),
        "postgres_cpu_us_per_click": round(pg_cpu * 1e6 / events, 1) if pg_cpu else None,
        "postgres_cores": round(pg_cpu / seconds, 2) if pg_cpu else None,
        "drain_cpu_us_per_click": round(drain_cpu * 1e6 / events, 1),
        "loadavg": os.getloadavg()[0],
        "org_id": org,
    }



def main(argv: list[str] | None = None) -> int:
    parser = script_parser("loadtest.drain_throughput", __doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    settings = config.load()
    parser.add_argument("--batch", type=int, default=settings.drain.batch)
    parser.add_argument("--lanes", type=int, default=settings.drain.lanes, help="per process")
    parser.add_argument(
        "--processes", default="1", help="drain processes; a list (1,2,4) measures each in turn"
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="its own durable Postgres and Valkey in a temporary folder (no other drain there)",
    )
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.processes.split(",")]
    if args.embedded:
        with stack.migrated_stores("smartlinks-drain-") as stores:
            run_all(args, counts, stores.database_url, stores.redis_url)
        return 0
    try:
        db_url, r_url = config.libpq_url(settings), config.redis_url(settings)
    except config.SettingsError as exc:
        parser.error(str(exc))
    if not r_url:
        parser.error("set REDIS_URL (or start `smartlinks up`), or use --embedded")
    run_all(args, counts, db_url, r_url,
            config.redis_cluster(settings), config.redis_partitions(settings))  # fmt: skip
    return 0


def run_all(
    args: argparse.Namespace, counts: list[int], db_url: str, r_url: str,
    cluster: bool = False, partitions: int = 1,
) -> None:  # fmt: skip
    for n in counts:
        figures = measure(db_url, r_url, args.events, args.contacts, args.batch, args.lanes, n,
                          cluster, partitions)  # fmt: skip
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
