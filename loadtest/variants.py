"""Measure hot-path options through a real granian worker, without changing edge/.

    python -m loadtest.variants [--seconds 6] [--rounds 2] [--only edge,edge-uvloop]
    python -m loadtest.variants --only main,old --old-tree /tmp/old37 --contacts 100000

A throwaway Valkey on the server core holds a domain, a link with merge fields and contacts
with codes (as loadtest.hotpath writes them); each variant is one granian worker on the server
core, driven by wrk on the other with the bench's request mix. Variants alternate round by
round; the figures that matter on a shared machine are the worker's and Valkey's CPU time per
request (req/s moves with the neighbours).

``main`` is the edge as ``smartlinks edge`` runs it (granian's RSGI, loop=auto: uvloop); ``old`` is
the same app from another source tree (``--old-tree``, e.g. ``git archive <commit> | tar -x -C
/tmp/old``), run as the worker's working folder, so that two commits' edges are compared in
alternating rounds of one run. ``--contacts 100000`` gives the bench's traffic (nearly every
request a code the worker has not seen); ``--durable`` Valkey's append-only file as the bench
runs it; ``--old-interface`` the granian interface the other tree's edge takes (``asgi``
before 2026-12-02). ``main-asgi`` is this tree's edge through ASGI. The asyncio-loop variants are the experiments that chose the hot path (decision 0004);
``main-st``, ``main-rust-tasks``, ``main-bp64`` and ``main-http1`` are ``main`` with one of
granian's options changed (measured in docs/performance.md, issue 16, none taken).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

from loadtest import machine, script_parser, stack, traffic
from loadtest.hotpath import HOST, LINK, PLAIN_LINK, seed_redis
from loadtest.wrk import WrkRun, run_wrk
from smartlinks.embedded import EmbeddedRedis, free_port, wait_for_port


@dataclass(frozen=True)
class Variant:
    name: str
    target: str
    interface: str = "asgi"
    factory: bool = True
    loop: str = "asyncio"
    runtime_mode: str = "auto"
    task_impl: str = "asyncio"
    uvloop: bool = False
    old: bool = False  # from --old-tree
    unix: bool = False  # Valkey through its Unix socket
    granian: str = "{}"  # more Granian(...) keyword arguments, as JSON
    env: str = "{}"  # more environment for the worker, as JSON (the edge's settings)


VARIANTS = (
    Variant("main", "edge.app:create_app", interface="rsgi", loop="auto"),
    # Valkey through its Unix socket instead of TCP on loopback
    Variant("main-unix", "edge.app:create_app", interface="rsgi", loop="auto", unix=True),
    # the same app through granian's ASGI interface (what `smartlinks edge` ran before RSGI)
    Variant("main-asgi", "edge.app:create_app", loop="auto"),
    # from --old-tree; its interface is --old-interface
    Variant("old", "edge.app:create_app", loop="auto", old=True),
    # granian's own options on the edge as it is (issue 16, lever c)
    Variant("main-st", "edge.app:create_app", interface="rsgi", loop="auto", runtime_mode="st"),
    Variant("main-rust-tasks", "edge.app:create_app", interface="rsgi", loop="auto", task_impl="rust"),
    Variant(
        "main-bp64", "edge.app:create_app", interface="rsgi", loop="auto", granian='{"backpressure": 64}'
    ),
    Variant(
        "main-bp16", "edge.app:create_app", interface="rsgi", loop="auto", granian='{"backpressure": 16}'
    ),
    Variant("main-http1", "edge.app:create_app", interface="rsgi", loop="auto", granian='{"http": "1"}'),
    # without the memory of recent answers (edge/memory.py): what remembering them costs
    Variant(
        "main-no-memory", "edge.app:create_app", interface="rsgi", loop="auto",
        env='{"EDGE_MEMORY_ENTRIES": "0"}',
    ),  # fmt: skip
    # the server's folders (the memory's LMDB file, the metrics snapshots) in memory (tmpfs)
    Variant(
        "main-shm", "edge.app:create_app", interface="rsgi", loop="auto",
        env='{"TMPDIR": "/dev/shm"}',
    ),  # fmt: skip
    Variant("edge", "loadtest.variant_apps:edge"),
    Variant("edge-hot-dispatch", "loadtest.variant_apps:edge_hot_dispatch"),
    Variant("edge-fast-ip", "loadtest.variant_apps:edge_fast_ip"),
    Variant("edge-fast-ip+dispatch", "loadtest.variant_apps:edge_fast_ip_hot_dispatch"),
    Variant("edge-st-runtime", "loadtest.variant_apps:edge", runtime_mode="st"),
    Variant("edge-rust-tasks", "loadtest.variant_apps:edge", task_impl="rust"),
    Variant("edge-uvloop", "loadtest.variant_apps:edge", loop="uvloop", uvloop=True),
    Variant(
        "edge-all-three",
        "loadtest.variant_apps:edge_fast_ip_hot_dispatch",
        loop="uvloop",
        uvloop=True,
    ),
    Variant("edge-gc-default", "loadtest.variant_apps:edge_gc_default"),
    Variant("edge-freeze-only", "loadtest.variant_apps:edge_freeze_only"),
    Variant("edge-snapshot-on-loop", "loadtest.variant_apps:edge_snapshot_on_loop"),
    Variant("const-starlette", "loadtest.variant_apps:constant_starlette"),
    Variant("const-asgi", "loadtest.variant_apps:constant_asgi", factory=False),
    Variant("const-rsgi", "loadtest.variant_apps:constant_rsgi", interface="rsgi", factory=False),
)

SERVE = """
import json, sys
from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, TaskImpl
from smartlinks.serve import EDGE_HTTP1
target, interface, factory, loop, mode, tasks, port, extra = sys.argv[1:9]
extra = json.loads(extra)
if "http" in extra:
    extra["http"] = HTTPModes(extra["http"])
Granian(target, factory=factory == "1", address="127.0.0.1", port=int(port),
        interface=Interfaces(interface), workers=1, loop=Loops(loop),
        runtime_mode=RuntimeModes(mode), task_impl=TaskImpl(tasks),
        http1_settings=EDGE_HTTP1, backlog=2048, log_access=False, websockets=False,
        **extra).serve()
"""


def serve_args(v: Variant, port: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        SERVE,
        v.target,
        v.interface,
        "1" if v.factory else "0",
        v.loop,
        v.runtime_mode,
        v.task_impl,
        str(port),
        v.granian,
    ]


def main(argv: list[str] | None = None) -> int:
    p = script_parser("loadtest.variants", __doc__)
    p.add_argument("--seconds", type=float, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--contacts", type=int, default=5_000)
    p.add_argument("--only", default="", help="comma-separated variant names")
    p.add_argument("--uvloop-path", default="", help="a folder where uvloop is importable")
    p.add_argument("--old-tree", default="", help="the source tree of the `old` variant")
    p.add_argument(
        "--old-interface",
        default="asgi",
        choices=("asgi", "rsgi"),
        help="granian's interface for the `old` variant (asgi: the edge before 2026-12-02)",
    )
    p.add_argument("--durable", action="store_true", help="Valkey with its AOF, as the bench")
    p.add_argument(
        "--rate",
        type=float,
        default=0,
        help="also a run at this fixed rate (req/s, open loop) per variant: its p50/p99",
    )
    p.add_argument(
        "--plain-link",
        action="store_true",
        help="the link's destination merges nothing of the contact (loadtest.hotpath.PLAIN_LINK)",
    )
    args = p.parse_args(argv)
    tools = machine.ensure_tools()
    server_cpu, client_cpu = machine.cpu_plan(None, None)
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only.split(",")]
    if not args.uvloop_path:
        chosen = [v for v in chosen if not v.uvloop]
    if not args.old_tree:
        chosen = [v for v in chosen if not v.old]
    chosen = [replace(v, interface=args.old_interface) if v.old else v for v in chosen]
    results: dict[str, list[tuple[WrkRun, WrkRun | None]]] = {v.name: [] for v in chosen}
    with tempfile.TemporaryDirectory(prefix="smartlinks-variants-") as tmp:
        work = Path(tmp)
        rd = EmbeddedRedis(
            work / "valkey", free_port(), durable=args.durable, unix_socket=any(v.unix for v in chosen)
        )
        rd_proc = rd.launch(preexec_fn=machine.pin(server_cpu))
        try:
            rd.wait_ready(rd_proc)
            codes = seed_redis(rd.url, args.contacts, link=PLAIN_LINK if args.plain_link else LINK)
            targets = [traffic.Target(HOST, c, "gala2026") for c in codes]
            requests_file = work / "requests.tsv"
            requests = max(100_000, 2 * len(targets))
            traffic.write_requests(requests_file, traffic.build_requests(targets, requests))
            print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
            for _ in range(args.rounds):
                for v in chosen:
                    full, tail = run_variant(
                        v,
                        args,
                        tools["wrk"],
                        rd,
                        rd_proc.pid,
                        requests_file,
                        work,
                        server_cpu,
                        client_cpu,
                    )
                    results[v.name].append((full, tail))
                    print(
                        f"  {v.name:24} {full.req_per_s:9,.0f} req/s"
                        f"  {full.server_cpu_us_per_req:7.1f} us CPU/req (worker)"
                        f" + {full.redis_cpu_us_per_req:5.1f} (Valkey)"
                        f"  load {os.getloadavg()[0]:.1f}"
                        + (f"  at {tail.req_per_s:,.0f}/s: p50 {tail.p50_ms:.2f} p99"
                           f" {tail.p99_ms:.2f} ms, {tail.server_cpu_us_per_req:.1f}"
                           f" + {tail.redis_cpu_us_per_req:.1f} us" if tail else ""),
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            rd_proc.send_signal(signal.SIGTERM)
            rd_proc.wait(10)
    tail_head = f"{'p50 ms':>9}{'p99 ms (each run)':>24}" if args.rate else ""
    print(f"\n{'variant':24}{'req/s':>10}{'worker us':>11}{'Valkey us':>11}{'sum':>8}"
          f"{tail_head}   (CPU per request, medians of {args.rounds}"
          + (f"; fixed rate {args.rate:,.0f}/s" if args.rate else "") + ")")
    for name, rows in results.items():
        rps = statistics.median(r.req_per_s for r, _ in rows)
        cpu = statistics.median(r.server_cpu_us_per_req for r, _ in rows)
        rcpu = statistics.median(r.redis_cpu_us_per_req for r, _ in rows)
        both = statistics.median(r.server_cpu_us_per_req + r.redis_cpu_us_per_req for r, _ in rows)
        tails = [t for _, t in rows if t]
        shown = (
            f"{statistics.median(t.p50_ms for t in tails):>9.2f}"
            + "   " + " / ".join(f"{t.p99_ms:.2f}" for t in tails)
            if tails
            else ""
        )
        print(f"{name:24}{rps:>10,.0f}{cpu:>11.1f}{rcpu:>11.1f}{both:>8.1f}{shown}")
    return 0


def run_variant(
    v: Variant,
    args: argparse.Namespace,
    wrk: str,
    rd: EmbeddedRedis,
    redis_pid: int,
    requests_file: Path,
    work: Path,
    server_cpu: int,
    client_cpu: int,
) -> tuple[WrkRun, WrkRun | None]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "EDGE_"))}
    env.update(
        REDIS_URL=rd.unix_url if v.unix else rd.url,
        LOG_LEVEL="WARNING",
        SMARTLINKS_DATA_DIR=str(work / "data"),
    )
    env.update(json.loads(v.env))
    if v.uvloop:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.uvloop_path, env.get("PYTHONPATH")]))
    # The other tree is the worker's working folder: granian puts that first on sys.path (a
    # PYTHONPATH comes after it, so until 2026-12-02 `old` ran this tree's edge).
    cwd = Path(args.old_tree).resolve() if v.old else stack.ROOT
    child = stack.Child(
        serve_args(v, port), work / f"{v.name}.log", env, machine.pin(server_cpu), cwd
    )
    try:
        wait_for_port("127.0.0.1", port, 60, child.proc)

        def load(
            name: str,
            seconds: float,
            server_pids: list[int],
            redis_pids: list[int],
            rate: float = 0,
        ) -> WrkRun:
            return run_wrk(
                wrk,
                server=v.name,
                load=name,
                url=f"http://127.0.0.1:{port}/",
                requests_file=requests_file,
                host=HOST,
                connections=args.connections,
                seconds=seconds,
                rate=rate,
                client_cpu=client_cpu,
                server_cpu=server_cpu,
                server_pids=server_pids,
                redis_pids=redis_pids,
            )

        warm = load("warmup", 2, [], [])
        if warm.status["3xx"] == 0:
            raise RuntimeError(f"{v.name} served no redirect: {warm.status}\n{child.tail()}")
        worker = stack.busiest_worker(child.pid)
        r = load("full", args.seconds, [worker], [redis_pid])
        tail = load("rate", args.seconds, [worker], [redis_pid], args.rate) if args.rate else None
        return r, tail
    finally:
        with suppress(Exception):
            child.stop()


if __name__ == "__main__":
    sys.exit(main())
