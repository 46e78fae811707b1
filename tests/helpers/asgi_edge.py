"""The edge's app (edge.app.create_app) served in this process, on an event loop of its own
thread, for tests that need to reach inside it (its resolver, its wire) while it serves real
requests against a real Redis: the same app granian serves, without the HTTP server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx

from edge.app import EdgeApp, create_app
from edge.resolve import Resolver

T = TypeVar("T")


class AsgiEdge:
    def __init__(self, redis_url: str, spool_dir: Path, **options: Any) -> None:
        self.app: EdgeApp = create_app(redis_url=redis_url, spool_dir=spool_dir, **options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = AsyncExitStack()
        self.client: httpx.AsyncClient | None = None

    @property
    def resolver(self) -> Resolver:
        return self.app.state.edge.resolver  # type: ignore[no-any-return]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> AsgiEdge:
        self.thread.start()

        async def start() -> httpx.AsyncClient:
            starlette = self.app.starlette
            await self.stack.enter_async_context(starlette.router.lifespan_context(starlette))
            transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
            return await self.stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://edge.test")
            )

        self.client = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def get(self, path: str, host: str, ua: str, **headers: str) -> httpx.Response:
        assert self.client is not None
        client = self.client
        return self.run(client.get(path, headers={"Host": host, "User-Agent": ua, **headers}))
