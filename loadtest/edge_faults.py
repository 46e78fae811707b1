"""Valkey faults under load against a real edge: what was served, recorded, lost, phantom.

    python -m loadtest.edge_faults [--fault stop|kill|both] [--rate 1000] [--workers 2]

Starts a durable Valkey (AOF every second, as `smartlinks up` runs it), seeds a link with merge
fields and contacts (loadtest.hotpath's seed), starts `smartlinks edge` (granian, --workers)
with its own spool folder, warms it on the "recent" codes, then drives it with wrk at --rate for
--seconds: every other request for a recent code (clicked in the last seconds, so in the
workers' memory), the others each for a code never asked before (only Redis can answer it),
with the bench's mix (8% previews, 2% unknown codes). --fault-at seconds in, Valkey is
SIGSTOPped for --stall seconds (stop), or killed with SIGKILL and started again on its port with
its data after --down seconds (kill). When wrk is done and the spool replayed, the click
entries the run added to the stream are compared with what wrk was answered:

  served     302 + 200 answers (each one a click the edge must record)
  recorded   distinct click ids in the stream
  lost       served - recorded, when positive
  phantom    recorded - served, when positive: clicks of requests answered 503 (or 404)
  duplicate  stream entries with a click id seen before (harmless: drain dedupes)

Requests in flight when wrk stops are recorded but not counted by wrk: up to one per
connection shows as phantom; the table says how many connections there were. And kill -9 of a
Valkey that fsyncs its AOF every second loses what it took in its last second: those clicks
show as lost (that is the server's durability setting, not the edge).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from core import keys, records
from loadtest import machine, script_parser, stack, traffic
from loadtest.hotpath import HOST, seed_redis
from loadtest.wrk import WrkRun, run_wrk
from smartlinks.embedded import EmbeddedRedis, free_port, wait_for_port

RECENT = 1000


def _metrics(base: str) -> dict[str, int]:
    text = httpx.get(base + "/metrics", timeout=5).text
    return {
        m.group(1): int(float(m.group(2)))
        for m in re.finditer(r"^smartlinks_edge_([a-z_]+_total) (\S+)$", text, re.M)
    }


def _stream_clicks(client: redis.Redis, after: str) -> tuple[int, int]:
    """(entries, distinct click ids) of the click entries after stream id ``after``."""
    entries, ids = 0, set[str]()
    start = after
    while True:
        raw: Any = client.xrange(keys.CLICK_STREAM, min=f"({start}", count=10_000)
        if not raw:
            return entries, len(ids)
        for entry_id, fields in raw:
            event = fields.get(records.STREAM_EVENT.encode())
            if event is not None:
                entries += 1
                ids.add(records.click_decoder.decode(event).click_id)
            start = entry_id.decode()


def trial(fault: str, args: argparse.Namespace, work: Path, wrk: str) -> dict[str, Any]:
    rd = EmbeddedRedis(work / f"valkey-{fault}", free_port(), durable=True)
    rd_proc = rd.start()
    client = redis.Redis.from_url(rd.url)
    codes = seed_redis(rd.url, RECENT + args.fresh)
    recent = [traffic.Target(HOST, c, "gala2026") for c in codes[:RECENT]]
    fresh = [traffic.Target(HOST, c, "gala2026") for c in codes[RECENT:]]
    warm_file, load_file = work / f"warm-{fault}.tsv", work / f"load-{fault}.tsv"
    traffic.write_requests(warm_file, traffic.build_requests(recent, 20_000))
    mixed = [
        r
        for pair in zip(
            traffic.build_requests(recent, args.fresh),
            traffic.build_requests(fresh, args.fresh, seed=7),
            strict=True,
        )
        for r in pair
    ]
    traffic.write_requests(load_file, mixed)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "EDGE_"))}
    env.update(
        REDIS_URL=rd.url,
        EDGE_PORT=str(port),
        EDGE_WORKERS=str(args.workers),
        EDGE_SPOOL_DIR=str(work / f"spool-{fault}"),
        SMARTLINKS_DATA_DIR=str(work / "data"),
        LOG_LEVEL="INFO",
    )
    log = work / f"edge-{fault}.log"
    edge = stack.Child([sys.executable, "-m", "smartlinks.cli", "edge"], log, env)
    base = f"http://127.0.0.1:{port}"
    server_cpu, client_cpu = machine.cpu_plan(None, None)

    def drive(file: Path, seconds: float, rate: float) -> WrkRun:
        return run_wrk(
            wrk,
            server="edge",
            load=fault,
            url=base + "/",
            requests_file=file,
            host=HOST,
            connections=args.connections,
            seconds=seconds,
            rate=rate,
            client_cpu=client_cpu,
            server_cpu=server_cpu,
            server_pids=[],
            redis_pids=[],
        )

    try:
        wait_for_port("127.0.0.1", port, 60, edge.proc)
        drive(warm_file, 3, args.rate)  # every recent code through every worker
        # Write back what the machine's earlier work left dirty (a test before this one wrote
        # gigabytes to PostgreSQL): while a slow background fsync of the AOF is under way,
        # Valkey postpones its write of what it took (for up to 2 s) and answers meanwhile, so
        # a kill -9 then loses clicks it acknowledged (176 at 300/s once in CI's order), which
        # is Valkey's everysec setting, not the edge that this trial measures.
        os.sync()
        after = client.xinfo_stream(keys.CLICK_STREAM)["last-generated-id"].decode()
        done: dict[str, WrkRun] = {}
        runner = threading.Thread(
            target=lambda: done.update(run=drive(load_file, args.seconds, args.rate))
        )
        runner.start()
        time.sleep(args.fault_at)
        started = time.monotonic()
        if fault == "stop":
            os.kill(rd_proc.pid, signal.SIGSTOP)
            time.sleep(args.stall)
            os.kill(rd_proc.pid, signal.SIGCONT)
        else:
            rd_proc.kill()
            rd_proc.wait(10)
            time.sleep(args.down)
            rd_proc = rd.start()
            client.close()
            client = redis.Redis.from_url(rd.url)
        fault_seconds = time.monotonic() - started
        runner.join()
        run = done["run"]
        deadline = time.monotonic() + 30
        while True:  # the spool replayed by every worker (snapshots are ~1 s old)
            m = _metrics(base)
            if m.get("clicks_replayed_total") == m.get("clicks_spooled_total"):
                time.sleep(2.5)
                if _metrics(base) == m:
                    break
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        entries, distinct = _stream_clicks(client, after)
        served = run.status.get("3xx", 0) + run.status.get("2xx", 0)
        backs = [
            json.loads(line).get("seconds")
            for line in log.read_text(errors="replace").splitlines()
            if '"redis back"' in line
        ]
        return {
            "fault": f"Valkey {'SIGSTOP' if fault == 'stop' else 'kill -9'} "
            f"{fault_seconds:.1f} s",
            "load": f"{run.req_per_s:,.0f} req/s asked {args.rate:,.0f}",
            "requests": run.requests,
            "served": served,
            "503": run.status.get("other", 0),
            "404": run.status.get("404", 0),
            "recorded": distinct,
            "lost": max(0, served - distinct),
            "phantom": max(0, distinct - served),
            "duplicate": entries - distinct,
            "from memory": m.get("memory_answers_total", 0),
            "spooled": m.get("clicks_spooled_total", 0),
            "replayed": m.get("clicks_replayed_total", 0),
            "unrecorded": m.get("clicks_unrecorded_total", 0),
            "past deadline": m.get("clicks_past_deadline_total", 0),
            "outages": m.get("redis_outages_total", 0),
            "outage seconds (per worker)": backs,
            "wrk errors": run.errors,
        }
    finally:
        edge.stop()
        with_cont = rd_proc
        with_cont.send_signal(signal.SIGCONT)
        with_cont.terminate()
        with_cont.wait(15)
        client.close()


def main(argv: list[str] | None = None) -> int:
    p = script_parser("loadtest.edge_faults", __doc__)
    p.add_argument("--fault", choices=("stop", "kill", "both"), default="both")
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--fault-at", type=float, default=5)
    p.add_argument("--stall", type=float, default=10, help="seconds of SIGSTOP")
    p.add_argument("--down", type=float, default=1, help="seconds between kill and restart")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--fresh", type=int, default=30_000, help="codes asked once each")
    args = p.parse_args(argv)
    wrk = machine.ensure_tools()["wrk"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="smartlinks-edge-faults-") as tmp:
        for fault in ("stop", "kill") if args.fault == "both" else (args.fault,):
            row = trial(fault, args, Path(tmp), wrk)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(
        f"\n{'fault':24}{'load':>26}{'served':>8}{'503':>6}{'recorded':>9}{'lost':>6}"
        f"{'phantom':>8}{'dup':>5}{'memory':>8}   (connections: {args.connections})"
    )
    for r in rows:
        print(
            f"{r['fault']:24}{r['load']:>26}{r['served']:>8}{r['503']:>6}{r['recorded']:>9}"
            f"{r['lost']:>6}{r['phantom']:>8}{r['duplicate']:>5}{r['from memory']:>8}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
