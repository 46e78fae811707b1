"""A small rq-style worker loop shared by every long-running role (sync, drain, webhooks, sender).

- The first SIGTERM/SIGINT asks for a *warm* stop: the current step finishes (its transaction
  commits) and the loop returns. A second signal is a *cold* stop: ``SystemExit`` is raised at
  once, so an open transaction rolls back and its work is redone by the next worker.
- A heartbeat key in Redis (``core.keys.worker``) with a TTL says the worker is alive, where it
  runs (sync/liveness.py: a worker killed on this machine is known gone at once) and what it
  has done; it disappears on its own when the worker dies. A thread keeps it fresh while the
  loop is busy (a long batch, a server being waited out), so a missing key means a dead
  process, not a slow step.
- Burst mode runs until a step finds nothing to do, then returns: tests run workers this way,
  synchronously, in their own process.
- Periodic tasks (reconcile, clean-up) run between steps; a transient failure (a server
  restarting) is logged and retried with a growing pause instead of killing the process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import psycopg
import redis

from core import keys, logs
from sync import liveness
from sync.connections import CLUSTER_TRANSIENT

log = logging.getLogger(__name__)

# What a server restarting, refusing or stalled looks like: the loop waits and retries
# (``Worker.on_transient`` reconnects) instead of letting the process die. The one list every
# role uses (sync, drain and its lanes, webhooks, the sender); ``is_transient`` also looks
# inside wrappers (SQLAlchemy's DBAPIError keeps the driver's error in ``orig``).
TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,  # refused, reset, closed; BusyLoadingError (loading its AOF)
    redis.TimeoutError,
    psycopg.OperationalError,  # refused, reset, shutting down, starting up, timeouts
    psycopg.InterfaceError,  # a connection already closed
    ConnectionError,  # the OS's: refused, reset, broken pipe
    TimeoutError,
    *CLUSTER_TRANSIENT,  # a cluster's master failing over
)


# Retries after a transient failure wait 0.1 s, doubling up to this: a retry is one connection
# attempt (cheap), and a longer cap made a role find a restarted PostgreSQL up to 5 s late
# (kill -9 of PostgreSQL under 1,000 clicks/s: the drain caught up 8.9 s after, now ~5 s).
MAX_BACKOFF_SECONDS = 1.0


def next_backoff(previous: float) -> float:
    return min(MAX_BACKOFF_SECONDS, previous * 2 or 0.1)


def retry_after(
    exc: Exception, burst: bool, backoff: float, logger: logging.Logger = log, **fields: Any
) -> float:
    """After a step raised ``exc`` (in an ``except``): raise it again unless it is transient
    and this is no burst (where a failure ends the run); else log it on ``logger`` and return
    how long to wait before the next attempt. ``fields`` go into the log line."""
    if burst or not is_transient(exc):
        raise exc
    backoff = next_backoff(backoff)
    logs.event(
        logger,
        "transient failure, retrying",
        logging.WARNING,
        **fields,
        error=repr(exc),
        retry_in=backoff,
    )
    return backoff


def is_transient(exc: BaseException) -> bool:
    """Is ``exc`` (or what it wraps or was raised from) a server being away for a while?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TRANSIENT):
            return True
        if getattr(current, "connection_invalidated", False):  # SQLAlchemy: the pool's
            return True
        seen.add(id(current))
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


@dataclass
class Periodic:
    """A task run every ``seconds`` between steps (``at_start``: also before the first step)."""

    name: str
    seconds: float
    task: Callable[[], object]
    at_start: bool = False
    due: float = field(default=0.0)


class Worker:
    def __init__(
        self,
        role: str,
        client: redis.Redis,
        *,
        heartbeat_seconds: float = 5.0,
        on_transient: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.role = role
        self.client = client
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.heartbeat_key = keys.worker(role, self.worker_id)
        self.heartbeat_seconds = heartbeat_seconds
        self.on_transient = on_transient
        self.periodic: list[Periodic] = []
        self.processed = 0
        self.started_at = time.time()
        self._stop = threading.Event()
        self._signals = 0
        self._next_beat = 0.0
        self._beat_lock = threading.Lock()

    # -- stopping ------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals == 1:
            logs.event(log, "warm stop requested", signal=signal.Signals(signum).name)
            self._stop.set()
            return
        logs.event(log, "cold stop", signal=signal.Signals(signum).name)
        raise SystemExit(1)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early for a stop request."""
        self._stop.wait(seconds)

    # -- periodic tasks and heartbeat --------------------------------------------------------

    def every(
        self, name: str, seconds: float, task: Callable[[], object], at_start: bool = False
    ) -> None:
        self.periodic.append(Periodic(name, seconds, task, at_start))

    def _run_due(self, now: float) -> None:
        for p in self.periodic:
            if now >= p.due:
                # Schedule from the end of the run so that a slow task does not run back to back.
                p.task()
                p.due = time.monotonic() + p.seconds

    @property
    def heartbeat_ttl(self) -> int:
        return max(1, int(self.heartbeat_seconds * 3))

    def beat(self, force: bool = False) -> None:
        with self._beat_lock:  # the loop and the heartbeat thread
            now = time.monotonic()
            if not force and now < self._next_beat:
                return
            self._next_beat = now + self.heartbeat_seconds
        info = {
            "role": self.role,
            "pid": os.getpid(),
            **liveness.identity(),
            "started_at": self.started_at,
            "beat_at": time.time(),
            "processed": self.processed,
        }
        self.client.set(self.heartbeat_key, json.dumps(info), ex=self.heartbeat_ttl)

    def _beat_unless_away(self) -> None:
        """A role whose work needs no Redis (the sender) goes on while Redis is away; one
        whose work does fails in its step and waits there."""
        try:
            self.beat()
        except redis.RedisError as exc:
            if not is_transient(exc):
                raise

    def _beat_while(self, running: threading.Event) -> None:
        while not running.wait(self.heartbeat_seconds / 2):
            try:
                self.beat()
            except redis.RedisError as exc:  # Redis is away: the key expires meanwhile
                if not is_transient(exc):
                    logs.event(log, "heartbeat failed", logging.WARNING, error=repr(exc))

    # -- the loop ----------------------------------------------------------------------------

    def run(
        self,
        step: Callable[[], int],
        wait: Callable[[float], None],
        *,
        burst: bool = False,
        idle_wait: float = 0.5,
    ) -> int:
        """Call ``step`` (returns how much it did) until stopped; ``wait(timeout)`` between
        idle steps (e.g. wait for a NOTIFY). In burst mode, return once a step does nothing."""
        previous = self._install_signals()
        now = time.monotonic()
        for p in self.periodic:
            p.due = now if p.at_start else now + p.seconds
        backoff = 0.0
        logs.event(log, "worker started", worker=self.worker_id, burst=burst)
        done_beating = threading.Event()
        beating = threading.Thread(
            target=self._beat_while, args=(done_beating,), name="heartbeat", daemon=True
        )
        beating.start()
        try:
            while not self.stopping:
                try:
                    # Beat before the first step: nothing is taken before the key says whose.
                    self._beat_unless_away()
                    self._run_due(time.monotonic())
                    done = step()
                    self.processed += done
                    backoff = 0.0
                    if not done and not burst:
                        wait(idle_wait)
                except Exception as exc:
                    backoff = retry_after(exc, burst, backoff)
                    self.sleep(backoff)
                    if self.on_transient is not None:
                        try:
                            self.on_transient(exc)
                        except Exception as again:
                            if not is_transient(again):
                                raise
                            # Still down: the next step fails and we wait longer.
                    continue
                if burst and not done:
                    break
        finally:
            done_beating.set()
            beating.join(1.0)  # a beat stuck on a stalled Redis must not hold up the stop
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with contextlib.suppress(redis.RedisError):  # down: the key expires on its own
                self.client.delete(self.heartbeat_key)
            logs.event(log, "worker stopped", worker=self.worker_id, processed=self.processed)
        return 0
