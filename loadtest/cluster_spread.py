"""The cluster layout measured (docs/decisions/0011-cluster-layout.md): how evenly keys and
commands spread over the masters under a skewed workload, and what the cluster costs the
edge's CPU per request against a single Redis, both in one run.

    python -m loadtest.cluster_spread [--partitions 64] [--requests 40000] [--uvloop]

1. spread: a local 3-master Valkey Cluster; 10 organisations, each a domain, 3 links and its
   contacts with a code each (issued in the contact's partition, as admin/services/codes.py
   does); traffic through the edge's app (edge.app.create_app, cluster mode, called as granian
   would) where ONE organisation gets 90% of the clicks. Per master: keys (DBSIZE), commands
   run (INFO commandstats, the scripts' own commands included) and EVALSHA calls, and each
   one's distance from an even third.
2. cpu: the hot-path benchmark of loadtest/hotpath.py (the "app" variant: the whole app, 64
   requests at a time) and the Redis call alone (Resolver.resolve), against a single Valkey
   and against the cluster, in alternating rounds in one process; CPU per request is this
   process's (the servers' work is not in it). On a shared machine single rounds vary by
   +-30%: the figure to read is the median of each round's cluster/single ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import statistics
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import msgspec
import redis

from admin.services.codes import codes_for
from core.records import DomainRecord, LinkRecord
from edge.app import EdgeApp, create_app
from loadtest import hotpath
from loadtest.traffic import PHONE_USER_AGENTS
from smartlinks.cluster import EmbeddedCluster
from smartlinks.cluster import running as cluster_running
from smartlinks.embedded import EmbeddedRedis, free_port
from sync.publish.store import RecordStore

ORGS = 10
LINKS_PER_ORG = 3
HOT_SHARE = 0.9  # of the clicks, to organisation 0


def seed_orgs(client: redis.RedisCluster, partitions: int, contacts: int) -> list[list[str]]:
    """Every organisation's records; returns each one's codes (scope paths)."""
    store = RecordStore(client, partitions)
    paths: list[list[str]] = []
    per_org = contacts // ORGS
    for org in range(ORGS):
        host = f"o{org}.spread.test"
        store.put_domain(DomainRecord(id=org + 1, org_id=org + 1, hostname=host, version=1))
        links = [org * LINKS_PER_ORG + k + 1 for k in range(LINKS_PER_ORG)]
        for link_id in links:
            store.put_link(
                LinkRecord(
                    id=link_id,
                    org_id=org + 1,
                    domain_id=org + 1,
                    hostname=host,
                    version=2,
                    destination=hotpath.DESTINATION,
                )
            )
        ids = list(range(org * per_org + 1, (org + 1) * per_org + 1))
        pipe = client.pipeline(transaction=False)
        for i in ids:
            record = msgspec.structs.replace(hotpath.contact(i), org_id=org + 1)
            store.put_contact(record, pipe)
        pipe.execute()
        codes = codes_for(ids, partitions)
        store.put_codes((c, links[i % LINKS_PER_ORG], ids[i]) for i, c in enumerate(codes))
        paths.append([f"{host}|/{c}" for c in codes])
    return paths


def skewed(paths: list[list[str]], n: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    scopes = []
    for _ in range(n):
        org = 0 if rng.random() < HOT_SHARE else rng.randrange(1, ORGS)
        host, _, path = rng.choice(paths[org]).partition("|")
        scope = hotpath.scope_for(path, rng.choice(PHONE_USER_AGENTS))
        scope["headers"][0] = (b"host", host.encode())
        scopes.append(scope)
    return scopes


def per_master(cluster: EmbeddedCluster) -> dict[int, dict[str, int]]:
    out = {}
    for port in cluster.ports:
        node = cluster.node(port)
        stats: Any = node.info("commandstats")
        calls = {
            name: int(v["calls"])
            for name, v in stats.items()
            if name not in ("cmdstat_info", "cmdstat_cluster|slots", "cmdstat_cluster|info")
        }
        out[port] = {
            "keys": int(node.dbsize()),
            "commands": sum(calls.values()),
            "evalsha": calls.get("cmdstat_evalsha", 0),
        }
    return out


def deviation(values: list[int]) -> float:
    """The largest distance from the mean, as a fraction of the mean."""
    mean = statistics.mean(values)
    return max(abs(v - mean) for v in values) / mean if mean else 0.0


async def _serve(stack: AsyncExitStack, app: EdgeApp) -> EdgeApp:
    await stack.enter_async_context(app.starlette.router.lifespan_context(app.starlette))
    return app


async def spread(cluster: EmbeddedCluster, args: argparse.Namespace, spool: Path) -> dict[str, Any]:
    client = cluster.client()
    paths = seed_orgs(client, args.partitions, args.contacts)
    client.close()
    scopes = skewed(paths, args.requests)
    async with AsyncExitStack() as stack:
        app = await _serve(
            stack,
            create_app(
                redis_url=cluster.url, spool_dir=spool, cluster=True, partitions=args.partitions
            ),
        )
        before = per_master(cluster)
        await hotpath.measure("spread", hotpath.asgi_calls(app, scopes), args.concurrency)
        after = per_master(cluster)
        second = app.state.edge.resolver.second_trips
    result: dict[str, Any] = {"second_trips": second, "masters": {}}
    for port in cluster.ports:
        row = {k: after[port][k] - before[port][k] for k in ("commands", "evalsha")}
        result["masters"][port] = {"keys": after[port]["keys"], **row}
    for what in ("keys", "commands", "evalsha"):
        result[f"{what}_deviation"] = round(
            deviation([m[what] for m in result["masters"].values()]), 4
        )
    return result


async def cpu(
    single_url: str, cluster: EmbeddedCluster, args: argparse.Namespace, spool: Path
) -> dict[str, Any]:
    single_codes = hotpath.seed_redis(single_url, args.contacts)
    client = cluster.client()
    cluster_codes = hotpath.seed_redis(cluster.url, args.contacts, client, args.partitions)
    client.close()
    async with AsyncExitStack() as stack:
        apps = {
            "single": await _serve(stack, create_app(redis_url=single_url, spool_dir=spool / "1")),
            "cluster": await _serve(
                stack,
                create_app(
                    redis_url=cluster.url,
                    spool_dir=spool / "2",
                    cluster=True,
                    partitions=args.partitions,
                ),
            ),
        }
        scopes = {
            "single": hotpath.requests(single_codes, args.cpu_requests),
            "cluster": hotpath.requests(cluster_codes, args.cpu_requests),
        }
        for name, app in apps.items():  # warm the caches, as a running worker has
            await hotpath.measure(f"warm {name}", hotpath.asgi_calls(app, scopes[name][:2000]), 64)
        event = b"\x80"  # an (empty) encoded event: the script appends it like any other
        codes = {"single": single_codes, "cluster": cluster_codes}

        def calls(name: str, variant: str) -> list[hotpath.Call]:
            if variant == "app":
                return hotpath.asgi_calls(apps[name], scopes[name])
            resolver = apps[name].state.edge.resolver
            picks = codes[name] * (args.cpu_requests // len(codes[name]) + 1)
            return [
                functools.partial(resolver.resolve, hotpath.HOST, c, event)
                for c in picks[: args.cpu_requests]
            ]

        rows: dict[str, list[float]] = {}
        for r in range(args.rounds):
            # alternate which goes first: a drift in the machine's load hits both alike
            for name in ("single", "cluster") if r % 2 == 0 else ("cluster", "single"):
                for variant in ("app", "resolve"):
                    row = await hotpath.measure(
                        f"{variant} {name}", calls(name, variant), args.concurrency
                    )
                    rows.setdefault(f"{variant} {name}", []).append(row["cpu_us"])
    out: dict[str, Any] = {"cpu_us": rows}
    for variant in ("app", "resolve"):
        one, many = rows[f"{variant} single"], rows[f"{variant} cluster"]
        out[variant] = {
            "median_single_us": round(statistics.median(one), 1),
            "median_cluster_us": round(statistics.median(many), 1),
            # each round's cluster figure over the same round's single figure
            "median_ratio": round(
                statistics.median(c / s for c, s in zip(many, one, strict=True)), 3
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.cluster_spread",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--partitions", type=int, default=64)
    p.add_argument("--masters", type=int, default=3)
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--requests", type=int, default=40_000)
    p.add_argument("--cpu-requests", type=int, default=5_000, help="per round and variant")
    p.add_argument("--rounds", type=int, default=21)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (as granian does)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smartlinks-cluster-") as tmp:
        base = Path(tmp)
        single = EmbeddedRedis(base / "single", free_port(), durable=False)
        proc = single.start()
        with contextlib.ExitStack() as stack:
            stack.callback(proc.wait, 10)
            stack.callback(proc.terminate)
            cluster = stack.enter_context(cluster_running(base / "cluster", masters=args.masters))

            async def both() -> dict[str, Any]:
                out = {"spread": await spread(cluster, args, base / "spool")}
                cluster.flush()
                out["cpu"] = await cpu(single.url, cluster, args, base / "spool")
                return out

            if args.uvloop:
                import uvloop

                result = uvloop.run(both())
            else:
                result = asyncio.run(both())
            print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
