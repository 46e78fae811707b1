"""Is a worker provably gone? So that its unfinished work is taken over at once, not after a
timeout chosen for the worst case (the drain's DRAIN_CLAIM_IDLE_MS, 30 s).

Every worker's heartbeat (sync/worker.py, ``core.keys.worker``) names the machine and the pid
namespace it runs in: the kernel's boot id (unique per machine and boot; containers share their
host's) and the inode of ``/proc/self/ns/pid``. A worker is gone when

- its heartbeat names our machine and pid namespace and its pid no longer runs the process
  that wrote it (no such process, a zombie, or one started after the heartbeat's worker: the
  pid was reused) — known at once after a kill -9; or
- it has no heartbeat (none within its TTL: it stopped beating, on any machine) and has done
  nothing for a second (a consumer that never wrote a heartbeat, such as a benchmark's
  in-process drain, is not taken from while it reads).

Anything else (another machine, another container's namespace, a live process) is alive, and
its work waits for the ordinary idle timeout.
"""

from __future__ import annotations

import json
import os
import socket
from functools import cache
from pathlib import Path
from typing import Any

import redis

from core import keys

PROC = Path("/proc")


@cache
def identity() -> dict[str, str]:
    """Where this process runs, as the heartbeat records it ("" where /proc does not say)."""
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
        pid_ns = os.readlink(PROC / "self/ns/pid")
    except OSError:
        boot = pid_ns = ""
    return {"host": socket.gethostname(), "boot": boot, "pid_ns": pid_ns}


@cache
def _boot_time() -> float:
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds); None when there is none or it is a
    zombie (killed, not yet reaped: it runs nothing)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return None
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_gone(info: dict[str, Any]) -> bool:
    """True when the heartbeat ``info`` was written on this machine, in this pid namespace, by
    a process that no longer runs."""
    mine = identity()
    if not mine["boot"] or (info.get("boot"), info.get("pid_ns")) != (mine["boot"], mine["pid_ns"]):
        return False
    try:
        pid, started_at = int(info["pid"]), float(info["started_at"])
    except (KeyError, TypeError, ValueError):
        return False
    began = process_started_at(pid)
    # The worker's started_at is taken after its process began; a process begun after it
    # (with a second of slack for clock ticks) holds a reused pid.
    return began is None or began > started_at + 1.0


QUIET_MS = 1_000


def worker_gone(client: redis.Redis, role: str, worker_id: str, idle_ms: int) -> bool:
    """Is the worker ``worker_id`` of ``role`` provably gone (see the module's docstring)?
    ``idle_ms``: how long it has done nothing that we can see (e.g. a stream consumer's idle
    time)."""
    raw: Any = client.get(keys.worker(role, worker_id))
    if raw is None:
        return idle_ms > QUIET_MS
    try:
        info = json.loads(raw)
    except ValueError:
        return False
    return isinstance(info, dict) and process_gone(info)
