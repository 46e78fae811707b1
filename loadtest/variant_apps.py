"""Apps for `python -m loadtest.variants`: the edge as it is, the edge with one change applied
from outside (nothing in edge/ is modified), and constant-302 floors of granian and Starlette.

Experiments to decide the hot path with measurements, not production code.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

LOCATION = b"https://example.org/rsvp?first=Ann&src=sms"
_HEADERS = [(b"location", LOCATION), (b"cache-control", b"private, no-store")]
_START = {
    "type": "http.response.start",
    "status": 302,
    "headers": [*_HEADERS, (b"content-length", b"0")],
}
_BODY = {"type": "http.response.body", "body": b""}


def edge() -> ASGIApp:
    from edge.app import create_app

    return create_app()


def hot_dispatch(app: ASGIApp, visit: ASGIApp, longest: int = 1024) -> ASGIApp:
    """A raw ASGI callable in front of the Starlette app: paths shaped like a short link
    (/{code} and /{code}/{extension}, ``longest`` characters at most) go straight to the Visit
    endpoint; /healthz, /metrics and anything else (404s) to Starlette."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) <= longest and path not in ("/healthz", "/metrics"):
                code, _, extension = path[1:].partition("/")
                if code:
                    scope["path_params"] = {"code": code, "extension": extension}
                    await visit(scope, receive, send)
                    return
        await app(scope, receive, send)

    return dispatch


def edge_hot_dispatch() -> ASGIApp:
    from edge.app import create_app
    from edge.visit import Visit

    app = create_app()
    fast = hot_dispatch(app, Visit(app.state.edge))

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # Starlette runs the lifespan (Redis script load)
            await app(scope, receive, send)
        else:
            await fast(scope, receive, send)

    return outer


def _fast_client_ip(self: Any, peer: str, forwarded_for: str) -> str:
    """TrustedProxies.client_ip with the C parser (socket.inet_pton) for the common case."""
    if not forwarded_for or not self.networks or not self.trusts(peer):
        return peer
    client = peer
    for raw in reversed(forwarded_for.split(",")):
        candidate = raw.strip()
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in candidate else socket.AF_INET, candidate)
        except OSError:
            break
        if ":" in candidate:
            candidate = str(ipaddress.ip_address(candidate))  # IPv6: normalised form
        client = candidate
        if not self.trusts(candidate):
            break
    return client


def _patch_client_ip() -> None:
    from edge.clicks import TrustedProxies

    TrustedProxies.client_ip = _fast_client_ip  # type: ignore[method-assign]


def edge_fast_ip() -> ASGIApp:
    _patch_client_ip()
    return edge()


def edge_fast_ip_hot_dispatch() -> ASGIApp:
    _patch_client_ip()
    return edge_hot_dispatch()


async def constant_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The floor of granian's ASGI interface: a 302 and nothing else."""
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)


class _ConstantEndpoint:
    """An ASGI endpoint (an instance, so that Starlette does not wrap it as a Request handler,
    as the edge's Visit is not)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(_START)
        await send(_BODY)


_constant_endpoint = _ConstantEndpoint()


def constant_starlette() -> ASGIApp:
    """The floor of Starlette on granian: the edge's routes, constant answers."""
    return Starlette(
        routes=[
            Route("/healthz", _constant_endpoint),
            Route("/metrics", _constant_endpoint),
            Route("/{code}", _constant_endpoint),
            Route("/{code}/{extension:path}", _constant_endpoint),
        ]
    )


async def constant_rsgi(scope: Any, protocol: Any) -> None:
    """The floor of granian itself (its RSGI interface): a 302 and nothing else."""
    protocol.response_empty(
        302, [("location", LOCATION.decode()), ("cache-control", "private, no-store")]
    )


def _collector(settle: Any) -> ASGIApp:
    from edge import gc as edge_gc

    edge_gc.settle = settle  # what the app's start-up calls instead of edge/gc.py's
    return edge()


def edge_gc_default() -> ASGIApp:
    """The edge with CPython's collector as it is: no freeze, thresholds 700/10/10."""
    return _collector(lambda: None)


def edge_freeze_only() -> ASGIApp:
    """The edge as before edge/gc.py: gc.freeze() after start-up, thresholds as they are."""
    import gc

    return _collector(gc.freeze)


def edge_snapshot_on_loop() -> ASGIApp:
    """The edge as before the metrics snapshot moved to a thread: written on the event loop."""
    import asyncio

    import edge.app as edge_app

    async def on_loop(ctx: Any) -> None:
        while True:
            await asyncio.sleep(edge_app.SNAPSHOT_SECONDS)
            ctx.metrics.local.memory_entries = len(ctx.memory)
            ctx.metrics.write_snapshot()

    edge_app._write_snapshots = on_loop  # type: ignore[assignment]
    return edge()
