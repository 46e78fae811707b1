"""Time a broadcast to many contacts, end to end: codes issued, messages rendered and queued
(admin's own ``create_broadcast``, as the API calls it), then the records synced to Redis
(``smartlinks sync --burst``), with the peak memory of each side.

    python -m loadtest.broadcast_bench --contacts 1000000     # DATABASE_URL and REDIS_URL
    python -m loadtest.broadcast_bench --contacts 200000 --embedded   # servers of its own

Seeds an organisation, a domain, a link with merge fields and ``--contacts`` contacts tagged
``bench`` (``loadtest.seed``), then broadcasts ``Hi {{first_name}}, RSVP: {{link}}`` to the tag.
Prints one JSON object (and, on stderr, the time per stage: recipients, codes, render, COPY,
history, sync to Redis) and saves it under ``loadtest/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from core import config
from loadtest import stack
from loadtest.seed import seed_link
from loadtest.seed_clicks import RESULTS

BODY = "Hi {{first_name}}, RSVP: {{link}}"
TAG = "bench"


def _peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(database_url: str, contacts: int) -> tuple[int, int]:
    with psycopg.connect(config.to_libpq(database_url)) as conn:
        seeded = seed_link(conn, contacts)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "INSERT INTO tags (org_id, name) VALUES (%s, %s) RETURNING id",
                (seeded.org_id, TAG),
            )
            tag_id = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO contact_tags (contact_id, tag_id)"
                " SELECT id, %s FROM contacts WHERE org_id = %s",
                (tag_id, seeded.org_id),
            )
        # Statistics as autovacuum would soon leave them: planned with none, the recipients'
        # semi-join guessed one row per side and nested-looped 10^10 pairs.
        conn.execute("ANALYZE contacts, contact_tags")
    return seeded.org_id, seeded.link_id


def broadcast(database_url: str, org_id: int, link_id: int) -> dict[str, Any]:
    from admin import create_app
    from admin.extensions import db
    from admin.services.broadcasts_queue import STAGES
    from admin.services.sends import create_broadcast

    url = config.to_sqlalchemy(database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "loadtest"})
    with app.app_context():
        try:
            before = _peak_mb()
            stages: dict[str, float] = {}
            token = STAGES.set(stages)
            # Whose CPU the wall time is: this process (Python) and its Postgres backend.
            backend = int(db.session.scalar(text("SELECT pg_backend_pid()")))
            cpu_before, pg_before = time.process_time(), _cpu_seconds(backend)
            started = time.perf_counter()
            made, count = create_broadcast(
                org_id, {"link_id": link_id, "body": BODY, "tag": TAG}, scheme="https"
            )
            seconds = time.perf_counter() - started
            python_cpu, pg_cpu = time.process_time() - cpu_before, _cpu_seconds(backend) - pg_before
            STAGES.reset(token)
            # What the stages leave out: validation, the broadcast's row and the commit.
            stages["other"] = seconds - sum(stages.values())
            return {
                "broadcast_id": made.id,
                "messages": count,
                "seconds": round(seconds, 1),
                "stages": {name: round(value, 2) for name, value in stages.items()},
                "cpu_seconds": {"python": round(python_cpu, 3), "postgres": round(pg_cpu, 3)},
                "peak_mb_before": round(before, 1),
                "peak_mb_after": round(_peak_mb(), 1),
            }
        finally:
            db.session.remove()
            db.engine.dispose()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process on this machine (0 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def sync_burst(env: dict[str, str], processes: int = 1) -> dict[str, Any]:
    """``smartlinks sync --burst`` (``processes`` of them at once: they share the outbox with
    SKIP LOCKED) until the outbox is published: the time, and the peak resident memory of
    them all, sampled every 50 ms."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "import sys; from smartlinks.cli import main; sys.exit(main())",
             "sync", "--burst"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(processes)
    ]
    peak = 0.0
    while any(proc.poll() is None for proc in procs):
        peak = max(peak, sum(_rss_mb(proc.pid) for proc in procs if proc.poll() is None))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    code = max(proc.returncode for proc in procs)
    err = "".join(proc.stderr.read() for proc in procs if proc.stderr)
    return {"seconds": round(seconds, 1), "peak_mb": round(peak, 1), "code": code,
            "processes": processes, "stderr_tail": err[-500:] if code else ""}  # fmt: skip


def breakdown(report: dict[str, Any]) -> str:
    """The time per stage, for a reader: the broadcast's stages, then the sync to Redis."""
    stages = {**report["broadcast"].get("stages", {}), "sync to Redis": report["sync"]["seconds"]}
    lines = [f"{report['contacts']:,} contacts, load average {report['load_average_before']} before,"
             f" {report['load_average']} after:"]  # fmt: skip
    lines += [f"  {name:<14} {seconds:7.1f} s" for name, seconds in stages.items()]
    cpu = report["broadcast"].get("cpu_seconds")
    if cpu:
        lines.append(f"  (create_broadcast's CPU: Python {cpu['python']:.1f} s, its Postgres"
                     f" backend {cpu['postgres']:.1f} s)")  # fmt: skip
    lines.append(f"  {'total':<14} {report['total_seconds']:7.1f} s; peak RSS admin "
                 f"{report['broadcast']['peak_mb_after']:.0f} MB (before: "
                 f"{report['broadcast']['peak_mb_before']:.0f}), sync "
                 f"{report['sync']['peak_mb']:.0f} MB")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.broadcast_bench", description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--sync-processes", type=int, default=1, help="`smartlinks sync` processes sharing the outbox"
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="its own durable Postgres and Valkey in a temporary folder, as `smartlinks up` runs them",
    )
    args = parser.parse_args(argv)
    if args.embedded:
        with stack.migrated_stores("smartlinks-broadcast-") as stores:
            return run(args, stores.database_url, stores.redis_url)
    settings = config.load()
    url, redis_url = config.database_url(settings), config.redis_url(settings)
    if not url or not redis_url:
        print("python -m loadtest.broadcast_bench: set DATABASE_URL and REDIS_URL, start `smartlinks up`,"
              " or use --embedded", file=sys.stderr)  # fmt: skip
        return 2
    return run(args, url, redis_url)


def run(args: argparse.Namespace, url: str, redis_url: str) -> int:
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    org_id, link_id = seed(url, args.contacts)
    seeded = time.perf_counter() - t0
    # Publish the seed's own contacts first, so that the sync timed below is the broadcast's.
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url}
    before = sync_burst(env)
    sent = broadcast(url, org_id, link_id)
    synced = sync_burst(env, args.sync_processes)
    report = {
        "at": datetime.now(UTC).isoformat(),
        "contacts": args.contacts,
        "seed_seconds": round(seeded, 1),
        "seed_sync": before,
        "broadcast": sent,
        "sync": synced,
        "total_seconds": round(sent["seconds"] + synced["seconds"], 1),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "load_average_before": load_before,
    }
    print(json.dumps(report))
    print(breakdown(report), file=sys.stderr)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"broadcast_bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
