"""How many CPUs this process may really use: the smallest of the cores it may run on
(affinity, cpusets) and its cgroup's CPU quota.

A container limited to 2 CPUs on a 64-core host sees 64 cores in ``os.cpu_count()``; starting
64 edge workers there means 64 processes sharing 2 CPUs' worth of time (and 64 x the memory).
``EDGE_WORKERS=0`` sizes the edge with this instead.

cgroup v2: ``cpu.max`` holds ``"<quota> <period>"`` or ``"max <period>"``; a limit anywhere on
the path from the process's cgroup up to the root applies, so the smallest one counts.
cgroup v1: ``cpu.cfs_quota_us`` (-1: none) over ``cpu.cfs_period_us`` in the cpu controller.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_quota(text: str | None) -> float | None:
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max" or not period:
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def _v1_quota(directory: Path) -> float | None:
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    try:
        q, p = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """(the v2 path, the v1 cpu controller's path) of this process."""
    v2 = v1 = None
    for line in (_read(proc_cgroup) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(root: Path, path: str) -> list[Path]:
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    return [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota in CPUs (1.5 = one and a half), or None when there is none."""
    v2, v1 = _cgroup_paths(proc_cgroup)
    limits: list[float] = []
    if v2 is not None:
        for directory in _ancestors(root, v2):
            found = _v2_quota(_read(directory / "cpu.max"))
            if found is not None:
                limits.append(found)
    if not limits and v1 is not None:
        for base in (root / "cpu", root / "cpu,cpuacct"):
            for directory in _ancestors(base, v1):
                found = _v1_quota(directory)
                if found is not None:
                    limits.append(found)
    return min(limits) if limits else None


def available(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Whole CPUs to size a worker pool by: at least 1, a fractional quota rounded up."""
    cores = len(allowed())
    limit = cgroup_limit(root, proc_cgroup)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def allowed() -> frozenset[int]:
    """The CPUs this process may run on (all of them where affinity is not Linux's)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return frozenset(range(os.cpu_count() or 1))


def parse_cpu_list(text: str) -> frozenset[int]:
    """A CPU list as Linux writes one (``"1"``, ``"2-3"``, ``"0,4-5"``); ValueError otherwise."""
    found: set[int] = set()
    for item in (i.strip() for i in text.split(",")):
        first, dash, last = item.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"must be auto, all or a CPU list such as 1 or 2-3, not {text!r}")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"must list CPU ranges low to high, not {item!r}")
        found.update(range(low, high + 1))
    return frozenset(found)


def job_cpus(setting: str, cpus: frozenset[int] | None = None) -> frozenset[int]:
    """The CPUs background jobs run on (ADMIN_JOB_CPUS) out of ``cpus`` (those this process may
    use): "auto" keeps the lower half free of them (on 2 CPUs jobs run on the second only; on
    one CPU there is nothing to keep free), "all" is every one, a list is the listed ones this
    process may use (every one, if it may use none of them). Why: a job that may run on every
    core is on the core a request wakes on, often enough to show in another organisation's
    p99 (docs/decisions/0010-tenant-limits.md, "Jobs on their own cores")."""
    cpus = allowed() if cpus is None else cpus
    if setting == "all" or len(cpus) < 2:
        return cpus
    if setting == "auto":
        ordered = sorted(cpus)
        return frozenset(ordered[len(ordered) // 2 :])
    return (parse_cpu_list(setting) & cpus) or cpus
