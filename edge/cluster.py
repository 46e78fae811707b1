"""The edge's Redis Cluster client: edge/wire.py's pipelined connection, one per master, and
the slot map that says which master serves a slot.

- The map comes from ``CLUSTER SLOTS`` (asked of any node it knows, the URL's first), at the
  first call and again soon after anything suggests it changed: a ``MOVED`` redirect (a slot
  migrated: that slot is fixed at once, the rest by the refresh) or a failed connection to a
  node (a master died; its replica takes over within the cluster's node timeout). Refreshes
  run one at a time, at most every REFRESH_MIN_S, so a dead node cannot cause a storm of them.
- ``ASK`` (a slot being migrated, the key already moved) sends ``ASKING`` and the command back
  to back to the target, once, without changing the map.
- ``TRYAGAIN`` (the command's keys on both sides of a migrating slot) is asked again every
  TRYAGAIN_S for up to TRYAGAIN_BUDGET_S.
- A call follows at most MAX_REDIRECTS redirects, then fails like an unreachable Redis.

The hot path's cost over a single Redis is a list index (the slot's connection): the slot is
computed once per partition, not per request (edge/resolve.py), and redirects are handled only
when an error comes back (``follow``), so a normal call has no frame of its own here.
See docs/decisions/0011-cluster-layout.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable

from core import keys, logs
from edge.wire import ReplyError, Wire, WireError

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REFRESH_MIN_S = 0.25
# TRYAGAIN (a multi-key command while its slot migrates, its keys on both sides) lasts until the
# migrator has moved the rest of the slot's keys: valkey-cli moves 100 per MIGRATE, and a
# partition's slot holds hundreds, so that is tens of milliseconds, not one. Wait for it up to
# TRYAGAIN_BUDGET_S (within the script's recording deadline, edge/resolve.py), every TRYAGAIN_S.
TRYAGAIN_S = 0.01
TRYAGAIN_BUDGET_S = 0.1


class ClusterWire:
    """Same calls as Wire's ``call_at``, ``offset_at``, ``call_all`` and ``close``."""

    def __init__(self, url: str, timeout: float, connect_timeout: float) -> None:
        self.seed = Wire(url, timeout, connect_timeout)
        self.seed.on_failure = self.refresh_soon  # a master died? its replica takes over
        self.nodes: dict[tuple[str, int], Wire] = {(self.seed.host, self.seed.port): self.seed}
        self.slots: list[Wire | None] = [None] * keys.SLOTS
        self._refreshing: asyncio.Future[None] | None = None
        self._refreshed_at = -REFRESH_MIN_S
        self.refreshes = 0  # how many maps were loaded (tests, metrics)

    # -- calls --------------------------------------------------------------------------------

    def call_at(self, slot: int, *args: bytes | str | int) -> Awaitable[object]:
        """The command on the master of ``slot`` (its keys must all be in that slot). The
        caller hands a ReplyError to ``follow``: the hot path pays no frame of its own here."""
        wire = self.slots[slot]
        if wire is None:
            return self._unmapped(slot, args)
        return wire.call_at(slot, *args)

    async def _unmapped(self, slot: int, args: tuple[bytes | str | int, ...]) -> object:
        await self.refresh()
        wire = self.slots[slot]
        if wire is None:
            raise WireError(f"no master serves slot {slot}")
        return await wire.call(*args)

    async def follow(
        self, slot: int, error: ReplyError, args: tuple[bytes | str | int, ...]
    ) -> object:
        """After ``error`` from call_at: follow a MOVED or ASK redirect, or wait out a
        TRYAGAIN; re-raise any other error."""
        wire = self.slots[slot]
        asking = False
        redirects = 0
        waited_until = time.monotonic() + TRYAGAIN_BUDGET_S
        while redirects < MAX_REDIRECTS:
            message = str(error)
            if message.startswith("TRYAGAIN"):
                if time.monotonic() >= waited_until:
                    break
                await asyncio.sleep(TRYAGAIN_S)
            else:
                redirects += 1
                redirect = _redirect(message)
                if redirect is None:
                    raise error
                kind, address = redirect
                wire = self._node(*address)
                asking = kind == "ASK"
                if not asking:
                    self.slots[slot] = wire
                    self.refresh_soon()
            assert wire is not None
            try:
                if asking:
                    return await wire.call_asking(*args)
                return await wire.call(*args)
            except ReplyError as exc:
                error = exc
        raise WireError(f"slot {slot} still moving after {MAX_REDIRECTS} redirects or "
                        f"{TRYAGAIN_BUDGET_S * 1000:.0f} ms: {error}")  # fmt: skip

    def offset_at(self, slot: int) -> int:
        """Redis's clock minus ours (µs) on the master of ``slot``, as far as known."""
        wire = self.slots[slot]
        return wire.clock_offset_us if wire is not None else 0

    def server_of(self, slot: int) -> object:
        """The master of ``slot`` as far as known (edge/outage.py's key; None: unmapped)."""
        return self.slots[slot]

    async def recovered(self, server: object) -> bool:
        """Whether ``server`` no longer holds anything up: it answers again, or it serves no
        slot now (a replica took its slots over; the map is loaded again, at most every
        REFRESH_MIN_S, to find out)."""
        if time.monotonic() - self._refreshed_at >= REFRESH_MIN_S:
            with contextlib.suppress(WireError, ReplyError):
                await self.refresh()
        if server is None or all(w is not server for w in self.slots):
            return True
        assert isinstance(server, Wire)
        return await server.recovered(server)

    async def call_all(self, *args: bytes | str | int) -> list[object]:
        """The command on every master (PING, SCRIPT LOAD)."""
        if self.slots[0] is None:
            await self.refresh()
        masters = list({id(w): w for w in self.slots if w is not None}.values())
        if not masters:
            raise WireError("the cluster has no master")
        return list(await asyncio.gather(*(w.call(*args) for w in masters)))

    def close(self) -> None:
        for wire in self.nodes.values():
            wire.close()

    # -- the slot map -------------------------------------------------------------------------

    def _node(self, host: str, port: int) -> Wire:
        host = host or self.seed.host  # "" when the node does not know its own address
        wire = self.nodes.get((host, port))
        if wire is None:
            wire = self.nodes[(host, port)] = self.seed.sibling(host, port)
            wire.on_failure = self.refresh_soon
        return wire

    def refresh_soon(self) -> None:
        """A refresh in the background, unless one ran in the last REFRESH_MIN_S."""
        if self._refreshing is None and time.monotonic() - self._refreshed_at >= REFRESH_MIN_S:
            task = asyncio.ensure_future(self.refresh())
            task.add_done_callback(_ignore_failure)

    async def refresh(self) -> None:
        """Load the slot map again; the calls waiting meanwhile share one CLUSTER SLOTS."""
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._load())
        refreshing = self._refreshing
        try:
            await asyncio.shield(refreshing)
        finally:
            if refreshing.done() and self._refreshing is refreshing:
                self._refreshing = None

    async def _load(self) -> None:
        self._refreshed_at = time.monotonic()
        # Ask the nodes of the current map first, the URL's node last (it may be long gone).
        known = [w for w in self.nodes.values() if w is not self.seed] + [self.seed]
        error: Exception | None = None
        for wire in known:
            try:
                reply = await wire.call("CLUSTER", "SLOTS")
            except (WireError, ReplyError) as exc:
                error = exc
                continue
            self._apply(reply)
            return
        raise WireError(f"no cluster node answered CLUSTER SLOTS: {error}")

    def _apply(self, reply: object) -> None:
        slots: list[Wire | None] = [None] * keys.SLOTS
        for start, end, master, *_replicas in reply:  # type: ignore[attr-defined]
            wire = self._node(master[0].decode(), int(master[1]))
            slots[int(start) : int(end) + 1] = [wire] * (int(end) - int(start) + 1)
        serving = {id(w) for w in slots if w is not None}
        for address, wire in list(self.nodes.items()):
            if id(wire) not in serving and wire is not self.seed:
                wire.close()  # a former master (now a replica, or gone)
                del self.nodes[address]
        self.slots = slots
        self.refreshes += 1
        logs.event(log, "cluster slot map loaded", logging.DEBUG, masters=len(serving))


def _redirect(message: str) -> tuple[str, tuple[str, int]] | None:
    """("MOVED" or "ASK", (host, port)) of a redirect error, e.g. ``MOVED 3999 10.0.0.2:6381``."""
    kind, _, rest = message.partition(" ")
    if kind not in ("MOVED", "ASK"):
        return None
    host, _, port = rest.partition(" ")[2].rpartition(":")
    return kind, (host, int(port))


def _ignore_failure(task: asyncio.Future[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()  # a failed background refresh: the next error asks again
