"""Supervised child processes: start, notice a death, start again with a backoff, stop.

Each child runs in its own session (so its whole process group, granian's workers or
Postgres's backends, can be signalled at once) and asks Linux to signal it should its parent
die, even by kill -9, so that nothing outlives `smartlinks up`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

from core import logs

log = logging.getLogger("smartlinks.up")

STOP_WORKERS_SECONDS = 6.0  # then SIGKILL; the servers get the rest of the ten seconds
STOP_TOTAL_SECONDS = 9.5
MAX_BACKOFF = 10.0
STABLE_AFTER = 10.0  # a child that ran this long starts again without delay


class Stopping(BaseException):
    """Raised by the signal handler while `up` is still starting (blocking steps)."""


@dataclass
class Child:
    """One supervised process: an embedded server or a `smartlinks <role>`."""

    name: str
    launch: Callable[[], subprocess.Popen]
    is_server: bool = False
    stop_signal: int = signal.SIGTERM
    signal_group: bool = True  # False: signal the leader only (Postgres stops its backends)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    due: float = 0.0

    def start(self) -> None:
        self.proc = self.launch()
        self.started_at = time.monotonic()
        logs.event(log, "child started", child=self.name, pid=self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int, group: bool = True) -> None:
        if self.proc is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                os.kill(self.proc.pid, sig)


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    stop_requested: bool = False
    hurry: bool = False  # a second signal: kill now
    starting: bool = True

    # -- signals -------------------------------------------------------------------------------

    def install_signals(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:
            self.hurry = True
            return
        self.stop_requested = True
        logs.event(log, "stopping", signal=signal.Signals(signum).name)
        if self.starting:
            raise Stopping()

    # -- running -------------------------------------------------------------------------------

    def add(self, child: Child) -> Child:
        """Supervise ``child`` from now on; it starts at once."""
        self.children.append(child)
        child.start()
        return child

    def tick(self) -> None:
        """Notice children that died and start them again when their backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                # Whatever the leader left behind in its group (granian workers, backends).
                child.signal(signal.SIGKILL)
                ran = now - child.started_at
                child.failures = 0 if ran >= STABLE_AFTER else child.failures + 1
                delay = min(0.25 * 2**child.failures, MAX_BACKOFF) if child.failures else 0.25
                child.due = now + delay
                logs.event(
                    log,
                    "child exited",
                    logging.WARNING,
                    child=child.name,
                    pid=child.proc.pid,
                    code=code,
                    ran_seconds=round(ran, 1),
                    restart_in_seconds=round(delay, 2),
                )
                child.proc = None
            if child.proc is None and now >= child.due and not self.stop_requested:
                try:
                    child.start()
                except OSError as exc:
                    child.failures += 1
                    child.due = now + MAX_BACKOFF
                    logs.event(
                        log,
                        "child failed to start",
                        logging.ERROR,
                        child=child.name,
                        error=str(exc),
                    )

    def stop(self) -> None:
        """Roles first, then the servers; SIGKILL at the deadlines; nothing left behind."""
        self.stop_requested = True
        began = time.monotonic()
        workers = [c for c in self.children if not c.is_server]
        servers = [c for c in self.children if c.is_server]
        self._stop_batch(workers, began + STOP_WORKERS_SECONDS)
        self._stop_batch(servers, began + STOP_TOTAL_SECONDS)
        kill_descendants()
        logs.event(log, "stopped", seconds=round(time.monotonic() - began, 2))

    def _stop_batch(self, batch: list[Child], deadline: float) -> None:
        for child in batch:
            if child.alive:
                child.signal(child.stop_signal, group=child.signal_group)
        while any(c.alive for c in batch) and time.monotonic() < deadline and not self.hurry:
            time.sleep(0.05)
        for child in batch:
            if child.alive:
                logs.event(log, "child killed", logging.WARNING, child=child.name)
            child.signal(signal.SIGKILL)  # the group: stragglers of a leader that exited too
            if child.proc is not None:
                with suppress(subprocess.TimeoutExpired):
                    child.proc.wait(2)


def kill_descendants() -> None:
    """Anything still below us (a child started while a signal arrived)."""
    rest = psutil.Process().children(recursive=True)
    for proc in rest:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(rest, timeout=2)


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to signal the child when `up` itself dies (even by kill -9)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, sig, 0, 0, 0)

    return preexec


def reap_strays(data_dir: Path) -> None:
    """Servers and roles left running by an `up` that was killed (we hold the lock now)."""
    me = os.getpid()
    ancestors = {p.pid for p in psutil.Process().parents()}
    marker = str(data_dir)
    strays = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == me or proc.pid in ancestors:
            continue
        cmdline = proc.info["cmdline"] or []
        if cmdline and Path(cmdline[0]).name == "postgres" and marker in " ".join(cmdline):
            strays.append(proc)  # the postmaster keeps its `-D <data folder>` command line
            continue
        if cmdline and Path(cmdline[0]).name == "valkey-server":
            # Valkey rewrites its command line, but it works in its --dir.
            with suppress(psutil.Error):
                if proc.cwd().startswith(marker):
                    strays.append(proc)
            continue
        # A role of ours (granian workers included) started for this data folder.
        if not any("smartlinks" in arg for arg in cmdline) or {"org", "up"} & set(cmdline):
            continue
        with suppress(psutil.Error):
            if proc.environ().get("SMARTLINKS_DATA_DIR") == marker:
                strays.append(proc)
    if not strays:
        return
    logs.event(log, "stopping leftovers of an earlier up", pids=[p.pid for p in strays])
    for proc in strays:
        with suppress(psutil.Error):
            proc.send_signal(signal.SIGINT if "postgres" in proc.name() else signal.SIGTERM)
    _, alive = psutil.wait_procs(strays, timeout=5)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=2)
