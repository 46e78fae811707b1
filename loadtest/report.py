"""The bench's figures: medians of the runs, the printed table and the JSON file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtest.wrk import WrkRun

GOAL_RATIO = 0.15  # edge/nginx on the full path (issue 6)
GOAL_HALF_P99_MS = 5.0
# wrk's share of its core above which it, not the server, set the pace (one thread: 1.0 is
# a full core; a little is lost to the kernel's accounting and to waiting on sockets).
GENERATOR_BOUND_SHARE = 0.9


def _median(runs: Sequence[WrkRun], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in runs))


def other_load(r: WrkRun, redis_on_server_core: bool) -> float:
    """How busy the server core was with processes that are not ours (other jobs on the
    machine): a run where this is high measured the neighbours too. Interrupts and softirqs
    (the kernel's loopback TCP work for our own traffic) are left out: they belong to no
    process but are ours. So is the hypervisor's steal, reported apart."""
    ours = r.server_share + (r.redis_share if redis_on_server_core else 0.0)
    return max(0.0, r.server_core_busy - r.server_core_irq - r.server_core_steal - ours)


def summarize(
    full: Mapping[str, Sequence[WrkRun]],
    half: Mapping[str, Sequence[WrkRun]],
    redis_on_server_core: bool,
) -> dict[str, Any]:
    """Medians per server and load, the edge/nginx ratio and the goals."""
    out: dict[str, Any] = {}
    for load, runs_by_server in (("full", full), ("half", half)):
        for server, runs in runs_by_server.items():
            if not runs:
                continue
            out[f"{server}_{load}"] = {
                "runs": len(runs),
                "req_per_s": _median(runs, "req_per_s"),
                "target_rate": _median(runs, "target_rate"),
                "p50_ms": _median(runs, "p50_ms"),
                "p90_ms": _median(runs, "p90_ms"),
                "p99_ms": _median(runs, "p99_ms"),
                "server_core_busy": _median(runs, "server_core_busy"),
                "client_core_busy": _median(runs, "client_core_busy"),
                "wrk_share": _median(runs, "wrk_share"),
                # Only at full load: at half load wrk waits on its schedule by design.
                "generator_bound": load == "full"
                and _median(runs, "wrk_share") >= GENERATOR_BOUND_SHARE,
                "server_core_irq": _median(runs, "server_core_irq"),
                "server_core_steal": _median(runs, "server_core_steal"),
                "server_core_steal_max": max(r.server_core_steal for r in runs),
                "server_cpu_us_per_req": _median(runs, "server_cpu_us_per_req"),
                "redis_cpu_us_per_req": _median(runs, "redis_cpu_us_per_req"),
                "other_load_on_server_core": float(
                    statistics.median(other_load(r, redis_on_server_core) for r in runs)
                ),
                "errors": sum(sum(r.errors.values()) - r.errors["status"] for r in runs),
                "5xx_or_other": sum(r.status["other"] for r in runs),
            }
    edge, nginx = out.get("edge_full"), out.get("nginx_full")
    if edge and nginx and nginx["req_per_s"]:
        out["ratio"] = edge["req_per_s"] / nginx["req_per_s"]
        out["goal_ratio"] = GOAL_RATIO
        out["ratio_met"] = out["ratio"] >= GOAL_RATIO
        # What the ratio would be if each had the core to itself: CPU per request (the
        # edge's worker and its Redis). Neighbours on the core skew req/s (the scheduler
        # shares the core per thread, and the edge has more threads than nginx), much less
        # the CPU each request takes.
        edge_cpu = edge["server_cpu_us_per_req"] + (
            edge["redis_cpu_us_per_req"] if redis_on_server_core else 0.0
        )
        out["edge_cpu_us_per_req"] = edge_cpu
        out["nginx_cpu_us_per_req"] = nginx["server_cpu_us_per_req"]
        if edge_cpu:
            out["ratio_by_cpu"] = nginx["server_cpu_us_per_req"] / edge_cpu
    if "edge_half" in out:
        out["goal_half_p99_ms"] = GOAL_HALF_P99_MS
        out["half_p99_met"] = out["edge_half"]["p99_ms"] <= GOAL_HALF_P99_MS
    return out


def run_line(r: WrkRun) -> str:
    rate = f" at {r.target_rate:,.0f}/s" if r.target_rate else ""
    socket_errors = {k: v for k, v in r.errors.items() if v and k != "status"}
    return (
        f"  {r.server:5} {r.load:6}{rate}: {r.req_per_s:>9,.0f} req/s  p50 {r.p50_ms:6.2f} ms"
        f"  p99 {r.p99_ms:6.2f} ms  server core {r.server_core_busy:4.0%}"
        f" (irq {r.server_core_irq:3.0%}, steal {r.server_core_steal:4.1%})"
        f"  wrk core {r.client_core_busy:4.0%} (wrk {r.wrk_share:4.0%})  status {r.status}"
        + (f"  errors {socket_errors}" if socket_errors else "")
    )


def table(result: Mapping[str, Any]) -> str:
    s, m = result["summary"], result["machine"]
    lines = [
        "",
        f"Smart Links bench, {result['started_at']}: {m['cores']} cores, servers on cpu "
        f"{m['server_cpu']}, wrk on cpu {m['client_cpu']}, Redis {m.get('redis')}"
        + (f" on cpu {m['redis_cpu']}" if m.get("redis_cpu") is not None else "")
        + f"; load average before {m['loadavg_before'][0]:.2f}",
        "",
        f"{'':22}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'srv core':>10}{'irq':>6}{'steal':>7}{'others':>8}{'wrk core':>10}{'wrk CPU':>9}"
        f"{'CPU us/req':>12}"
        f"{'Redis us/req':>14}",
    ]
    for key in ("edge_full", "nginx_full", "edge_half", "nginx_half"):
        row = s.get(key)
        if not row:
            continue
        server, load = key.split("_")
        label = f"{server} {load}" + (
            f" @{row['target_rate']:,.0f}/s" if load == "half" else f" ({row['runs']} runs)"
        )
        lines.append(
            f"{label:22}{row['req_per_s']:>10,.0f}{row['p50_ms']:>9.2f}{row['p90_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['server_core_busy']:>10.0%}{row['server_core_irq']:>6.0%}"
            f"{row.get('server_core_steal', 0.0):>7.1%}"
            f"{row['other_load_on_server_core']:>8.0%}{row['client_core_busy']:>10.0%}"
            f"{row.get('wrk_share', 0.0):>9.0%}"
            f"{row['server_cpu_us_per_req']:>12.0f}{row['redis_cpu_us_per_req']:>14.1f}"
        )
    lines.append(
        "(srv core: how busy the server core was; irq: of which interrupts and softirqs, the kernel's"
        " TCP work for\n our traffic; steal: of which the hypervisor ran something else (a virtual"
        " machine's steal time);\n others: processes that were neither the server nor its Redis;"
        " wrk CPU: wrk's own\n CPU time over the run's (one thread: 100% is its core);"
        " CPU us/req: CPU time of the server's processes per request)"
    )
    lines.append("")
    if "ratio" in s:
        lines.append(
            f"edge / nginx at full load: {s['ratio']:.3f}  (goal >= {GOAL_RATIO}: "
            f"{'met' if s['ratio_met'] else 'not met'})"
        )
    lines += generator_lines(s)
    if "ratio_by_cpu" in s:
        lines.append(
            f"CPU per request at full load: edge {s['edge_cpu_us_per_req']:.1f} us (worker"
            f" {s['edge_full']['server_cpu_us_per_req']:.1f}"
            + (
                f" + Valkey {s['edge_full']['redis_cpu_us_per_req']:.1f}"
                if s["edge_cpu_us_per_req"] > s["edge_full"]["server_cpu_us_per_req"]
                else ""
            )
            + f"), nginx {s['nginx_cpu_us_per_req']:.1f} us (its worker)"
        )
        lines.append(
            f"edge / nginx by CPU per request: {s['ratio_by_cpu']:.3f}  (nginx's CPU us/req over the"
            " edge's, with its Redis when it shares the core: the ratio on a quiet core)"
        )
    if "edge_half" in s:
        lines.append(
            f"edge p99 at half load: {s['edge_half']['p99_ms']:.2f} ms  (goal <= "
            f"{GOAL_HALF_P99_MS} ms: {'met' if s['half_p99_met'] else 'not met'})"
        )
    sync = result.get("sync") or {}
    if sync:
        lines.append(
            f"issue + sync: {sync['codes']:,} codes, issue {sync['issue_seconds']:.1f} s "
            f"({sync['issue_method']}) + sync --full {sync['sync_seconds']:.1f} s = "
            f"{sync['codes_per_s']:,.0f} codes/s"
        )
        buckets = sync.get("redis_bytes_per_code_buckets")
        lines.append(
            "Redis per issued code: "
            + (f"{buckets:.0f} bytes in code buckets, " if buckets else "")
            + f"{sync['redis_bytes_per_code_all_records']:.0f} bytes with its contact's record"
            " (used_memory delta)"
        )
    drain = result.get("drain") or {}
    if drain:
        lines.append(
            f"drain: {drain['clicks']:,} clicks ({drain['human_clicks']:,} people's, with actions;"
            f" {drain['whispers']:,} whispers) in {drain['seconds']:.1f} s = "
            f"{drain['clicks_per_s']:,.0f} clicks/s (start-up {drain['startup_seconds']:.1f} s"
            " not counted)"
        )
    valkey = result.get("valkey") or {}
    for load, during in (("full", valkey.get("full")), ("half", valkey.get("half"))):
        if not during:
            continue
        events = during.get("events_over_1ms") or {}
        lines.append(
            f"Valkey's own pauses of 1 ms or more during the {load}-load runs: "
            + _listed(
                f"{k} max {v['max_ms']} ms in {v.get('seconds', '?')} s"
                for k, v in sorted(events.items())
            )
            + f"; {during.get('forks', 0)} forks (AOF rewrites, snapshots); main thread waited"
            f" on the AOF fsync {during.get('aof_delayed_fsync', 0)} times"
        )
        if "slow_command_ms" not in during:  # a result from before the bench named them
            continue
        slow = during.get("slow_commands") or {}
        lines.append(
            f"  commands of {during['slow_command_ms']:g} ms or more ({load} load): "
            + _listed(
                f"{name} x{v['count']} (max {v['max_ms']} ms)"
                for name, v in sorted(slow.items(), key=lambda kv: -kv[1]["count"])
            )
        )
    prof = result.get("profile") or {}
    if prof.get("groups"):
        from loadtest.profile import render

        lines.append(render(prof))
    phases = result.get("phases") or {}
    if phases:
        lines.append("time line (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    clicks = result.get("clicks") or {}
    if clicks:
        lines.append(
            f"clicks served by the edge: {clicks['served_human']:,} redirects, "
            f"{clicks['served_preview']:,} previews, {clicks['unknown_404']:,} 404s;"
            f" recorded: {clicks['recorded_human']:,} clicks, {clicks['recorded_preview']:,}"
            f" previews (+{clicks['in_flight_extra']} in flight when wrk stopped"
            f" or answered 5xx: {clicks['other_status']} answers were 5xx)"
            + (
                f"; {clicks['appended_twice']} clicks appended twice, recorded once"
                if clicks.get("appended_twice")
                else ""
            )
        )
        lines.append(
            "every served click recorded: "
            + ("yes" if clicks["ok"] else "NO: " + "; ".join(clicks["problems"]))
        )
    return "\n".join(lines)


def generator_lines(s: Mapping[str, Any]) -> list[str]:
    """Whether wrk, not the server, set the pace of a full-load run."""
    out = []
    for server in ("edge", "nginx"):
        row = s.get(f"{server}_full")
        if row and row.get("generator_bound"):
            out.append(
                f"load generator bound: wrk used {row['wrk_share']:.0%} of its core during"
                f" {server}'s full-load runs, so {server}'s {row['req_per_s']:,.0f} req/s is a"
                " floor, not its peak"
                + (" (the ratio by req/s flatters the edge; read the one by CPU)" if server ==
                   "nginx" else "")
            )
    if not out and s.get("edge_full"):
        out.append("load generator: not the bottleneck (wrk below"
                   f" {GENERATOR_BOUND_SHARE:.0%} of its core in every full-load median)")
    return out


def write_json(result: Mapping[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = str(result["started_at"]).replace(":", "").replace("-", "")
    path = directory / f"bench-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of one shape as a Markdown table (the fault trials' output, pasted into docs/)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _listed(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"
