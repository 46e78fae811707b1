"""The rq-style loop: warm stop on the first signal, cold stop on the second, burst mode,
heartbeats, periodic tasks and retries after a transient failure."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import redis

from core import keys
from sync import liveness
from sync.worker import Worker


def test_burst_runs_until_a_step_finds_nothing(rdb: redis.Redis) -> None:
    results = iter([3, 2, 0, 5])
    at_start: list[int] = []
    w = Worker("test", rdb)
    w.every("startup", 3600, lambda: at_start.append(1), at_start=True)
    seen_beat: list[bool] = []

    def step() -> int:
        seen_beat.append(bool(rdb.exists(w.heartbeat_key)))
        return next(results)

    assert w.run(step, lambda t: None, burst=True) == 0
    assert w.processed == 5
    assert at_start == [1]
    # The first beat comes before the first step: nothing is read before the key says whose
    # (sync/liveness.py), and the key names where the worker runs.
    assert seen_beat == [True, True, True]
    assert not rdb.exists(w.heartbeat_key)  # removed on the way out
    assert w.heartbeat_key == keys.worker("test", w.worker_id)


def test_first_signal_is_a_warm_stop(rdb: redis.Redis) -> None:
    calls: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    w = Worker("test", rdb)

    def step() -> int:
        calls.append("step")
        os.kill(os.getpid(), signal.SIGTERM)
        calls.append("step finished")  # the step is not interrupted
        return 1

    assert w.run(step, lambda t: None) == 0
    assert calls == ["step", "step finished"]
    assert signal.getsignal(signal.SIGTERM) == before


def test_second_signal_is_a_cold_stop(rdb: redis.Redis) -> None:
    before = signal.getsignal(signal.SIGINT)
    w = Worker("test", rdb)
    finished: list[bool] = []

    def step() -> int:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        finished.append(True)
        return 1

    with pytest.raises(SystemExit):
        w.run(step, lambda t: None)
    assert finished == []
    assert signal.getsignal(signal.SIGINT) == before


def test_a_transient_failure_is_retried(rdb: redis.Redis) -> None:
    reconnects: list[str] = []
    w = Worker("test", rdb, on_transient=lambda exc: reconnects.append(type(exc).__name__))
    outcomes: list[object] = [redis.ConnectionError("down"), 4, 0]

    def step() -> int:
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return int(out)  # type: ignore[call-overload]

    assert w.run(step, lambda t: w.request_stop()) == 0
    assert reconnects == ["ConnectionError"]
    assert w.processed == 4


def test_a_transient_failure_while_waiting_is_retried(rdb: redis.Redis) -> None:
    reconnects: list[str] = []
    w = Worker("test", rdb, on_transient=lambda exc: reconnects.append("again"))
    waits: list[float] = []

    def wait(timeout: float) -> None:
        waits.append(timeout)
        if len(waits) == 1:
            raise redis.ConnectionError("the listener's connection broke")
        w.request_stop()

    assert w.run(lambda: 0, wait) == 0
    assert waits == [0.5, 0.5]
    assert reconnects == ["again"]


def test_the_heartbeat_stays_fresh_during_a_long_step(rdb: redis.Redis) -> None:
    w = Worker("test", rdb, heartbeat_seconds=0.4)
    beats: list[float] = []

    def step() -> int:
        # A step longer than the key's TTL (1 s): the heartbeat thread keeps the key.
        for _ in range(6):
            time.sleep(0.3)
            raw = rdb.get(w.heartbeat_key)
            assert raw is not None
            beats.append(json.loads(raw)["beat_at"])
        w.request_stop()
        return 1

    w.run(step, lambda t: None)
    assert len(set(beats)) >= 3  # beaten again and again while the step ran
    info = json.loads(raw) if (raw := rdb.get(w.heartbeat_key)) else None
    assert info is None  # removed on the way out
    assert liveness.identity()["boot"]  # where it runs is known on this machine


def test_one_notion_of_transient_sees_inside_wrappers() -> None:
    import psycopg
    from sqlalchemy import exc as sa

    from sync.worker import is_transient

    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    assert is_transient(redis.TimeoutError("Timeout reading from socket"))
    assert is_transient(redis.ConnectionError("Connection refused"))
    assert is_transient(ConnectionResetError(104, "Connection reset by peer"))
    assert is_transient(sa.OperationalError("SELECT 1", {}, lost))  # SQLAlchemy keeps it in orig
    try:
        raise RuntimeError("while publishing") from lost
    except RuntimeError as raised:
        assert is_transient(raised)
    duplicate = psycopg.errors.UniqueViolation("duplicate key")
    assert not is_transient(sa.IntegrityError("INSERT", {}, duplicate))  # a bug, not a blip
    assert not is_transient(redis.ResponseError("WRONGTYPE"))
    assert not is_transient(ValueError("bad"))
