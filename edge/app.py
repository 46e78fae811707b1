"""The edge's Starlette app. granian calls ``create_app()`` once in each worker process
(``edge.app:create_app`` with factory=True, see smartlinks/serve.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import perf_counter

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core import config, logs
from edge import pages
from edge.clicks import TrustedProxies
from edge.metrics import SharedMetrics
from edge.resolve import Resolver, connect
from edge.visit import EdgeContext, Visit

log = logging.getLogger("edge")

MAX_REQUEST_TARGET = 2048  # bytes of path + query; longer answers 414
SNAPSHOT_SECONDS = 1.0


class RequestTargetLimit:
    """414 for a request target over MAX_REQUEST_TARGET bytes, before any routing."""

    def __init__(self, app: ASGIApp, metrics: SharedMetrics, limit: int = MAX_REQUEST_TARGET):
        self.app = app
        self.metrics = metrics
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope["path"].encode("utf-8")
            query = scope.get("query_string") or b""
            if len(path) + (len(query) + 1 if query else 0) > self.limit:
                started = perf_counter()
                response = pages.too_long()
                self.metrics.local.observe("uri_too_long", perf_counter() - started)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(redis_url: str | None = None, trusted_proxies: str | None = None) -> Starlette:
    settings = config.load()
    logs.setup("edge", settings.log_level)
    url = redis_url or settings.redis_url or "redis://127.0.0.1:6379/0"
    ctx = EdgeContext(
        resolver=Resolver(connect(url)),
        proxies=TrustedProxies(
            trusted_proxies if trusted_proxies is not None else settings.trusted_proxies
        ),
        metrics=SharedMetrics(),
        short_url_scheme=settings.short_url_scheme,
        public_admin_url=settings.public_admin_url,
    )

    async def healthz(request: Request) -> Response:
        if await ctx.resolver.ping():
            return pages.RawResponse(200, [pages.TEXT, pages.NO_STORE], b"ok\n")
        return pages.RawResponse(
            503, [pages.TEXT, pages.NO_STORE, pages.RETRY_AFTER], b"redis unavailable\n"
        )

    async def metrics(request: Request) -> Response:
        return pages.RawResponse(
            200,
            [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"), pages.NO_STORE],
            ctx.metrics.render(),
        )

    async def not_found(request: Request) -> Response:
        return pages.not_found(request.method == "HEAD")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.resolver.load()
        ctx.metrics.prune_stale()
        task = asyncio.create_task(_write_snapshots(ctx.metrics))
        logs.event(log, "edge worker ready", redis=url.rpartition("@")[2])
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            ctx.metrics.write_snapshot()
            ctx.resolver.close()

    visit = Visit(ctx)
    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/{code}", visit, methods=["GET", "HEAD"]),
        Route("/{code}/{extension:path}", visit, methods=["GET", "HEAD"]),
        Route("/{path:path}", not_found, methods=["GET", "HEAD"]),
    ]
    middleware = [Middleware(RequestTargetLimit, metrics=ctx.metrics)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.router.redirect_slashes = False
    app.state.edge = ctx
    return app


async def _write_snapshots(metrics: SharedMetrics) -> None:
    while True:
        await asyncio.sleep(SNAPSHOT_SECONDS)
        metrics.write_snapshot()
