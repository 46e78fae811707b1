"""Which Redis servers this worker cannot reach, and finding out when it can again.

A request whose Redis call fails (no answer within the wire's timeout, refused, an error
reply) starts an outage of the server it asked: one Redis, or on a cluster the master of the
request's slot. During an outage requests for that server's slots do not wait for it: each is
answered at once from the worker's memory (edge/memory.py) or with a 503, while every other
master of a cluster goes on answering its own slots as before. A probe (every PROBE_SECONDS)
looks for each server that is down; the outage of a server ends when it answers a PING, or on a
cluster as soon as it serves no slot any more (its replica took the slots over: the probe loads
the slot map again). From the next request on every answer for those slots comes from Redis
again (so an edit or archive made meanwhile takes effect at once), and once no server is down
the spool is replayed (edge/spool.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from core import logs
from edge.metrics import Metrics
from edge.resolve import RedisUnavailable, Resolver

log = logging.getLogger("edge.outage")

PROBE_SECONDS = 0.1  # between probes; a probe of a stalled Redis itself takes up to ~0.4 s


class Outage:
    def __init__(
        self, resolver: Resolver, metrics: Metrics, on_recovery: Callable[[], None]
    ) -> None:
        self.resolver = resolver
        self.metrics = metrics
        self.on_recovery = on_recovery
        # the servers found down (the wire's server_of: a Wire, or None for a cluster slot no
        # known master serves) -> since when (monotonic)
        self.servers: dict[object, float] = {}
        self._probe: asyncio.Task[None] | None = None
        # and the resolver's second trip (an older code's contact, on another master) asks
        # here too, rather than wait out the timeout of a master already found down
        resolver.unavailable = self.blocks_slot

    @property
    def down(self) -> bool:
        """Some server is down (the spool's replay and amendments wait for all of them)."""
        return bool(self.servers)

    def blocks(self, code: str) -> bool:
        """Requests for ``code`` skip Redis: the server of its partition is down."""
        return bool(self.servers) and self.blocks_slot(self.resolver.partition(code).slot)

    def blocks_slot(self, slot: int) -> bool:
        """The server of ``slot`` is down."""
        return bool(self.servers) and self.resolver.wire.server_of(slot) in self.servers

    def begin(self, error: RedisUnavailable, code: str) -> None:
        """A Redis call for ``code`` failed: answer the slots of the server that failed
        (``error.slot``'s, else the code's partition's) without it until a probe finds it."""
        slot = error.slot if error.slot is not None else self.resolver.partition(code).slot
        server = self.resolver.wire.server_of(slot)
        if server in self.servers:
            return
        self.servers[server] = time.monotonic()
        self.metrics.outages += 1
        logs.event(
            log,
            "redis outage: answering from memory",
            logging.WARNING,
            error=str(error),
            slot=slot,
            servers_down=len(self.servers),
        )
        if self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(self._wait_for_redis())

    async def _wait_for_redis(self) -> None:
        wire = self.resolver.wire
        while self.servers:
            await asyncio.sleep(PROBE_SECONDS)
            for server, since in list(self.servers.items()):
                try:
                    back = await wire.recovered(server)
                except Exception as exc:  # the probe must outlive anything, or it never ends
                    logs.event(log, "redis probe failed", logging.ERROR, error=repr(exc))
                    back = False
                if back:
                    del self.servers[server]
                    seconds = round(time.monotonic() - since, 3)
                    logs.event(log, "redis back", seconds=seconds, servers_down=len(self.servers))
        self._probe = None
        self.on_recovery()

    async def stop(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
