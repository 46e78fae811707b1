"""One wrk run with loadtest/wrk.lua, pinned to the client core, parsed into a WrkRun."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest import machine

SCRIPT = Path(__file__).with_name("wrk.lua")
MARK = "WRK_RESULT "


@dataclass
class WrkRun:
    server: str  # "edge" | "nginx"
    load: str  # "warmup" | "full" | "half"
    connections: int
    seconds: float
    target_rate: float  # req/s asked for; 0 = as fast as the server answers
    requests: int
    req_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status: dict[str, int]  # "2xx", "3xx", "404", "other"
    errors: dict[str, int]
    server_core_busy: float = 0.0
    client_core_busy: float = 0.0
    server_core_irq: float = 0.0  # of which interrupts/softirqs (network), charged to no process
    server_core_steal: float = 0.0  # of which the hypervisor ran something else (a VM's steal)
    server_cpu_us_per_req: float = 0.0  # CPU time of the server's processes per request
    redis_cpu_us_per_req: float = 0.0
    server_share: float = 0.0  # the server's processes' CPU time / wall time (0..1 per core)
    redis_share: float = 0.0
    # wrk's own CPU time / wall time (0..1: it has one thread). Near 1, the load generator
    # is the bottleneck: the server's req/s is a floor, not its peak.
    wrk_share: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_wrk(
    wrk: str,
    *,
    server: str,
    load: str,
    url: str,
    requests_file: Path,
    host: str,
    connections: int,
    seconds: float,
    rate: float,
    client_cpu: int,
    server_cpu: int,
    server_pids: list[int],
    redis_pids: list[int],
) -> WrkRun:
    args = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(requests_file),
        host,
        f"{rate:.3f}",
    ]
    children_before = machine.children_cpu_seconds()  # wrk is our only child that ends during the run
    if shutil.which("stdbuf"):  # line-buffered, so that "Running" arrives when the load starts
        args = ["stdbuf", "-oL", *args]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=machine.pin(client_cpu),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    # wrk loads the request list before it prints "Running": count CPU from there on.
    for raw in proc.stdout:
        lines.append(raw)
        if raw.startswith("Running"):
            break
    cores_before = machine.core_times()
    wrk_cpu_before = machine.cpu_seconds([proc.pid])  # loading the request list: not counted
    server_cpu_before = machine.cpu_seconds(server_pids)
    redis_cpu_before = machine.cpu_seconds(redis_pids)
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    wall = time.monotonic() - started
    cores_after = machine.core_times()
    server_cpu_used = machine.cpu_seconds(server_pids) - server_cpu_before
    redis_cpu_used = machine.cpu_seconds(redis_pids) - redis_cpu_before
    # wrk has exited and been reaped: its whole CPU time is in our children's usage.
    wrk_cpu_used = machine.children_cpu_seconds() - children_before - wrk_cpu_before
    stdout = "".join(lines) + out
    line = next((x for x in stdout.splitlines() if x.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{stdout}\n{err}")
    data = json.loads(line[len(MARK) :])
    n = int(data["requests"])
    duration = data["duration_us"] / 1e6
    return WrkRun(
        server=server,
        load=load,
        connections=connections,
        seconds=duration,
        target_rate=rate,
        requests=n,
        req_per_s=n / duration if duration else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        status={k: int(v) for k, v in data["status"].items()},
        errors={k: int(v) for k, v in data["errors"].items()},
        server_core_busy=machine.core_busy(cores_before, cores_after, server_cpu),
        client_core_busy=machine.core_busy(cores_before, cores_after, client_cpu),
        server_core_irq=machine.core_irq(cores_before, cores_after, server_cpu),
        server_core_steal=machine.core_steal(cores_before, cores_after, server_cpu),
        server_cpu_us_per_req=server_cpu_used * 1e6 / n if n else 0.0,
        redis_cpu_us_per_req=redis_cpu_used * 1e6 / n if n else 0.0,
        server_share=server_cpu_used / wall if wall else 0.0,
        redis_share=redis_cpu_used / wall if wall else 0.0,
        wrk_share=wrk_cpu_used / wall if wall else 0.0,
        extra={"wall_seconds": wall},
    )

