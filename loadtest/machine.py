"""What the bench needs from the machine: nginx and wrk, CPU pinning, and CPU accounting."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psutil

TOOLS = ("nginx", "wrk")
APT_PACKAGES = ("nginx-light", "wrk")


class MissingTool(RuntimeError):
    pass


def find_tool(name: str) -> str | None:
    # nginx lives in /usr/sbin, which is not on every user's PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def ensure_tools(install: bool = True) -> dict[str, str]:
    """Paths of nginx and wrk; installs them with apt-get when missing and we are root."""
    missing = [t for t in TOOLS if find_tool(t) is None]
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {', '.join(APT_PACKAGES)} with apt-get ...", file=sys.stderr)
        try:
            _apt_install()
        except subprocess.CalledProcessError as exc:
            print(f"apt-get failed: {exc.stderr or exc}", file=sys.stderr)
        missing = [t for t in TOOLS if find_tool(t) is None]
    if missing:
        raise MissingTool(
            f"the bench needs {' and '.join(missing)} on PATH; install them "
            f"(Debian/Ubuntu: sudo apt-get install {' '.join(APT_PACKAGES)}) and run it again"
        )
    return {t: str(find_tool(t)) for t in TOOLS}


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"env": env, "capture_output": True, "text": True}
    subprocess.run(["apt-get", "update", "-q"], check=True, **quiet)  # type: ignore[call-overload]
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    if subprocess.run([*install, *APT_PACKAGES], **quiet).returncode != 0:  # type: ignore[call-overload]
        # a release without the light flavour of nginx: the plain package
        subprocess.run([*install, "nginx", "wrk"], check=True, **quiet)  # type: ignore[call-overload]


def cpu_plan(server_cpu: int | None, client_cpu: int | None) -> tuple[int, int]:
    """The core for the servers and the core for wrk: two distinct cores we may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    server = allowed[0] if server_cpu is None else server_cpu
    others = [c for c in allowed if c != server]
    client = (others[0] if others else server) if client_cpu is None else client_cpu
    return server, client


def pin(cpu: int) -> Callable[[], None]:
    """A preexec_fn: the child and everything it starts run on ``cpu`` only."""

    def _pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return _pin


@dataclass(frozen=True)
class CoreTimes:
    busy: dict[int, float]  # every non-idle tick
    irq: dict[int, float]  # interrupts and softirqs: the kernel's network work, in no process
    total: dict[int, float]
    # time the hypervisor ran something else while this virtual core wanted to run (counted in
    # busy): a run's pauses that none of its processes made
    steal: dict[int, float] = field(default_factory=dict)


def core_times() -> CoreTimes:
    busy: dict[int, float] = {}
    irq: dict[int, float] = {}
    total: dict[int, float] = {}
    steal: dict[int, float] = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            cpu = int(name[3:])
            # user nice system idle iowait irq softirq steal
            values = [float(v) for v in fields[:8]]
            total[cpu] = sum(values)
            busy[cpu] = total[cpu] - values[3] - values[4]
            irq[cpu] = values[5] + values[6]
            steal[cpu] = values[7] if len(values) > 7 else 0.0
    return CoreTimes(busy, irq, total, steal)


def _share(before: CoreTimes, after: CoreTimes, cpu: int, part: str) -> float:
    """Share of the interval between the two readings that ``cpu`` spent in ``part`` (a
    CoreTimes field: busy, irq, steal)."""
    span = after.total.get(cpu, 0) - before.total.get(cpu, 0)
    spent = getattr(after, part).get(cpu, 0) - getattr(before, part).get(cpu, 0)
    return spent / span if span else 0.0


def core_busy(before: CoreTimes, after: CoreTimes, cpu: int) -> float:
    """Share of the interval that ``cpu`` was busy (0..1)."""
    return _share(before, after, cpu, "busy")


def core_steal(before: CoreTimes, after: CoreTimes, cpu: int) -> float:
    """Share of the interval that the hypervisor took ``cpu`` away (steal time)."""
    return _share(before, after, cpu, "steal")


def core_irq(before: CoreTimes, after: CoreTimes, cpu: int) -> float:
    """Share of the interval that ``cpu`` spent in interrupts and softirqs (loopback TCP)."""
    return _share(before, after, cpu, "irq")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes and their children (each counted once), in
    seconds."""
    seen: set[int] = set()
    seconds = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in family:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds += t.user + t.system
    return seconds


def children_cpu_seconds() -> float:
    """User + system seconds of every child process of ours that has ended and been reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
