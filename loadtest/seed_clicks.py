"""Seed one link with millions of clicks, written through COPY: the data set the metrics
benchmark (``python -m loadtest.metrics_bench``) measures.

    python -m loadtest.seed_clicks --clicks 10000000 --contacts 2000000 --days 90

An organisation, a domain, a link and ``--contacts`` contacts (``loadtest.seed``), one broadcast
that sent them the link, then ``--clicks`` clicks spread evenly over the last ``--days`` days (in
time order, as the drain writes them), each from a random contact: 92% human, 6% link previews,
2% known bots, from a handful of phone and desktop agents. The rows the drain keeps beside the
clicks (per-contact clicks, the link's counters and, on a schema that has them, the rollups)
are then built from the clicks in SQL, as the drain would have left them.

It writes to ``DATABASE_URL`` (or ``--database-url``) and saves what the benchmark needs (link,
organisation, an API token) to ``loadtest/results/seed_clicks.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from core import config
from loadtest.seed import RESULTS_DIR, api_token, seed_link

RESULTS = RESULTS_DIR
SEEDED_FILE = RESULTS / "seed_clicks.json"
COPY_ROWS = 50_000  # rows per write to the COPY stream
# (weight, kind, reason, user agent, device, os, browser): what the drain would have parsed.
AGENTS = (
    (
        40,
        "human",
        "",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mobile",
        "iOS",
        "Mobile Safari",
    ),
    (
        38,
        "human",
        "",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.0.0 Mobile Safari/537.36",
        "Mobile",
        "Android",
        "Chrome Mobile",
    ),
    (
        8,
        "human",
        "",
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Tablet",
        "iOS",
        "Mobile Safari",
    ),
    (
        6,
        "human",
        "",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.0.0 Safari/537.36",
        "Desktop",
        "Windows",
        "Chrome",
    ),
    (4, "preview", "user agent", "facebookexternalhit/1.1", "", "", ""),
    (2, "preview", "HEAD", "WhatsApp/2.23.20.0", "", "", ""),
    (2, "bot", "user agent", "Mozilla/5.0 (compatible; Googlebot/2.1)", "", "", ""),
)


@dataclass(frozen=True)
class SeededClicks:
    org_id: int
    link_id: int
    broadcast_id: int
    contacts: int
    clicks: int
    days: int
    first_at: str
    last_at: str
    api_token: str
    seconds: dict[str, float]


def _escape(value: str) -> str:
    """A COPY text field: backslash, tab and newlines escaped (the agents here have none, but a
    changed table must not corrupt the stream)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def click_lines(
    org_id: int,
    link_id: int,
    broadcast_id: int,
    contact_ids: array,
    clicks: int,
    start: datetime,
    span: timedelta,
    rng: random.Random,
) -> Iterator[str]:
    """COPY text blocks of ``COPY_ROWS`` clicks each, in time order."""
    weights = [a[0] for a in AGENTS]
    agents = [
        "\t".join((a[1], _escape(a[2]), _escape(a[3]), a[4], a[5], a[6])) for a in AGENTS
    ]
    run = f"{rng.getrandbits(64):016x}"  # unique click ids across seeds of one database
    step_us = span / timedelta(microseconds=1) / max(clicks, 1)
    start_us = int(start.timestamp() * 1_000_000)
    n_contacts = len(contact_ids)
    head = f"{org_id}\t{link_id}\tseed0001\t"
    for first in range(0, clicks, COPY_ROWS):
        count = min(COPY_ROWS, clicks - first)
        picks = rng.choices(agents, weights, k=count)
        lines = []
        for j in range(count):
            i = first + j
            at = datetime.fromtimestamp((start_us + int(i * step_us)) / 1_000_000, UTC)
            contact = contact_ids[rng.randrange(n_contacts)]
            lines.append(
                f"{run}{i:016x}\t{head}{contact}\t{broadcast_id}\t{at.isoformat()}\t{picks[j]}\n"
            )
        yield "".join(lines)


def copy_clicks(
    conn: psycopg.Connection,
    seeded_org: int,
    link_id: int,
    broadcast_id: int,
    contact_ids: array,
    clicks: int,
    days: int,
    progress: Callable[[int], None] = lambda n: None,
    seed: int | None = None,
) -> tuple[datetime, datetime]:
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    done = 0
    with conn.cursor() as cur:
        # The rows are valid by construction: without this, each row fires three foreign-key
        # triggers (a locking lookup each), which took most of the COPY's time. Superuser
        # only, as the embedded and test servers run; elsewhere the checks stay on.
        row = cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if row and row[0]:
            cur.execute("SET LOCAL session_replication_role = replica")
    with conn.cursor() as cur, cur.copy(
        "COPY clicks (click_id, org_id, link_id, code, contact_id, broadcast_id, at, kind,"
        " reason, user_agent, device, os, browser) FROM STDIN"
    ) as copy:
        for block in click_lines(
            seeded_org, link_id, broadcast_id, contact_ids, clicks, start, end - start, rng
        ):
            copy.write(block)
            done += block.count("\n")
            progress(done)
    return start, end


def derive(conn: psycopg.Connection, link_id: int) -> None:
    """What the drain keeps beside the clicks, built from them: per-contact human clicks, the
    counters and (on a schema with rollups) the rollup tables."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO link_contact_clicks (link_id, contact_id, org_id, clicks, first_at,"
            " last_at)"
            " SELECT link_id, contact_id, min(org_id), count(*), min(at), max(at) FROM clicks"
            " WHERE link_id = %s AND kind = 'human' AND contact_id IS NOT NULL"
            " GROUP BY link_id, contact_id",
            (link_id,),
        )
        cur.execute(
            "INSERT INTO link_counters (link_id, org_id, clicks, unique_clicks, previews, bots)"
            " SELECT %s, min(org_id), count(*) FILTER (WHERE kind = 'human'),"
            " (SELECT count(*) FROM link_contact_clicks WHERE link_id = %s),"
            " count(*) FILTER (WHERE kind <> 'human'), count(*) FILTER (WHERE kind = 'bot')"
            " FROM clicks WHERE link_id = %s",
            (link_id, link_id, link_id),
        )
        has_rollups = cur.execute("SELECT to_regclass('link_series') IS NOT NULL").fetchone()
        if has_rollups and has_rollups[0]:
            from sync.clicks.rollups import backfill

            backfill(cur, link_id)


def seed_clicks(
    database_url: str,
    clicks: int,
    contacts: int,
    days: int,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> SeededClicks:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with psycopg.connect(config.to_libpq(database_url)) as conn:
        seeded = seed_link(conn, contacts)
        with conn.cursor() as cur:
            broadcast_id = cur.execute(
                "INSERT INTO broadcasts (org_id, link_id, body, status, total)"
                " VALUES (%s, %s, 'Join us at the gala', 'sent', %s) RETURNING id",
                (seeded.org_id, seeded.link_id, contacts),
            ).fetchone()[0]  # type: ignore[index]
            contact_ids = array(
                "q",
                (
                    r[0]
                    for r in cur.execute(
                        "SELECT id FROM contacts WHERE org_id = %s ORDER BY id", (seeded.org_id,)
                    )
                ),
            )
        conn.commit()
        seconds["contacts"] = time.perf_counter() - t0
        log(f"{contacts} contacts in {seconds['contacts']:.1f}s")

        t1 = time.perf_counter()
        last = [t1]

        def progress(n: int) -> None:
            now = time.perf_counter()
            if now - last[0] >= 10:
                last[0] = now
                log(f"  {n} clicks copied, {n / (now - t1):,.0f}/s")

        start, end = copy_clicks(
            conn, seeded.org_id, seeded.link_id, broadcast_id, contact_ids, clicks, days,
            progress, seed,
        )
        conn.commit()
        seconds["copy"] = time.perf_counter() - t1
        log(f"{clicks} clicks copied in {seconds['copy']:.1f}s")

        t2 = time.perf_counter()
        derive(conn, seeded.link_id)
        conn.commit()
        seconds["derive"] = time.perf_counter() - t2
        log(f"counters and per-contact rows in {seconds['derive']:.1f}s")
        t3 = time.perf_counter()
        conn.autocommit = True
        conn.execute("ANALYZE")
        seconds["analyze"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    token = api_token(database_url, seeded.org_id, "seed_clicks")
    return SeededClicks(
        org_id=seeded.org_id,
        link_id=seeded.link_id,
        broadcast_id=broadcast_id,
        contacts=contacts,
        clicks=clicks,
        days=days,
        first_at=start.isoformat(),
        last_at=end.isoformat(),
        api_token=token,
        seconds={k: round(v, 1) for k, v in seconds.items()},
    )


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m loadtest.seed_clicks", description=__doc__)
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--contacts", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable data)")
    parser.add_argument("--database-url", default="", help="default: DATABASE_URL")
    parser.add_argument("--out", type=Path, default=SEEDED_FILE)
    args = parser.parse_args(argv)
    url = args.database_url or config.database_url(config.load())
    if not url:
        print("python -m loadtest.seed_clicks: set DATABASE_URL", file=sys.stderr)
        return 2
    if args.contacts < 1 or args.clicks < 0 or args.days < 1:
        print("--contacts and --days must be positive, --clicks not negative", file=sys.stderr)
        return 2
    seeded = seed_clicks(url, args.clicks, args.contacts, args.days, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(asdict(seeded), indent=2) + "\n")
    print(
        f"seeded org {seeded.org_id}, link {seeded.link_id}: {seeded.clicks} clicks from"
        f" {seeded.contacts} contacts over {seeded.days} days in {seeded.seconds['total']:.0f}s"
        f" {seeded.seconds}; API token {seeded.api_token} (saved to {args.out})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
