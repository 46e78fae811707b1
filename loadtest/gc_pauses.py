"""The edge worker's garbage-collection pauses, by collector setting, in one process each.

    python -m loadtest.gc_pauses [--requests 60000] [--rounds 2] [--contacts 20000]

A throwaway Valkey holds the link and its contacts' codes (as loadtest.hotpath writes them);
each variant is a fresh Python process that builds the edge's app, runs its start-up (which
calls edge.gc.settle()), applies the variant's setting on top and sends ``--requests`` of the
bench's mix through the app, 64 at a time, as granian would, timing every collection with
``gc.callbacks``. Variants alternate round by round. Printed per variant: collections of
each generation, the longest pause, the pauses' total per 10,000 requests and CPU per request.

  default        CPython's collector as it is (no freeze, thresholds 700/10/10)
  freeze         gc.freeze() after start-up, thresholds as they are
  edge           what edge/gc.py does (freeze and its gen-0 threshold)
  freeze+N       gc.freeze() and a gen-0 threshold of N (--thresholds 5000,50000)
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtest import script_parser
from loadtest.hotpath import Call, _receive, _send, measure, requests, scope_for, seed_redis
from smartlinks.embedded import EmbeddedRedis, free_port

DEFAULT_THRESHOLDS = (700, 10, 10)


def apply(variant: str) -> None:
    """The variant's collector setting, on top of what the app's start-up did."""
    from edge import gc as edge_gc

    if variant == "default":
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_THRESHOLDS)
    elif variant == "freeze":
        gc.set_threshold(*DEFAULT_THRESHOLDS)
    elif variant == "edge":
        edge_gc.settle()
    elif variant.startswith("freeze+"):
        gc.set_threshold(int(variant.removeprefix("freeze+")), *DEFAULT_THRESHOLDS[1:])
    else:
        raise SystemExit(f"unknown variant {variant}")


async def child(url: str, codes: list[str], variant: str, n: int) -> dict[str, Any]:
    from edge.app import create_app

    pauses: list[tuple[int, float, float]] = []  # generation, wall and CPU seconds
    started: list[tuple[float, float]] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append((time.perf_counter(), time.thread_time()))
        elif started:
            wall, cpu = started.pop()
            pauses.append(
                (info["generation"], time.perf_counter() - wall, time.thread_time() - cpu)
            )

    # (path, agent) pairs: strings and tuples of them, which the collector stops tracking, so
    # the harness adds nothing to what a collection walks; each call builds its scope, as
    # granian does per request.
    work = [(s["path"], dict(s["headers"])[b"user-agent"].decode()) for s in requests(codes, n)]
    spool = tempfile.TemporaryDirectory(prefix="gc-pauses-spool-")
    app = create_app(redis_url=url, spool_dir=Path(spool.name))
    async with app.starlette.router.lifespan_context(app.starlette):
        apply(variant)
        for path, agent in work[:2000]:  # warm, as a running worker is
            await app(scope_for(path, agent), _receive, _send)
        gc.callbacks.append(callback)
        calls: list[Call] = [functools.partial(_call, app, path, agent) for path, agent in work]
        row = await measure(variant, calls, 64)
        gc.callbacks.remove(callback)
    by_gen = {g: [(w, c) for gen, w, c in pauses if gen == g] for g in (0, 1, 2)}
    per_10k = 10_000 / n
    return {
        "variant": variant,
        "cpu_us": row["cpu_us"],
        "collections": {g: len(p) for g, p in by_gen.items()},
        "max_cpu_ms": max((c for _, _, c in pauses), default=0) * 1000,
        "max_wall_ms": max((w for _, w, _ in pauses), default=0) * 1000,
        "cpu_ms_per_10k": sum(c for _, _, c in pauses) * 1000 * per_10k,
        "wall_ms_per_10k": sum(w for _, w, _ in pauses) * 1000 * per_10k,
    }


async def _call(app: Any, path: str, agent: str) -> None:
    await app(scope_for(path, agent), _receive, _send)


def snapshot_cost(n: int = 2_000) -> None:
    """The other pause in the worker's event loop: the metrics snapshot it writes each second
    (edge/metrics.py: encode, write a file, rename), timed ``n`` times with a counter moved."""
    from edge.metrics import SharedMetrics

    with tempfile.TemporaryDirectory(prefix="gc-pauses-metrics-") as tmp:
        metrics = SharedMetrics(Path(tmp))
        walls, cpus = [], []
        for i in range(n):
            metrics.local.observe("redirect", 0.001 * (i % 7))
            wall, cpu = time.perf_counter(), time.thread_time()
            metrics.write_snapshot()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.thread_time() - cpu)
    walls.sort()
    print(
        f"metrics snapshot ({n:,} writes): CPU median {statistics.median(cpus) * 1e6:.0f} us;"
        f" wall median {statistics.median(walls) * 1e6:.0f} us,"
        f" p99 {walls[int(n * 0.99)] * 1e6:.0f} us, max {walls[-1] * 1e3:.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    p = script_parser("loadtest.gc_pauses", __doc__)
    p.add_argument("--requests", type=int, default=60_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--thresholds", default="5000,50000", help="gen-0 thresholds to try")
    p.add_argument("--child", nargs=3, metavar=("VARIANT", "REDIS_URL", "CODES_FILE"))
    args = p.parse_args(argv)
    if args.child:
        variant, url, codes_file = args.child
        codes = json.loads(Path(codes_file).read_text())
        print(json.dumps(asyncio.run(child(url, codes, variant, args.requests))))
        return 0
    variants = ["default", "freeze", "edge"] + [
        f"freeze+{t}" for t in args.thresholds.split(",") if t
    ]
    rows: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="smartlinks-gc-") as tmp:
        rd = EmbeddedRedis(Path(tmp) / "valkey", free_port(), durable=False)
        proc = rd.launch()
        try:
            rd.wait_ready(proc)
            codes_file = Path(tmp) / "codes.json"
            codes_file.write_text(json.dumps(seed_redis(rd.url, args.contacts)))
            for _ in range(args.rounds):
                for v in variants:
                    out = subprocess.run(
                        [sys.executable, "-m", "loadtest.gc_pauses", "--requests",
                         str(args.requests), "--child", v, rd.url, str(codes_file)],
                        capture_output=True, text=True, check=True,
                        env={**os.environ, "LOG_LEVEL": "WARNING"},
                    )
                    rows[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"\n{args.requests:,} requests per run, medians of {args.rounds}; load average"
          f" {os.getloadavg()[0]:.1f}")
    print(f"{'variant':16}{'gen0':>7}{'gen1':>6}{'gen2':>6}{'max CPU ms':>12}"
          f"{'CPU ms/10k':>12}{'max wall ms':>13}{'wall ms/10k':>13}{'CPU us/req':>12}")
    for v, runs in rows.items():
        def med(key: str, gen: str = "", runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[key][gen] if gen else r[key] for r in runs))

        print(
            f"{v:16}{med('collections', '0'):>7.0f}{med('collections', '1'):>6.0f}"
            f"{med('collections', '2'):>6.0f}{med('max_cpu_ms'):>12.1f}"
            f"{med('cpu_ms_per_10k'):>12.1f}{med('max_wall_ms'):>13.1f}"
            f"{med('wall_ms_per_10k'):>13.1f}{med('cpu_us'):>12.1f}"
        )
    print("(a collection's CPU time is what it costs; its wall time adds the neighbours' share"
          " of the core)")
    snapshot_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
