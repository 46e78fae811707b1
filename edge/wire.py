"""A lean Redis connection for the edge's hot path: one pipelined connection per worker.

Every request queues its command and awaits its reply; the commands queued during one turn of
the event loop go out in ONE socket write (on a busy worker, the send syscall was most of the
cost), and replies come back in order (RESP guarantees it), so a FIFO of futures matches them. Parsing is hiredis's C reader, the
one redis-py uses. Measured against redis-py's asyncio client on the edge's EVALSHA (see
docs/decisions/0004-edge-hot-path.md): about a tenth of the CPU per call, because there is
no connection pool checkout, retry wrapper or per-command bookkeeping.

Failure handling is deliberately blunt, so that a request never hangs:
- connecting has its own timeout; a refused or timed-out connect fails the call at once;
- a watchdog fails EVERY pending call and drops the connection when the oldest pending reply
  is overdue at two checks in a row (replies are in order, so nothing behind it can arrive
  first): a call fails after 1.25-1.5 times the timeout;
- a lost connection fails every pending call; the next call connects again.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis


class WireError(Exception):
    """Redis could not be reached or did not answer in time."""


class WireLost(WireError):
    """The connection broke (e.g. Redis restarted) before the reply came: worth one retry."""


class ReplyError(Exception):
    """Redis answered with an error (e.g. NOSCRIPT); the connection is fine."""


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: Wire) -> None:
        self.owner = owner
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.outgoing: list[bytes] = []  # commands of this loop iteration, sent in one write
        # (reply future, time sent) of this connection, oldest first: a connection's replies
        # can only ever complete its own calls
        self.pending: collections.deque[tuple[asyncio.Future[object], float]] = collections.deque()

    def queue(self, command: bytes) -> None:
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(command)

    def flush(self) -> None:
        data, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data[0] if len(data) == 1 else b"".join(data))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not isinstance-checked: uvloop's and rloop's transports do not subclass asyncio's
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while (reply := self.reader.gets()) is not False:
            if not pending:
                break  # a reply nobody waits for (its call timed out): the connection is dropped
            future, _sent = pending.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail_all(WireLost(f"connection lost: {exc or 'closed by server'}"))
        self.owner._lost(self)

    def fail_all(self, exc: Exception) -> None:
        while self.pending:
            future, _sent = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)


class Wire:
    """A lazily connected, auto-reconnecting, pipelined Redis connection (one per event loop)."""

    def __init__(self, url: str, timeout: float, connect_timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r} for the edge")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        # unix:///run/valkey.sock?db=0 (redis-py's form): a server on this machine, reached
        # without TCP (docs/performance.md: a Unix socket, issue 16)
        self.socket_path = unquote(parts.path) if parts.scheme == "unix" else ""
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "rediss" else None
        )
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        if self.socket_path:
            self.db = int(parse_qs(parts.query).get("db", ["0"])[0])
        else:
            path = parts.path.lstrip("/")
            self.db = int(path) if path else 0
        self.url = url
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._suspect: asyncio.Future[object] | None = None  # overdue at the last check
        # Called when a connection fails or times out (edge/cluster.py: maybe a failover).
        self.on_failure: Callable[[], None] | None = None
        # Redis's clock minus ours, in µs, measured by a TIME at each connect (error at most
        # half a round trip): the resolve script's click deadline is given in Redis's clock.
        self.clock_offset_us = 0

    async def call_at(self, slot: int, *args: bytes | str | int) -> object:
        """Send one command, return its reply; raises WireError or ReplyError. ``slot`` is the
        slot of its keys, for edge/cluster.py's wire of the same calls; one server holds them
        all. (The hot path's call: no frame or argument copy more than it needs.)"""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connect()
        reply = await self._queue(protocol, args)  # the future itself: no coroutine between
        if isinstance(reply, hiredis.ReplyError):
            raise ReplyError(str(reply))
        return reply

    def call(self, *args: bytes | str | int) -> Awaitable[object]:
        """Send one command, return its reply; raises WireError or ReplyError."""
        return self.call_at(0, *args)

    async def follow(
        self, slot: int, error: ReplyError, args: tuple[bytes | str | int, ...]
    ) -> object:
        """A single server never redirects: the error stands."""
        raise error

    def offset_at(self, slot: int) -> int:
        """Redis's clock minus ours (µs), for the server of ``slot``: this one."""
        return self.clock_offset_us

    def server_of(self, slot: int) -> object:
        """The server of ``slot`` (edge/outage.py's key): this one."""
        return self

    async def recovered(self, server: object) -> bool:
        """Whether ``server`` (this one) answers again."""
        try:
            return await self.call("PING") == b"PONG"
        except (WireError, ReplyError):
            return False

    async def call_all(self, *args: bytes | str | int) -> list[object]:
        """The command on every server: this one."""
        return [await self.call(*args)]

    async def call_asking(self, *args: bytes | str | int) -> object:
        """ASKING and the command back to back on this connection: a slot being migrated to
        this node answers the command only right after ASKING (Redis Cluster's ASK)."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connect()
        replies = await asyncio.gather(
            self._send(protocol, ("ASKING",)), self._send(protocol, args), return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return replies[1]

    def _send(self, protocol: _Protocol, args: tuple[bytes | str | int, ...]) -> Awaitable[object]:
        return _unwrap(self._queue(protocol, args))

    def _queue(
        self, protocol: _Protocol, args: tuple[bytes | str | int, ...]
    ) -> asyncio.Future[object]:
        """Queue the command; its reply future (an error reply is its result, not raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        protocol.queue(hiredis.pack_command(args))  # type: ignore[arg-type]
        protocol.pending.append((future, time.monotonic()))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self.timeout / 4, self._watch)
        return future

    def _watch(self) -> None:
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.pending:
            return
        head = protocol.pending[0]
        if time.monotonic() - head[1] <= self.timeout:
            self._suspect = None
        elif self._suspect is not head[0]:
            # Overdue, but decide only at the next check: the event loop polls for I/O at least
            # once in between (uvloop runs due timers before the poll, so a reply that arrived
            # while the loop was busy may not have been read yet).
            self._suspect = head[0]
        else:
            self._suspect = None
            self._protocol = None
            protocol.fail_all(WireError(f"no reply from Redis within {self.timeout:.2f}s"))
            self._failed()
            if protocol.transport is not None:
                protocol.transport.abort()
            return
        self._watchdog = asyncio.get_running_loop().call_later(self.timeout / 4, self._watch)

    def _lost(self, protocol: _Protocol) -> None:
        if protocol is self._protocol:
            self._protocol = None
        self._failed()

    def _failed(self) -> None:
        if self.on_failure is not None:
            self.on_failure()

    def sibling(self, host: str, port: int) -> Wire:
        """A connection like this one (credentials, TLS, timeouts) to another server."""
        wire = Wire(self.url, self.timeout, self.connect_timeout)
        wire.host, wire.port = host, port
        return wire

    async def _connect(self) -> _Protocol:
        """Connect once for all the calls waiting at this moment."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self.socket_path:
            opening = loop.create_unix_connection(lambda: _Protocol(self), self.socket_path)
        else:
            opening = loop.create_connection(
                lambda: _Protocol(self), self.host, self.port, ssl=self.ssl
            )
        try:
            _transport, protocol = await asyncio.wait_for(opening, self.connect_timeout)
        except (TimeoutError, OSError) as exc:
            self._failed()
            where = self.socket_path or f"{self.host}:{self.port}"
            raise WireError(f"cannot connect to Redis at {where}: {exc!r}") from None
        self._protocol = protocol
        try:
            if self.password is not None:
                auth = (self.username, self.password) if self.username else (self.password,)
                await self._send(protocol, ("AUTH", *auth))
            if self.db:
                await self._send(protocol, ("SELECT", self.db))
            await self._measure_clock(protocol)
        except BaseException:
            if protocol.transport is not None:
                protocol.transport.abort()
            self._protocol = None
            raise
        return protocol

    async def _measure_clock(self, protocol: _Protocol) -> None:
        sent = time.time_ns()
        try:
            now = await self._send(protocol, ("TIME",))
        except ReplyError:
            return  # TIME refused (an ACL): keep the last offset; same host means 0
        if isinstance(now, list) and len(now) == 2:
            middle_us = (sent + time.time_ns()) // 2_000
            self.clock_offset_us = int(now[0]) * 1_000_000 + int(now[1]) - middle_us

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.fail_all(WireError("connection closed"))
            if protocol.transport is not None:
                protocol.transport.close()


async def _unwrap(future: asyncio.Future[object]) -> object:
    reply = await future
    if isinstance(reply, hiredis.ReplyError):
        raise ReplyError(str(reply))
    return reply
