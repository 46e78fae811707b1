"""The spool's files (real files, replayed into the real Valkey)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from core import keys
from edge.metrics import Metrics
from edge.resolve import Resolver, connect
from edge.spool import READ_BYTES, SUFFIX, Spool, decode_entries, encode_entry
from tests.edge.conftest import World
from tests.helpers.threads import run_coroutine


def test_entries_round_trip_and_a_torn_tail_ends_the_file():
    entries = [{"e": b"event-%d" % i, "r": b"10:%d:1" % i} for i in range(3)]
    data = b"".join(encode_entry(e) for e in entries)
    assert decode_entries(data) == entries
    assert decode_entries(data[:-1]) == entries[:2]  # the last record torn by a crash
    corrupt = bytearray(data)
    corrupt[len(data) - 2] ^= 0xFF
    assert decode_entries(bytes(corrupt)) == entries[:2]
    assert decode_entries(b"") == []


def _url(world: World) -> str:
    """The test Valkey's URL, with its password (the embedded server has one)."""
    kw = world.rdb.connection_pool.connection_kwargs
    auth = f":{quote(kw['password'], safe='')}@" if kw.get("password") else ""
    return f"redis://{auth}{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def _event(world: World, n: int) -> dict[str, bytes]:
    from edge.clicks import encode_event

    _cid, event = encode_event(
        code=world.code,
        host=world.domain.hostname,
        kind="human",
        reason="",
        user_agent="ua",
        ip="192.0.2.1",
        referer=f"https://ref.example.test/{n}",
    )
    return {"e": event, "r": f"{world.link.id}:{world.contact.id}:{world.domain.id}".encode()}


def test_spool_of_a_gone_worker_is_taken_over_and_replayed_once(world: World, tmp_path: Path):
    """Worker A spools and dies (its file descriptors, and so its flock, are gone); worker B
    finds the file, replays it into the stream and removes it; A's live file is never taken."""
    folder = tmp_path / "spool"

    async def scenario() -> None:
        resolver = Resolver(connect(_url(world)))
        up = [False]
        a = Spool(folder, Metrics(), resolver.append, can_replay=lambda: up[0])
        b = Spool(folder, Metrics(), resolver.append, can_replay=lambda: True)
        for n in range(5):
            a.add(_event(world, n))
        await a.flush()
        assert a.metrics.clicks_spooled == 5
        [path] = folder.glob(f"*{SUFFIX}")
        await b.replay()
        assert b.metrics.clicks_replayed == 0 and path.exists()  # A holds it
        assert world.clicks() == []
        a.close()  # A is gone
        b._scanned_at = -1e9
        await b.replay()
        assert b.metrics.clicks_replayed == 5
        assert not path.exists()
        resolver.close()

    run_coroutine(scenario())
    referers = sorted(event.referer for event, _ref in world.clicks())
    assert referers == [f"https://ref.example.test/{n}" for n in range(5)]


def test_replay_refused_by_redis_is_kept_and_resumed(world: World, tmp_path: Path):
    """Redis refuses the XADDs (the stream key is not a stream): nothing is lost, the file
    stays, and the next replay sends everything once."""
    world.rdb.set(keys.CLICK_STREAM, "not a stream")

    async def scenario() -> None:
        resolver = Resolver(connect(_url(world)))
        spool = Spool(tmp_path / "spool", Metrics(), resolver.append, can_replay=lambda: True)
        for n in range(4):
            spool.add(_event(world, n))
        await spool.flush()
        await spool.replay()
        assert spool.metrics.clicks_replayed == 0
        assert len(list((tmp_path / "spool").glob(f"*{SUFFIX}"))) == 1
        world.rdb.delete(keys.CLICK_STREAM)
        await spool.replay()
        assert spool.metrics.clicks_replayed == 4
        assert list((tmp_path / "spool").glob(f"*{SUFFIX}")) == []
        resolver.close()

    run_coroutine(scenario())
    assert len(world.clicks()) == 4


def test_a_spool_larger_than_one_read_is_replayed_whole(world: World, tmp_path: Path):
    """Replay reads a file READ_BYTES at a time: 6,000 clicks (~1.6 MB) all arrive, once."""

    async def scenario() -> int:
        resolver = Resolver(connect(_url(world)))
        spool = Spool(tmp_path / "spool", Metrics(), resolver.append, can_replay=lambda: True)
        for n in range(6000):
            spool.add(_event(world, n))
        await spool.flush()
        [path] = (tmp_path / "spool").glob(f"*{SUFFIX}")
        size = path.stat().st_size
        await spool.replay()
        assert spool.metrics.clicks_replayed == 6000
        resolver.close()
        return size

    assert run_coroutine(scenario()) > READ_BYTES
    referers = {event.referer for event, _ref in world.clicks()}
    assert len(world.clicks()) == len(referers) == 6000


def test_unwritable_spool_counts_unrecorded(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")

    async def scenario() -> Metrics:
        async def never(fields):  # not called: nothing is written
            raise AssertionError

        spool = Spool(blocker / "spool", Metrics(), never, can_replay=lambda: False)
        spool.add({"e": b"x", "r": b"1::1"})
        spool.add({"a": b"amendment"})
        await spool.flush()
        return spool.metrics

    metrics = run_coroutine(scenario())
    assert (metrics.clicks_unrecorded, metrics.clicks_spooled) == (1, 0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_counts_unrecorded(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)

    async def scenario() -> Metrics:
        async def never(fields):
            raise AssertionError

        spool = Spool(folder, Metrics(), never, can_replay=lambda: False)
        spool.add({"e": b"x", "r": b"1::1"})
        await spool.flush()
        return spool.metrics

    try:
        assert run_coroutine(scenario()).clicks_unrecorded == 1
    finally:
        folder.chmod(0o755)
