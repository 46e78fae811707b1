"""Where the edge's CPU per request goes, measured in one process without HTTP.

    python -m loadtest.hotpath [--requests 20000] [--concurrency 64]

Starts a throwaway Valkey, writes a domain, a link with merge fields and contacts with their
codes through sync's RecordStore, builds the edge's app (edge.app.create_app) and calls it as
granian would (an ASGI scope per request, 64 at a time so that edge/wire.py pipelines as under
load). Each variant peels a layer off, so the differences say what each layer costs:

  app        the edge's app: its dispatcher (edge/app.py) straight to the Visit endpoint
  router     Starlette's router in front of the Visit endpoint (the path before the dispatcher)
  endpoint   the Visit endpoint called directly (no Starlette middleware or routing)
  answer     Visit.answer: classify, event, the Redis call, decode, merge (no response sent)
  no-redis   Visit.answer with the Redis reply replayed from memory (our Python alone)
  resolve    the Redis call alone (edge/wire.py + EVALSHA), 64 concurrent
  redis-py   the same EVALSHA through redis-py's asyncio client, 64 concurrent
and a few single functions in a loop (classify, encode_event, decode, build_location,
client_ip, read_headers). CPU time is this process's (Valkey's own work is not in it).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import msgspec
import redis
from starlette.types import ASGIApp

from core import keys
from core.clicks import HUMAN
from core.records import ContactRecord, DomainRecord, LinkRecord
from loadtest import script_parser
from loadtest.traffic import PHONE_USER_AGENTS, PREVIEW_USER_AGENTS, unknown_code
from loadtest.variant_apps import hot_dispatch
from smartlinks.embedded import EmbeddedRedis, free_port
from sync.publish.store import RecordStore

HOST = "bench.smartlinks.test"
DESTINATION = "https://example.org/rsvp?first={{first_name}}&last={{last_name}}&src={{fields.source|sms}}&ward={{fields.ward}}"

# The one domain and link the benchmarks serve (and edge_memory measures).
DOMAIN = DomainRecord(id=1, org_id=1, hostname=HOST, version=1)
LINK = LinkRecord(
    id=1,
    org_id=1,
    domain_id=1,
    hostname=HOST,
    version=2,
    destination=DESTINATION,
    extension="gala2026",
    preview_title="Gala 2026",
    preview_description="Join us",
    preview_image_url="https://example.org/gala.jpg",
)


# The same link with a destination that merges nothing of the contact (the edge's script then
# skips the contact's read: tests/edge/test_plain_links.py).
PLAIN_LINK = msgspec.structs.replace(LINK, destination="https://example.org/rsvp?src={{source|sms}}")


def contact(i: int) -> ContactRecord:
    """The benchmarks' contact number ``i`` (from 1)."""
    return ContactRecord(
        id=i,
        org_id=1,
        version=10 + i,
        phone=f"+1555{i:07d}",
        first_name=f"First{i}",
        last_name=f"Last{i}",
        fields={"source": "sms", "ward": f"Ward {i % 40}"},
    )


def seed_redis(
    url: str,
    contacts: int,
    client: redis.Redis | redis.RedisCluster | None = None,
    partitions: int = 1,
    link: LinkRecord = LINK,
) -> list[str]:
    """The domain, ``link`` and contacts with a code each; on ``client`` (a cluster's) if
    given, in the layout of ``partitions``, each code in its contact's partition."""
    from admin.services.codes import codes_for

    own = client is None
    client = client if client is not None else redis.Redis.from_url(url)
    store = RecordStore(client, partitions)
    store.put_domain(DOMAIN)
    store.put_link(link)
    rng = random.Random(6)
    codes = [unknown_code(rng) for _ in range(contacts)]
    if partitions > 1:
        codes = codes_for(list(range(1, contacts + 1)), partitions)
    pipe = client.pipeline(transaction=False)
    for i in range(1, contacts + 1):
        store.put_contact(contact(i), pipe)
    pipe.execute()
    store.put_codes((code, 1, i + 1) for i, code in enumerate(codes))
    if own:
        client.close()
    return codes


def scope_for(path: str, user_agent: str) -> dict[str, Any]:
    code, _, extension = path.lstrip("/").partition("/")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", HOST.encode()),
            (b"user-agent", user_agent.encode()),
            (b"x-forwarded-for", b"73.21.144.9"),
            (b"accept", b"*/*"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
        "path_params": {"code": code, "extension": extension},
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: MutableMapping[str, Any]) -> None:
    return None


Call = Callable[[], Awaitable[Any]]


async def measure(name: str, calls: list[Call], concurrency: int) -> dict[str, float]:
    """Run the calls ``concurrency`` at a time; CPU and wall time per call."""
    queue = iter(calls)

    async def worker() -> None:
        for call in queue:
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(calls)
    row = {"cpu_us": cpu * 1e6 / n, "wall_us": wall * 1e6 / n, "per_s": n / wall}
    print(f"{name:14} {row['cpu_us']:8.1f} us CPU/req {row['per_s']:10,.0f} req/s", flush=True)
    return row


def time_loop(name: str, fn: Callable[[], Any], n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        fn()
    us = (time.process_time() - started) * 1e6 / n
    print(f"  {name:32} {us:7.2f} us", flush=True)
    return us


def asgi_calls(app: ASGIApp, scopes: list[dict[str, Any]]) -> list[Call]:
    # A fresh scope per call: Starlette writes into it.
    return [functools.partial(app, dict(s), _receive, _send) for s in scopes]


def answer(visit: Any, scope: dict[str, Any]) -> Awaitable[Any]:
    """Visit's answer for an ASGI scope, its headers read as the endpoint reads them."""
    from edge.visit import asgi_request

    return visit.answer(scope["method"], asgi_request(scope), scope["path_params"]["code"])


def requests(codes: list[str], n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    scopes = []
    for _ in range(n):
        roll = rng.random()
        code = codes[rng.randrange(len(codes))]
        if roll < 0.90:
            scopes.append(scope_for(f"/{code}/gala2026", rng.choice(PHONE_USER_AGENTS)))
        elif roll < 0.98:
            scopes.append(scope_for(f"/{code}/gala2026", rng.choice(PREVIEW_USER_AGENTS)))
        else:
            scopes.append(scope_for(f"/{unknown_code(rng)}", rng.choice(PHONE_USER_AGENTS)))
    return scopes


async def run(url: str, n: int, concurrency: int, contacts: int) -> dict[str, Any]:
    from edge import destinations
    from edge.app import create_app
    from edge.classify import classify
    from edge.clicks import encode_event
    from edge.resolve import _SCRIPT, Resolution, Resolver
    from edge.visit import Visit, read_headers

    codes = seed_redis(url, contacts)
    scopes = requests(codes, n)
    # its own spool folder: a click spooled here must never be replayed into a real stream
    spool = tempfile.TemporaryDirectory(prefix="hotpath-spool-")  # removed when collected
    app = create_app(redis_url=url, spool_dir=Path(spool.name))
    results: dict[str, Any] = {}
    async with app.starlette.router.lifespan_context(app.starlette):
        ctx = app.state.edge
        visit = Visit(ctx)
        resolver: Resolver = ctx.resolver
        for call in asgi_calls(app, scopes[:2000]):  # warm the caches as a running worker has
            await call()
        results["app"] = await measure("app", asgi_calls(app, scopes), concurrency)
        results["router"] = await measure(
            "router", asgi_calls(app.starlette.router, scopes), concurrency
        )
        fast = hot_dispatch(app, visit, longest=199)
        results["hot-dispatch"] = await measure(
            "hot-dispatch", asgi_calls(fast, scopes), concurrency
        )
        results["endpoint"] = await measure("endpoint", asgi_calls(visit, scopes), concurrency)
        results["answer"] = await measure(
            "answer",
            [functools.partial(answer, visit, s) for s in scopes],
            concurrency,
        )
        event = encode_event(
            code=codes[0],
            host=HOST,
            kind=HUMAN,
            reason="",
            user_agent="x",
            ip="1.2.3.4",
            referer="",
        )[1]
        picks = [codes[i % len(codes)] for i in range(n)]
        results["resolve"] = await measure(
            "resolve",
            [functools.partial(resolver.resolve, HOST, c, event) for c in picks],
            concurrency,
        )
        # The same call through redis-py's asyncio client (hiredis parser when installed).
        import redis.asyncio as aioredis

        rp = aioredis.Redis.from_url(url)
        sha = await rp.script_load(_SCRIPT)
        results["redis-py"] = await measure(
            "redis-py",
            [
                functools.partial(rp.evalsha, sha, 3, *_argv(c, event))
                for c in picks
            ],
            concurrency,
        )
        await rp.aclose()

        # Our Python alone: the Redis reply replayed from memory.
        replies: dict[str, Any] = {}
        for c in codes[:200]:
            replies[c] = await resolver.wire.call_at(0, "EVALSHA", resolver.sha, 3, *_argv(c))
            replies[c][5] = 1  # as if recorded: a click the script did not record is spooled

        class Replay:
            sha = resolver.sha

            async def resolve(self, hostname: str, code: str, ev: bytes | None) -> Resolution:
                return resolver.decode(replies[code])

        ctx.resolver = Replay()
        replay = [
            scope_for(f"/{c}/gala2026", ua) for c in codes[:200] for ua in PHONE_USER_AGENTS[:3]
        ] * max(1, n // 600)
        results["no-redis"] = await measure(
            "no-redis",
            [functools.partial(answer, visit, s) for s in replay],
            concurrency,
        )
        results["no-redis-app"] = await measure(
            "no-redis-app", asgi_calls(app, replay), concurrency
        )
        ctx.resolver = resolver

        print("single functions (loop of 20,000):", flush=True)
        reply = replies[codes[0]]
        res = resolver.decode(reply)
        assert res.link is not None
        template = destinations.template_for(res.link.destination)
        assert template is not None
        ua = PHONE_USER_AGENTS[0]
        headers = scopes[0]["headers"]
        loops: dict[str, Callable[[], Any]] = {
            "read_headers": functools.partial(read_headers, headers),
            "classify (cached agent)": functools.partial(classify, "GET", ua),
            "encode_event": functools.partial(
                encode_event,
                code="abc1234",
                host=HOST,
                kind=HUMAN,
                reason="",
                user_agent=ua,
                ip="73.21.144.9",
                referer="",
            ),
            "client_ip (X-Forwarded-For)": functools.partial(
                ctx.proxies.client_ip, "127.0.0.1", "73.21.144.9"
            ),
            "decode (3 records, cached)": functools.partial(resolver.decode, reply),
            "build_location (merge+check)": functools.partial(
                destinations.build_location, template, res.contact
            ),
            "metrics.observe": functools.partial(ctx.metrics.local.observe, "redirect", 0.001),
            # what keeping the edge up through a Redis outage costs a healthy request
            "memory.remember": functools.partial(ctx.memory.remember, HOST, codes[0], res, 1.0),
            "time.monotonic": time.monotonic,
            "click deadline": functools.partial(_deadline, resolver),
        }
        results["functions_us"] = {k: time_loop(k, f, 20_000) for k, f in loops.items()}
        late = ctx.metrics.local.clicks_past_deadline
        print(f"clicks past the script's deadline (spooled): {late}", flush=True)
        results["clicks_past_deadline"] = late
    return results


def _argv(code: str, event: bytes | None = None) -> list[Any]:
    """The script's keys and arguments as edge/resolve.py sends them (one Redis, today's
    names); the click deadline 10 s ahead."""
    return [
        *(keys.domain(HOST), keys.code_bucket(code), keys.CLICK_STREAM, code),
        *(b"1" if event else b"0", event or b"", time.time_ns() // 1000 + 10_000_000),
        int(time.time() * 1000),
    ]


def _deadline(resolver: Any) -> int:
    """The expression edge/resolve.py computes for every counted request."""
    return time.time_ns() // 1000 + resolver.wire.clock_offset_us + 125_000


def main(argv: list[str] | None = None) -> int:
    p = script_parser("loadtest.hotpath", __doc__)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--contacts", type=int, default=5_000)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (if installed)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smartlinks-hotpath-") as tmp:
        rd = EmbeddedRedis(Path(tmp), free_port(), durable=False)
        proc = rd.launch()
        try:
            rd.wait_ready(proc)
            print(
                f"python {sys.version.split()[0]}, redis-py {redis.__version__}, pid {os.getpid()}"
            )
            if args.uvloop:
                import uvloop

                uvloop.run(run(rd.url, args.requests, args.concurrency, args.contacts))
            else:
                asyncio.run(run(rd.url, args.requests, args.concurrency, args.contacts))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
