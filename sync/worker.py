"""A small rq-style worker loop shared by every long-running role (sync, drain, webhooks, sender).

- The first SIGTERM/SIGINT asks for a *warm* stop: the current step finishes (its transaction
  commits) and the loop returns. A second signal is a *cold* stop: ``SystemExit`` is raised at
  once, so an open transaction rolls back and its work is redone by the next worker.
- A heartbeat key in Redis (``core.keys.worker``) with a TTL says the worker is alive and what
  it has done; it disappears on its own when the worker dies.
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

log = logging.getLogger(__name__)

# What a server restarting looks like: the loop waits and retries (``Worker.on_transient``
# reconnects) instead of letting the process die. The one list every role uses.
TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


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
        transient: tuple[type[BaseException], ...] = TRANSIENT,
        on_transient: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.role = role
        self.client = client
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.heartbeat_key = keys.worker(role, self.worker_id)
        self.heartbeat_seconds = heartbeat_seconds
        self.transient = transient
        self.on_transient = on_transient
        self.periodic: list[Periodic] = []
        self.processed = 0
        self.started_at = time.time()
        self._stop = threading.Event()
        self._signals = 0
        self._next_beat = 0.0

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

    def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat_seconds
        info = {
            "role": self.role,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "beat_at": time.time(),
            "processed": self.processed,
        }
        self.client.set(
            self.heartbeat_key, json.dumps(info), ex=max(1, int(self.heartbeat_seconds * 3))
        )

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
        try:
            while not self.stopping:
                try:
                    self._run_due(time.monotonic())
                    done = step()
                    self.processed += done
                    self.beat()
                    backoff = 0.0
                    if not done and not burst:
                        wait(idle_wait)
                except self.transient as exc:
                    if burst:
                        raise
                    backoff = min(5.0, backoff * 2 or 0.1)
                    logs.event(
                        log,
                        "transient failure, retrying",
                        logging.WARNING,
                        error=repr(exc),
                        retry_in=backoff,
                    )
                    self.sleep(backoff)
                    if self.on_transient is not None:
                        # Still down: the next step fails and we wait longer.
                        with contextlib.suppress(*self.transient):
                            self.on_transient(exc)
                    continue
                if burst and not done:
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with contextlib.suppress(redis.RedisError):  # down: the key expires on its own
                self.client.delete(self.heartbeat_key)
            logs.event(log, "worker stopped", worker=self.worker_id, processed=self.processed)
        return 0
