"""The edge's CPU per request on one Valkey and on a 3-master Valkey Cluster, in the same run,
through granian (issue 13: within 10%).

    python -m loadtest.cluster_bench [--contacts 20000] [--seconds 8] [--runs 3]

loadtest/bench.py's method with a second store: an embedded PostgreSQL, one Valkey and a local
cluster of 3 masters (smartlinks/cluster.py); a link with merge fields and --contacts contacts
whose codes are issued for REDIS_PARTITIONS=64 (each in its contact's partition, as the admin
issues them on a cluster), published to both (`smartlinks sync --full --burst` twice). Two
`smartlinks edge` (one granian worker each), one per store, on the server core with every Valkey
process; wrk on the client core with bench's request mix. Runs alternate single, cluster, ...:
full load (as fast as each answers), then a fixed rate (half the single's median peak) for both.
Per run: the edge's CPU µs per request (its worker), the Valkey processes' (one, or all three
masters), and their sum; the medians and the cluster / single ratio, with the load average.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg

from core import config
from loadtest import machine, report, script_parser, seed, stack, traffic
from loadtest.wrk import run_wrk
from smartlinks.cluster import running

PARTITIONS = 64


def main(argv: list[str] | None = None) -> int:
    p = script_parser("loadtest.cluster_bench", __doc__)
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args(argv)
    wrk = machine.find_tool("wrk")
    if wrk is None:
        print("loadtest.cluster_bench: needs wrk", file=sys.stderr)
        return 2
    server_cpu, client_cpu = machine.cpu_plan(None, None)
    loadavg_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with ExitStack() as es, tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        stores = es.enter_context(stack.stores(work, "", "", server_cpu))
        cluster = es.enter_context(running(work / "cluster"))
        for proc in cluster.procs:  # with the single Valkey and the edges, as bench pins them
            os.sched_setaffinity(proc.pid, {server_cpu})
        single_env = stack.role_env(stores, work / "data-single")
        cluster_env = stack.role_env(stores, work / "data-cluster", REDIS_URL=cluster.url,
                                     REDIS_CLUSTER="1", REDIS_PARTITIONS=str(PARTITIONS))  # fmt: skip
        stack.run_role(["migrate"], single_env, logs / "migrate.log")
        dsn = config.to_libpq(stores.database_url)
        with psycopg.connect(dsn) as conn:
            seeded = seed.seed_link(conn, args.contacts)
        from admin.services import codes

        codes.PARTITIONS.set(PARTITIONS)  # as the admin issues codes with REDIS_PARTITIONS=64
        seed.issue(stores.database_url, seeded)
        for env, name in ((single_env, "single"), (cluster_env, "cluster")):
            stack.run_role(["sync", "--full", "--burst"], env, logs / f"sync-{name}.log")
        with psycopg.connect(dsn) as conn:
            targets = seed.targets(conn, seeded.hostname)
        requests_file = work / "requests.tsv"
        traffic.write_requests(requests_file, traffic.build_requests(targets, args.requests))
        edges = {}
        for name, env in (("single", single_env), ("cluster", cluster_env)):
            (logs / name).mkdir()
            child, url = es.enter_context(stack.edge(env, logs / name, server_cpu))
            edges[name] = (url, stack.process_tree(child.pid))
        valkeys = {"single": [stores.redis_pid or 0], "cluster": [p.pid for p in cluster.procs]}

        def load(name: str, kind: str, rate: float) -> dict[str, Any]:
            url, pids = edges[name]
            r = run_wrk(wrk, server=name, load=kind, url=url + "/", requests_file=requests_file,
                        host=seeded.hostname, connections=args.connections,
                        seconds=args.seconds, rate=rate, client_cpu=client_cpu,
                        server_cpu=server_cpu, server_pids=pids,
                        redis_pids=valkeys[name])  # fmt: skip
            row = {
                "store": name, "load": kind, "req/s": round(r.req_per_s),
                "edge µs/req": round(r.server_cpu_us_per_req, 1),
                "valkey µs/req": round(r.redis_cpu_us_per_req, 1),
                "sum µs/req": round(r.server_cpu_us_per_req + r.redis_cpu_us_per_req, 1),
                "3xx": r.status.get("3xx", 0), "other": r.status.get("other", 0),
                "loadavg": round(os.getloadavg()[0], 1),
            }  # fmt: skip
            print(json.dumps(row), flush=True)
            runs.append(row)
            return row

        for name in edges:  # warm-up: connections, the edge's caches, Valkey's pages
            load(name, "warmup", 0)
        for _ in range(args.runs):
            for name in edges:
                load(name, "full", 0)
        peak = statistics.median(r["req/s"] for r in runs if r["load"] == "full"
                                 and r["store"] == "single")  # fmt: skip
        for _ in range(args.runs):
            for name in edges:
                load(name, "half", peak / 2)
    summary = []
    for kind in ("full", "half"):
        med = {
            name: {col: statistics.median(r[col] for r in runs
                                          if r["store"] == name and r["load"] == kind)
                   for col in ("req/s", "edge µs/req", "valkey µs/req", "sum µs/req")}
            for name in ("single", "cluster")
        }  # fmt: skip
        summary.append({
            "load": kind,
            **{f"{n} {c}": v for n, m in med.items() for c, v in m.items()},
            "cluster/single edge": round(med["cluster"]["edge µs/req"]
                                         / med["single"]["edge µs/req"], 3),
            "cluster/single sum": round(med["cluster"]["sum µs/req"]
                                        / med["single"]["sum µs/req"], 3),
        })  # fmt: skip
    print("\n" + report.markdown_table([r for r in runs if r["load"] != "warmup"]))
    print("\n" + report.markdown_table(summary))
    print(f"\nload average before {loadavg_before}, after {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
