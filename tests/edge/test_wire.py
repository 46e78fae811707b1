"""The edge's pipelined Redis connection, against the real Redis (and a silent server)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import redis

from edge.wire import ReplyError, Wire, WireError
from tests.conftest import Servers
from tests.edge.conftest import Edge, World
from tests.helpers.threads import run_coroutine


def _run(coro):  # type: ignore[no-untyped-def]
    return run_coroutine(coro)


def test_concurrent_calls_get_their_own_replies(servers: Servers):
    async def main() -> list[object]:
        wire = Wire(servers.redis_url, timeout=2, connect_timeout=1)
        try:
            return list(await asyncio.gather(*(wire.call("ECHO", f"n{i}") for i in range(500))))
        finally:
            wire.close()

    assert _run(main()) == [f"n{i}".encode() for i in range(500)]


def test_selects_the_database_of_the_url(servers: Servers):
    base = servers.redis_url.rsplit("/", 1)[0]

    async def main() -> None:
        wire = Wire(base + "/5", timeout=1, connect_timeout=1)
        try:
            assert await wire.call("SET", "wire:test", "in-db-5") == b"OK"
        finally:
            wire.close()

    _run(main())
    assert redis.Redis.from_url(base + "/5").get("wire:test") == b"in-db-5"
    assert redis.Redis.from_url(base + "/0").get("wire:test") is None
    redis.Redis.from_url(base + "/5").delete("wire:test")


def test_a_unix_socket_url_reaches_the_server_and_its_database(servers: Servers):
    """REDIS_URL may be unix:// (core/config.py allows it): the edge's wire speaks it too,
    with the password and the ?db= of redis-py's form."""
    url = servers.redis_socket_url
    assert url.startswith("unix://:") and url.endswith("?db=0")

    async def main() -> list[object]:
        wire = Wire(url.replace("?db=0", "?db=6"), timeout=1, connect_timeout=1)
        try:
            await wire.call("SET", "wire:unix", "in-db-6")
            return list(await asyncio.gather(*(wire.call("ECHO", f"u{i}") for i in range(50))))
        finally:
            wire.close()

    assert _run(main()) == [f"u{i}".encode() for i in range(50)]
    base = servers.redis_url.rsplit("/", 1)[0]
    assert redis.Redis.from_url(base + "/6").getdel("wire:unix") == b"in-db-6"

    async def missing() -> None:
        wire = Wire("unix:///nonexistent/valkey.sock", timeout=1, connect_timeout=1)
        try:
            await wire.call("PING")
        finally:
            wire.close()

    with pytest.raises(WireError, match="/nonexistent/valkey.sock"):
        _run(missing())


def test_error_reply_is_raised_and_connection_stays_usable(servers: Servers):
    async def main() -> None:
        wire = Wire(servers.redis_url, timeout=1, connect_timeout=1)
        try:
            with pytest.raises(ReplyError, match="NOSCRIPT"):
                await wire.call("EVALSHA", "0" * 40, 0)
            assert await wire.call("PING") == b"PONG"
        finally:
            wire.close()

    _run(main())


def test_silent_server_fails_every_pending_call_quickly():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]

    async def main() -> float:
        wire = Wire(f"redis://127.0.0.1:{port}/0", timeout=0.2, connect_timeout=0.2)
        started = time.monotonic()
        results = await asyncio.gather(
            *(wire.call("PING") for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, WireError) for r in results), results
        wire.close()
        return time.monotonic() - started

    try:
        assert _run(main()) < 1.0
    finally:
        sock.close()


def test_refused_connection_fails_at_once():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    async def main() -> None:
        wire = Wire(f"redis://127.0.0.1:{port}/0", timeout=1, connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(WireError):
            await wire.call("PING")
        assert time.monotonic() - started < 0.5

    _run(main())


def test_edge_reconnects_after_its_connection_is_killed(edge: Edge, world: World):
    assert edge.get(f"/{world.code}").status_code == 302
    world.rdb.client_kill_filter(_type="normal", skipme=True)
    assert edge.get(f"/{world.code}").status_code == 302
    assert len(world.clicks()) == 2
