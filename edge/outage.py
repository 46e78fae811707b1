"""Whether this worker can reach Redis, and finding out when it can again.

A request whose Redis call fails (no answer within the wire's timeout, refused, an error
reply) starts an outage. During an outage requests do not wait for Redis: each is answered at
once from the worker's memory (edge/memory.py) or with a 503, and a probe (PING, every
PROBE_SECONDS) looks for Redis; the first PONG ends the outage, and from the next request on
every answer comes from Redis again (so an edit or archive made meanwhile takes effect at once)
and the spool is replayed (edge/spool.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from core import logs
from edge.metrics import Metrics
from edge.resolve import Resolver

log = logging.getLogger("edge.outage")

PROBE_SECONDS = 0.1  # between probes; a probe of a stalled Redis itself takes up to ~0.4 s


class Outage:
    def __init__(
        self, resolver: Resolver, metrics: Metrics, on_recovery: Callable[[], None]
    ) -> None:
        self.resolver = resolver
        self.metrics = metrics
        self.on_recovery = on_recovery
        self.down = False
        self._since = 0.0
        self._probe: asyncio.Task[None] | None = None

    def begin(self, error: Exception) -> None:
        """A Redis call failed: answer without Redis until a probe finds it again."""
        if self.down:
            return
        self.down = True
        self._since = time.monotonic()
        self.metrics.outages += 1
        logs.event(log, "redis outage: answering from memory", logging.WARNING, error=str(error))
        self._probe = asyncio.get_running_loop().create_task(self._wait_for_redis())

    async def _wait_for_redis(self) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                if await self.resolver.ping():
                    break
            except Exception as exc:  # the probe must outlive anything: else the outage never ends
                logs.event(log, "redis probe failed", logging.ERROR, error=repr(exc))
        self.down = False
        self._probe = None
        logs.event(
            log, "redis back", seconds=round(time.monotonic() - self._since, 3)
        )
        self.on_recovery()

    async def stop(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
