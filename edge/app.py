"""The edge's app. granian calls ``create_app()`` once in each worker process
(``edge.app:create_app`` with factory=True and its RSGI interface, see smartlinks/serve.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from time import perf_counter

from granian.rsgi import HTTPProtocol
from granian.rsgi import Scope as RSGIScope
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from core import config, logs
from edge import gc as edge_gc
from edge import pages
from edge.clicks import TrustedProxies
from edge.memory import Memory
from edge.metrics import SharedMetrics
from edge.outage import Outage
from edge.resolve import Resolver, connect
from edge.rsgi import bridge
from edge.spool import Spool
from edge.tls import TlsAsk
from edge.visit import EdgeContext, Visit

log = logging.getLogger("edge")

MAX_REQUEST_TARGET = 2048  # bytes of path + query; longer answers 414
SNAPSHOT_SECONDS = 1.0


class EdgeApp:
    """The app granian serves: a tiny dispatcher in front of the Starlette app, for either of
    granian's interfaces: RSGI (``__rsgi__``, what ``smartlinks edge`` runs) and ASGI
    (``__call__``: the in-process tests and tools).

    A GET or HEAD of a path shaped like a short link (``/{code}`` or ``/{code}/...``, other than
    /healthz, /metrics and /tls/ask) goes straight to the Visit endpoint; everything else
    (lifespan, those three, other methods, ``/``) goes to Starlette, which stays the app's
    framework (through edge/rsgi.py's bridge under RSGI). Starlette's middleware stack and
    router cost ~22 µs of a ~90 µs request on the one route that matters, and ASGI's messages a
    few more (docs/decisions/0004-edge-hot-path.md); the answers are the same either way: the
    paths sent here are exactly those Starlette would route to Visit.

    A request target over MAX_REQUEST_TARGET bytes answers 414 here, before any routing.
    """

    def __init__(
        self, starlette: Starlette, visit: Visit, metrics: SharedMetrics, limit: int
    ) -> None:
        self.starlette = starlette
        self.state = starlette.state
        self.visit = visit
        self.metrics = metrics
        self.limit = limit
        self._lifespan = AsyncExitStack()

    def too_long(self, target_length: int) -> pages.RawResponse | None:
        """The 414 for a request target of ``target_length`` bytes over the limit, counted."""
        if target_length <= self.limit:
            return None
        started = perf_counter()
        response = pages.too_long()
        self.metrics.local.observe("uri_too_long", perf_counter() - started)
        return response

    @staticmethod
    def visit_code(method: str, path: str) -> str:
        """The code when Visit answers this request; "" when Starlette does ("/" and "//..."
        are Starlette's 404s, as before)."""
        if method in _VISIT_METHODS and path not in _STARLETTE_PATHS:
            return path[1:].partition("/")[0]
        return ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        path: str = scope["path"]
        raw = scope.get("raw_path") or path.encode("utf-8")
        query = scope.get("query_string") or b""
        response = self.too_long(len(raw) + (len(query) + 1 if query else 0))
        if response is not None:
            await response(scope, receive, send)
            return
        code = "" if scope.get("root_path") else self.visit_code(scope["method"], path)
        if code:
            await self.visit.serve(scope, code, send)
            return
        await self.starlette(scope, receive, send)

    async def __rsgi__(self, scope: RSGIScope, protocol: HTTPProtocol) -> None:
        # Websockets are off (smartlinks/serve.py). RSGI gives the path percent-decoded only:
        # the limit counts its UTF-8 bytes, which the raw target has at least.
        path = scope.path
        query = scope.query_string
        response = self.too_long(len(path.encode("utf-8")) + (len(query) + 1 if query else 0))
        if response is not None:
            response.write_rsgi(protocol)
            return
        method = scope.method
        code = self.visit_code(method, path)
        if code:
            await self.visit.serve_rsgi(scope, method, code, protocol)
            return
        await bridge(self.starlette, scope, protocol)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Under RSGI, the start-up ASGI's lifespan runs (granian calls this before serving,
        its loop not yet running; the tasks the lifespan starts run once it serves)."""
        starlette = self.starlette
        lifespan = starlette.router.lifespan_context(starlette)
        loop.run_until_complete(self._lifespan.enter_async_context(lifespan))

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Under RSGI, the lifespan's shutdown, once granian has stopped serving."""
        loop.run_until_complete(self._lifespan.aclose())


_VISIT_METHODS = frozenset(("GET", "HEAD"))
_STARLETTE_PATHS = frozenset(("/healthz", "/metrics", "/tls/ask"))


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def create_app(
    redis_url: str | None = None,
    trusted_proxies: str | None = None,
    settings: config.Settings | None = None,
    spool_dir: Path | None = None,
    cluster: bool | None = None,
    partitions: int | None = None,
) -> EdgeApp:
    """The edge app; ``settings`` defaults to ``config.load()`` (granian calls this with no
    arguments in each worker). ``redis_url``, ``trusted_proxies`` and ``spool_dir`` override
    the settings', and so do ``cluster`` and ``partitions`` (REDIS_CLUSTER, REDIS_PARTITIONS)."""
    settings = settings or config.load()
    logs.setup("edge", settings.log_level)
    url = redis_url or config.redis_url(settings) or DEFAULT_REDIS_URL
    # REDIS_CLUSTER and REDIS_PARTITIONS (docs/decisions/0011-cluster-layout.md), or those of
    # the running `smartlinks up` (its runtime file): every process must agree on them.
    if cluster is None:
        cluster = config.redis_cluster(settings)
    if partitions is None:
        partitions = config.redis_partitions(settings)
    resolver = Resolver(connect(url, cluster), partitions)
    shared = SharedMetrics()
    spool = Spool(
        spool_dir or config.spool_dir(settings),
        shared.local,
        resolver.append,
        can_replay=lambda: not outage.down,
    )
    outage = Outage(resolver, shared.local, on_recovery=spool.replay_soon)
    ctx = EdgeContext(
        resolver=resolver,
        proxies=TrustedProxies(
            trusted_proxies if trusted_proxies is not None else settings.trusted_proxies
        ),
        metrics=shared,
        short_url_scheme=settings.short_url_scheme,
        public_admin_url=settings.admin.public_url,
        memory=Memory(
            settings.edge.memory_entries, settings.edge.memory_max_age_seconds, resolver.decode
        ),
        outage=outage,
        spool=spool,
    )

    async def healthz(request: Request) -> Response:
        if await ctx.resolver.ping():
            return pages.RawResponse(200, [pages.TEXT, pages.NO_STORE], b"ok\n")
        return pages.RawResponse(
            503, [pages.TEXT, pages.NO_STORE, pages.RETRY_AFTER], b"redis unavailable\n"
        )

    scrapers = TrustedProxies(settings.edge.metrics_allow)

    async def metrics(request: Request) -> Response:
        # Only for the operator's scrapers, asking directly: a request a proxy forwarded
        # (from the internet, through the local TLS proxy) is someone else's.
        peer = request.client.host if request.client else ""
        proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
        if proxied or not scrapers.trusts(peer):
            return pages.RawResponse(403, [pages.TEXT, pages.NO_STORE], b"forbidden\n")
        ctx.measure_memory()
        return pages.RawResponse(
            200,
            [("content-type", "text/plain; version=0.0.4; charset=utf-8"), pages.NO_STORE],
            ctx.metrics.render(),
        )

    async def not_found(request: Request) -> Response:
        return pages.not_found(request.method == "HEAD")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.resolver.load()
        ctx.metrics.prune_stale()
        edge_gc.settle()  # the collector's pauses make the p99: edge/gc.py
        task = asyncio.create_task(_write_snapshots(ctx))
        spooler = asyncio.create_task(ctx.spool.run())
        ctx.spool.replay_soon()  # spools left by workers that are gone
        # The loop granian chose (loop=auto: uvloop when installed), so that a deployment
        # can see it runs on uvloop, worth ~25% of the CPU per request.
        loop = type(asyncio.get_running_loop())
        logs.event(
            log,
            "edge worker ready",
            redis=url.rpartition("@")[2],
            loop=f"{loop.__module__}.{loop.__qualname__}",
        )
        try:
            yield
        finally:
            await ctx.outage.stop()
            for t in (task, spooler):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            ctx.spool.close()
            ctx.metrics.write_snapshot()
            ctx.memory.close()
            ctx.resolver.close()

    visit = Visit(ctx)
    tls_ask = TlsAsk(ctx.resolver, settings.edge.tls_ask_per_second)
    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/tls/ask", tls_ask.answer, methods=["GET"]),
        Route("/{code}", visit, methods=["GET", "HEAD"]),
        Route("/{code}/{extension:path}", visit, methods=["GET", "HEAD"]),
        Route("/{path:path}", not_found, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.redirect_slashes = False
    app.state.edge = ctx
    return EdgeApp(app, visit, ctx.metrics, MAX_REQUEST_TARGET)


async def _write_snapshots(ctx: EdgeContext) -> None:
    while True:
        await asyncio.sleep(SNAPSHOT_SECONDS)
        ctx.measure_memory()  # and learns the memory's generation (edge/memory.py)
        await asyncio.to_thread(ctx.metrics.write_snapshot)  # its rename: ms (performance.md)
