"""The bench's summary from made-up runs: CPU per request for both sides, and whether wrk set
the pace (no servers: the figures are given, the arithmetic and the verdicts are tested)."""

from __future__ import annotations

from typing import Any

from loadtest import report
from loadtest.wrk import WrkRun


def run(server: str, load: str, rps: float, cpu_us: float, wrk: float, **kw: Any) -> WrkRun:
    return WrkRun(
        server=server,
        load=load,
        connections=64,
        seconds=10,
        target_rate=0 if load == "full" else rps,
        requests=int(rps * 10),
        req_per_s=rps,
        p50_ms=1,
        p90_ms=2,
        p99_ms=3,
        max_ms=9,
        status={"2xx": 0, "3xx": int(rps * 10), "404": 0, "other": 0},
        errors={"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0},
        server_cpu_us_per_req=cpu_us,
        wrk_share=wrk,
        **kw,
    )


def result(summary: dict[str, Any]) -> dict[str, Any]:
    machine = {"cores": 2, "server_cpu": 0, "client_cpu": 1, "loadavg_before": (1.0, 1, 1)}
    return {"started_at": "now", "machine": machine, "summary": summary}


def test_cpu_per_request_of_both_sides_and_a_wrk_bound_nginx() -> None:
    full = {
        "edge": [run("edge", "full", 10_000, 60, 0.30, redis_cpu_us_per_req=20)] * 3,
        "nginx": [run("nginx", "full", 130_000, 7, 0.97)] * 3,
    }
    half = {
        "edge": [run("edge", "half", 5_000, 100, 0.2, redis_cpu_us_per_req=30)] * 3,
        "nginx": [run("nginx", "half", 65_000, 8, 0.6)] * 3,
    }
    s = report.summarize(full, half, redis_on_server_core=True)
    assert s["edge_cpu_us_per_req"] == 80  # worker and Valkey: they share the core
    assert s["nginx_cpu_us_per_req"] == 7
    assert abs(s["ratio_by_cpu"] - 7 / 80) < 1e-9
    assert s["nginx_full"]["generator_bound"] and not s["edge_full"]["generator_bound"]
    assert not s["nginx_half"]["generator_bound"]  # at half load wrk waits by design
    text = report.table(result(s))
    assert "CPU per request at full load: edge 80.0 us (worker 60.0 + Valkey 20.0)" in text
    assert "nginx 7.0 us" in text
    assert "wrk used 97% of its core during nginx's full-load runs" in text
    assert "edge's full-load" not in text


def test_valkey_elsewhere_is_not_charged_and_an_idle_wrk_is_not_the_bottleneck() -> None:
    full = {
        "edge": [run("edge", "full", 10_000, 60, 0.3, redis_cpu_us_per_req=20)],
        "nginx": [run("nginx", "full", 90_000, 7, 0.8)],
    }
    s = report.summarize(full, {}, redis_on_server_core=False)
    assert s["edge_cpu_us_per_req"] == 60
    assert not s["nginx_full"]["generator_bound"]
    assert "load generator: not the bottleneck" in report.table(result(s))


def test_the_hypervisors_steal_is_its_own_column_not_the_neighbours() -> None:
    """A half-load run whose core the hypervisor took away for 4% of the time: reported as
    steal per run and as the runs' worst, and not counted as other processes' load."""
    quiet = dict(server_core_busy=0.90, server_core_irq=0.10, server_share=0.60, redis_share=0.20)
    stolen = {**quiet, "server_core_busy": 0.94, "server_core_steal": 0.04}
    half = {"edge": [run("edge", "half", 5_000, 100, 0.2, **quiet)] * 2 + [
        run("edge", "half", 5_000, 100, 0.2, **stolen)
    ]}
    s = report.summarize({}, half, redis_on_server_core=True)
    row = s["edge_half"]
    assert (row["server_core_steal"], row["server_core_steal_max"]) == (0.0, 0.04)
    assert abs(row["other_load_on_server_core"]) < 1e-9  # busy = irq + ours (+ steal)
    assert "steal 4.0%" in report.run_line(half["edge"][2])
    assert "steal 0.0%" in report.run_line(half["edge"][0])


def test_core_steal_is_the_share_of_the_interval() -> None:
    from loadtest.machine import CoreTimes, core_steal

    before = CoreTimes({0: 100.0}, {0: 10.0}, {0: 1000.0}, {0: 5.0})
    after = CoreTimes({0: 900.0}, {0: 90.0}, {0: 2000.0}, {0: 55.0})
    assert core_steal(before, after, 0) == 0.05  # 50 of 1,000 ticks
