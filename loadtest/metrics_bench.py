"""Time every metrics call the admin API serves for one link, as the admin's metrics page and
an integration would make them: p50 and p95 per call over ``-n`` rounds, and the CSV export's
rows per second over time and its peak memory.

    python -m loadtest.seed_clicks --clicks 10000000 --contacts 2000000 --days 90
    python -m loadtest.metrics_bench -n 20          # reads loadtest/results/seed_clicks.json
    python -m loadtest.metrics_bench --quick        # seeds a small link itself (CI smoke test)

The calls go through admin's own app (Flask's test client, in this process, with the seeded
organisation's API token): the time is the route's, the service's and Postgres's, without a
network hop. Results are printed and saved to ``loadtest/results/metrics_bench-*.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import config
from loadtest.seed_clicks import RESULTS, SEEDED_FILE, seed_clicks

API = "/api/v1/links/{link}"
P95_GOAL_MS = 200.0


@dataclass
class CallTiming:
    name: str
    path: str
    ms: list[float] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        """Nearest rank: the smallest time at least ``q`` of the calls took no longer than."""
        ordered = sorted(self.ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


@dataclass
class ExportRun:
    rows: int
    seconds: float
    rows_per_s: float
    per_second: list[int]  # rows streamed in each second of the export
    rss_start_mb: float
    rss_peak_mb: float


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def calls(link_id: int, last_at: datetime, deep_cursor: int) -> list[tuple[str, str]]:
    """(name, path) of every metrics call of the link; ranges end at the newest click."""
    base = API.format(link=link_id)
    end = last_at.replace(microsecond=0)

    def rng(bucket: str, span: timedelta) -> str:
        start = (end - span).isoformat().replace("+00:00", "Z")
        stop = end.isoformat().replace("+00:00", "Z")
        return f"{base}/series?bucket={bucket}&from={start}&to={stop}"

    return [
        ("counters", f"{base}/metrics"),
        ("series minute, 1 h", rng("minute", timedelta(hours=1))),
        ("series minute, 3 days", rng("minute", timedelta(days=3))),
        ("series hour, 48 h", rng("hour", timedelta(hours=48))),
        ("series hour, 90 days", rng("hour", timedelta(days=90))),
        ("series day, 30 days", rng("day", timedelta(days=30))),
        ("series day, 90 days", rng("day", timedelta(days=90))),
        ("series hour, default (now)", f"{base}/series?bucket=hour"),
        ("breakdown", f"{base}/breakdown"),
        ("contacts clicks, first page", f"{base}/contacts?metric=clicks&limit=100"),
        ("contacts clicks, deep page", f"{base}/contacts?metric=clicks&limit=100&cursor={deep_cursor}"),
        ("contacts previews, first page", f"{base}/contacts?metric=previews&limit=100"),
        (
            "contacts previews, deep page",
            f"{base}/contacts?metric=previews&limit=100&cursor={deep_cursor}",
        ),
    ]


def time_calls(client: Any, headers: dict[str, str], wanted: list[tuple[str, str]], rounds: int
               ) -> list[CallTiming]:
    timings = [CallTiming(name, path) for name, path in wanted]
    for t in timings:  # one warm-up each: the first call pays for plans and cold pages
        _get(client, headers, t.path)
    for _ in range(rounds):
        for t in timings:
            started = time.perf_counter()
            _get(client, headers, t.path)
            t.ms.append((time.perf_counter() - started) * 1000)
    return timings


def _get(client: Any, headers: dict[str, str], path: str) -> bytes:
    resp = client.get(path, headers=headers)
    if resp.status_code != 200:
        raise RuntimeError(f"GET {path}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
    return resp.get_data()


def time_export(client: Any, headers: dict[str, str], link_id: int) -> ExportRun:
    """Stream the clicks CSV, counting rows per second and sampling this process's memory."""
    path = f"{API.format(link=link_id)}/export.csv?metric=clicks"
    peak = start_rss = rss_mb()
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    per_second: list[int] = []
    rows = 0
    started = time.perf_counter()
    resp = client.get(path, headers=headers, buffered=False)
    if resp.status_code != 200:
        raise RuntimeError(f"GET {path}: {resp.status_code}")
    for chunk in resp.response:
        n = chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
        rows += n
        second = int(time.perf_counter() - started)
        while len(per_second) <= second:
            per_second.append(0)
        per_second[second] += n
    resp.close()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    rows -= 1  # the header
    return ExportRun(
        rows, round(seconds, 2), round(rows / seconds) if seconds else 0.0, per_second,
        round(start_rss, 1), round(max(peak, rss_mb()), 1),
    )


def deep_cursor(database_url: str, link_id: int) -> int:
    """A contact id 90% of the way through the link's contacts: a deep drill-down page."""
    import psycopg

    with psycopg.connect(config.to_libpq(database_url)) as conn:
        row = conn.execute(
            "SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY contact_id)"
            " FROM link_contact_clicks WHERE link_id = %s",
            (link_id,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def run(database_url: str, seeded: dict[str, Any], rounds: int, export: bool = True,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    from admin import create_app
    from admin.extensions import db

    url = config.to_sqlalchemy(database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "loadtest"})
    headers = {"Authorization": f"Bearer {seeded['api_token']}"}
    link_id = seeded["link_id"]
    wanted = calls(link_id, datetime.fromisoformat(seeded["last_at"]),
                   deep_cursor(database_url, link_id))
    with app.app_context():
        try:
            client = app.test_client()
            timings = time_calls(client, headers, wanted, rounds)
            exported = time_export(client, headers, link_id) if export else None
        finally:
            db.session.remove()
            db.engine.dispose()
    report = {
        "at": datetime.now(UTC).isoformat(),
        "link_id": link_id,
        "clicks": seeded["clicks"],
        "contacts": seeded["contacts"],
        "rounds": rounds,
        "calls": [
            {"name": t.name, "p50_ms": round(t.quantile(0.5), 1),
             "p95_ms": round(t.quantile(0.95), 1), "max_ms": round(max(t.ms), 1)}
            for t in timings
        ],
        "export": asdict(exported) if exported else None,
    }
    log(format_report(report))
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"metrics of link {report['link_id']}: {report['clicks']:,} clicks,"
        f" {report['contacts']:,} contacts, {report['rounds']} rounds",
        f"{'call':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}",
    ]
    for c in report["calls"]:
        mark = "" if c["p95_ms"] < P95_GOAL_MS else "  over 200 ms"
        lines.append(
            f"{c['name']:34} {c['p50_ms']:8.1f} {c['p95_ms']:8.1f} {c['max_ms']:8.1f}{mark}"
        )
    e = report["export"]
    if e:
        steady = e["per_second"][1:-1] or e["per_second"]
        lines.append(
            f"CSV export: {e['rows']:,} rows in {e['seconds']}s, {e['rows_per_s']:,.0f} rows/s"
            f" (per second min {min(steady, default=0):,}, max {max(steady, default=0):,});"
            f" memory {e['rss_start_mb']} MB -> peak {e['rss_peak_mb']} MB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m loadtest.metrics_bench", description=__doc__)
    parser.add_argument("-n", "--rounds", type=int, default=20)
    parser.add_argument("--seeded", type=Path, default=SEEDED_FILE)
    parser.add_argument("--database-url", default="", help="default: DATABASE_URL")
    parser.add_argument("--no-export", action="store_true", help="skip the CSV export")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--quick", action="store_true", help="seed 20,000 clicks from 2,000 contacts, 3 rounds"
    )
    args = parser.parse_args(argv)
    url = args.database_url or config.database_url(config.load())
    if not url:
        print("python -m loadtest.metrics_bench: set DATABASE_URL", file=sys.stderr)
        return 2
    if args.quick:
        seeded = asdict(seed_clicks(url, 20_000, 2_000, 90, seed=1, log=lambda s: None))
        rounds = min(args.rounds, 3)
    else:
        if not args.seeded.exists():
            print(f"no {args.seeded}: run python -m loadtest.seed_clicks first", file=sys.stderr)
            return 2
        seeded = json.loads(args.seeded.read_text())
        rounds = args.rounds
    report = run(url, seeded, rounds, export=not args.no_export)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"metrics_bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
