"""``GET /tls/ask?domain=HOSTNAME``: may Caddy get a certificate for this hostname?

Caddy's on-demand TLS asks before it requests a certificate for a name it has not seen; the
answer is 200 only for a domain that serves (sync publishes verified domains only, see
docs/decisions/0007-domain-ownership.md), 404 for any other name, 400 for no name. Each edge
worker answers at most ``TLS_ASK_PER_SECOND`` asks a second (429 beyond): a flood of TLS
handshakes for random names must not become a flood of Redis reads. deploy/Caddyfile keeps
the public from reaching this path through Caddy.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from core.hostnames import normalize_host_header
from edge import pages
from edge.resolve import Resolver
from edge.wire import ReplyError, WireError

SERVED = b"a"  # keys.F_STATE of a live domain record


class RateLimit:
    """A token bucket: ``rate`` a second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self.tokens = self.burst
        self.at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def _text(status: int, body: bytes, *extra: pages.Header) -> Response:
    return pages.RawResponse(status, [pages.TEXT, pages.NO_STORE, *extra], body)


class TlsAsk:
    def __init__(self, resolver: Resolver, per_second: float) -> None:
        self.resolver = resolver
        self.limit = RateLimit(per_second)

    async def answer(self, request: Request) -> Response:
        host = normalize_host_header(request.query_params.get("domain", ""))
        if not host or "." not in host:
            return _text(400, b"domain: a hostname is required\n")
        if not self.limit.allow():
            return _text(429, b"too many asks\n", pages.RETRY_AFTER)
        try:
            state = await self.resolver.domain_state(host)
        except (WireError, ReplyError):
            return _text(503, b"redis unavailable\n", pages.RETRY_AFTER)
        if state == SERVED:
            return _text(200, b"ok\n")
        return _text(404, b"not a verified domain\n")
