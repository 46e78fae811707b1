"""`python -m loadtest.bench`: the edge against nginx `return 302` on the same core, with the
same traffic, then proof that every served click reached Postgres.

Steps (docs/decisions/0005-benchmark-method.md says why each is done this way):
 1. real Postgres and Valkey (embedded, on free ports, in a temporary folder) unless
    DATABASE_URL / REDIS_URL are set; migrations;
 2. seed an organisation, a domain, a link with merge fields and actions, N contacts; issue
    every contact's code and the generic one; `smartlinks sync --full --burst`: issue-and-sync
    codes per second, and Redis bytes per issued code;
 3. the edge (one granian worker) and nginx (one worker) pinned to the server core, wrk pinned
    to the client core; warm-up, then full load alternating edge, nginx (x runs), then half load
    (an open-loop schedule at half of each one's median peak) alternating the same way;
 4. `smartlinks drain --burst`: clicks per second with actions, then every 3xx (a person's
    click) and 2xx (a preview) that wrk saw must be a row in `clicks`.
Prints a table, writes JSON to loadtest/results/, exits 1 if a served click is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from core import config, keys
from loadtest import machine, profile, report, script_parser, seed, stack, traffic
from loadtest.wrk import WrkRun, run_wrk

RESULTS_DIR = Path(__file__).with_name("results")


@dataclass
class Options:
    contacts: int = 100_000
    seconds: float = 10.0
    warmup: float = 3.0
    runs: int = 3
    connections: int = 64
    requests: int = 200_000  # lines in wrk's request list (it walks them in a loop)
    server_cpu: int | None = None
    client_cpu: int | None = None
    redis_core: str = "server"  # where an embedded Valkey runs: "server" | "client" | "any"
    keep: bool = False
    results_dir: Path = RESULTS_DIR
    quick: bool = False
    profile: bool = False


@dataclass
class Result:
    started_at: str
    options: dict[str, Any]
    machine: dict[str, Any]
    seed: dict[str, Any] = field(default_factory=dict)
    sync: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    drain: dict[str, Any] = field(default_factory=dict)
    clicks: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds since the start, per step
    profile: dict[str, Any] = field(default_factory=dict)
    valkey: dict[str, Any] = field(default_factory=dict)  # its own pauses during the load


def parse_args(argv: list[str] | None) -> Options:
    p = script_parser("loadtest.bench", __doc__)
    p.add_argument("--contacts", type=int, default=100_000, help="contacts and issued codes")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured run per server first")
    p.add_argument("--runs", type=int, default=3, help="runs per server and load (median)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections")
    p.add_argument("--requests", type=int, default=200_000, help="distinct requests wrk walks")
    p.add_argument("--server-cpu", type=int, help="core of the edge and nginx (default: first)")
    p.add_argument("--client-cpu", type=int, help="core of wrk (default: the next one)")
    p.add_argument(
        "--redis-core",
        choices=("server", "client", "any"),
        default="server",
        help="pin the embedded Valkey with the servers (default) or with wrk",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1,000 contacts, 2 s runs, one run each, no warm-up",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="one more edge run with py-spy on its worker (pip install py-spy)",
    )
    a = p.parse_args(argv)
    opts = Options(
        a.contacts,
        a.seconds,
        a.warmup,
        a.runs,
        a.connections,
        a.requests,
        a.server_cpu,
        a.client_cpu,
        a.redis_core,
        a.keep,
        a.results_dir,
        a.quick,
        a.profile,
    )
    if a.quick:
        opts.contacts, opts.seconds, opts.warmup, opts.runs = 1_000, 2.0, 0.0, 1
        opts.requests = 5_000
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        settings = config.load()
        tools = machine.ensure_tools()
    except (config.SettingsError, machine.MissingTool, OSError) as exc:
        print(f"loadtest.bench: {exc}", file=sys.stderr)
        return 2
    server_cpu, client_cpu = machine.cpu_plan(opts.server_cpu, opts.client_cpu)
    result = Result(
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        options={k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        machine={
            "cores": os.cpu_count(),
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "loadavg_before": os.getloadavg(),
            "python": sys.version.split()[0],
            "tools": tools,
        },
    )
    if server_cpu == client_cpu:
        print("loadtest.bench: one core only: server and wrk share it", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="smartlinks-bench-"))
    try:
        ok = run(opts, settings, result, tools, work, server_cpu, client_cpu)
    finally:
        if not opts.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and data kept in {work}", file=sys.stderr)
    print(report.table(asdict(result)))
    path = report.write_json(asdict(result), opts.results_dir)
    print(f"\nresults: {path}")
    return 0 if ok else 1


def run(
    opts: Options,
    settings: config.Settings,
    result: Result,
    tools: dict[str, str],
    work: Path,
    server_cpu: int,
    client_cpu: int,
) -> bool:
    redis_cpu = {"server": server_cpu, "client": client_cpu, "any": None}[opts.redis_core]
    logs = work / "logs"
    logs.mkdir()
    t0 = time.perf_counter()

    def mark(name: str) -> None:
        result.phases[name] = round(time.perf_counter() - t0, 2)

    with ExitStack() as es:
        stores = es.enter_context(
            stack.stores(
                work,
                # Given servers, else embedded ones of its own (not a running `up`'s).
                settings.database_url,
                settings.redis_url,
                redis_cpu,
            )
        )
        result.machine["redis"] = "embedded" if stores.embedded else "given"
        result.machine["redis_cpu"] = redis_cpu if stores.embedded else None
        env = stack.role_env(stores, work / "data")
        mark("servers")
        stack.run_role(["migrate"], env, logs / "migrate.log")
        mark("migrate")
        rdb = redis.Redis.from_url(stores.redis_url)
        es.callback(rdb.close)

        seeded, targets = seed_and_sync(opts, result, stores, env, rdb, logs)
        mark("seed, issue and sync")
        # The drain's start-up (and its consumer group) before any click: subtracted later.
        drain_startup = stack.run_role(["drain", "--burst"], env, logs / "drain.log")
        stream_before = stream_counts(rdb)
        mark("empty drain")

        requests_file = work / "requests.tsv"
        traffic.write_requests(
            requests_file, traffic.build_requests(targets, max(opts.requests, len(targets)))
        )
        edge_child, edge_url = es.enter_context(stack.edge(env, logs, server_cpu))
        nginx_child, nginx_url = es.enter_context(
            stack.nginx(tools["nginx"], work / "nginx", server_cpu)
        )
        mark("edge and nginx up")
        if stores.embedded:
            watch_valkey(rdb)
        redis_pids = [stores.redis_pid] if stores.redis_pid else []
        servers = {
            "edge": (edge_url, stack.process_tree(edge_child.pid)),
            "nginx": (nginx_url, stack.process_tree(nginx_child.pid)),
        }

        def load(server: str, load: str, seconds: float, rate: float) -> WrkRun:
            url, pids = servers[server]
            r = run_wrk(
                tools["wrk"],
                server=server,
                load=load,
                url=url + "/",
                requests_file=requests_file,
                host=seeded.hostname,
                connections=opts.connections,
                seconds=seconds,
                rate=rate,
                client_cpu=client_cpu,
                server_cpu=server_cpu,
                server_pids=pids,
                redis_pids=redis_pids if server == "edge" else [],
            )
            result.runs.append(r.as_dict())
            print(report.run_line(r), file=sys.stderr, flush=True)
            return r

        for server in servers:
            if opts.warmup > 0:
                load(server, "warmup", opts.warmup, 0)
        full: dict[str, list[WrkRun]] = {s: [] for s in servers}
        for _ in range(opts.runs):
            for server in servers:
                full[server].append(load(server, "full", opts.seconds, 0))
        peak = {s: statistics.median(r.req_per_s for r in runs) for s, runs in full.items()}
        if stores.embedded:
            result.valkey["full"] = valkey_pauses(rdb)
            watch_valkey(rdb)  # the half-load runs' pauses apart: they make its p99
        half: dict[str, list[WrkRun]] = {s: [] for s in servers}
        for _ in range(opts.runs):
            for server in servers:
                half[server].append(load(server, "half", opts.seconds, peak[server] / 2))
        result.summary = report.summarize(
            full, half, redis_on_server_core=stores.embedded and redis_cpu == server_cpu
        )
        if opts.profile:
            result.profile = profile_edge(opts, servers["edge"][1], load, logs)
        mark("load")
        if stores.embedded:
            result.valkey["half"] = valkey_pauses(rdb)
        edge_runs = [r for r in result.runs if r["server"] == "edge"]
        # The edge goes before the drain: nothing may be appended while we count.
        edge_child.stop()

        stream_after = stream_counts(rdb)
        drain_seconds = stack.run_role(["drain", "--burst"], env, logs / "drain.log")
        result.drain = drain_figures(
            stores, seeded, drain_seconds, drain_startup, stream_before, stream_after
        )
        result.drain["duplicates"] = drain_duplicates(logs / "drain.log")
        mark("drain")
        result.clicks = check_clicks(stores, seeded, edge_runs, opts.connections, result.drain)
        rdb.close()
    return bool(result.clicks.get("ok"))


def profile_edge(opts: Options, edge_pids: list[int], load: Any, logs: Path) -> dict[str, Any]:
    """py-spy on the edge's worker during one more full-load run."""
    worker = stack.busiest_worker(edge_pids[0])
    raw = opts.results_dir / f"edge-profile-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    try:
        spy = profile.record(worker, opts.seconds, raw)
    except RuntimeError as exc:
        print(f"loadtest.bench: no profile: {exc}", file=sys.stderr)
        return {"error": str(exc)}
    load("edge", "profile", opts.seconds, 0)
    _, err = spy.communicate(timeout=60)
    if not raw.exists():
        return {"error": err.decode(errors="replace")[-2000:]}
    summary = profile.summarize(raw)
    print(profile.render(summary), file=sys.stderr)
    svg = raw.with_suffix(".svg")
    return {
        "collapsed_stacks": str(raw),
        "svg": str(svg) if profile.flamegraph(raw, svg) else None,
        **summary,
    }


def watch_valkey(rdb: redis.Redis) -> None:
    """Valkey's latency monitor from here on: every event of its own (a command, the AOF's
    write or fsync, a fork, expiry) that took 1 ms or more, by kind (a tail the edge cannot
    cause); and its counts of forks and fsync waits, to tell what happened since."""
    rdb.config_set("latency-monitor-threshold", 1)
    rdb.execute_command("LATENCY", "RESET")
    # and which commands the monitor's "command" events were (it records only their time)
    rdb.config_set("slowlog-log-slower-than", SLOW_COMMAND_US)
    rdb.config_set("slowlog-max-len", 1024)
    rdb.execute_command("SLOWLOG", "RESET")
    _valkey_counts.clear()
    _valkey_counts.update(_counts(rdb))


_valkey_counts: dict[str, int] = {}
SLOW_COMMAND_US = 2000


def slow_commands(rdb: redis.Redis) -> dict[str, dict[str, Any]]:
    """The commands that ran SLOW_COMMAND_US or longer since ``watch_valkey``, by name (a
    script by its name or first 8 characters of its SHA): how many, the longest in ms."""
    found: dict[str, dict[str, Any]] = {}
    for entry in rdb.execute_command("SLOWLOG", "GET", 1024):
        _id, _at, micros, args, *_ = entry
        words = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in args]
        name = words[0].upper() if words else "?"
        if name in ("EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO") and len(words) > 1:
            name = f"{name} {words[1][:8]}"
        slot = found.setdefault(name, {"count": 0, "max_ms": 0.0})
        slot["count"] += 1
        slot["max_ms"] = max(slot["max_ms"], round(int(micros) / 1000, 1))
    return found


def _counts(rdb: redis.Redis) -> dict[str, int]:
    info = {**rdb.info("stats"), **rdb.info("persistence")}
    return {
        "forks": int(info.get("total_forks", 0)),
        # times the main thread had to wait for the AOF's background fsync (the every-second
        # policy's one blocking case: an fsync still running after 2 s)
        "aof_delayed_fsync": int(info.get("aof_delayed_fsync", 0)),
    }


def valkey_pauses(rdb: redis.Redis) -> dict[str, Any]:
    """Valkey's pauses and counts since ``watch_valkey``."""
    events = {
        (name.decode() if isinstance(name, bytes) else str(name)): {
            "latest_ms": int(latest),
            "max_ms": int(most),
            # in how many seconds it happened (the monitor keeps one sample per second): a
            # pause once in a run is not a pause every second
            "seconds": len(rdb.execute_command("LATENCY", "HISTORY", name)),
        }
        for name, _, latest, most, *_ in rdb.execute_command("LATENCY", "LATEST")
    }
    now = _counts(rdb)
    return {
        "events_over_1ms": events,
        "slow_commands": slow_commands(rdb),
        "slow_command_ms": SLOW_COMMAND_US / 1000,
        **{k: now[k] - _valkey_counts.get(k, 0) for k in now},
    }


def seed_and_sync(
    opts: Options,
    result: Result,
    stores: stack.Stores,
    env: dict[str, str],
    rdb: redis.Redis,
    logs: Path,
) -> tuple[seed.Seeded, list[traffic.Target]]:
    started = time.perf_counter()
    with psycopg.connect(config.to_libpq(stores.database_url)) as conn:
        seeded = seed.seed_link(conn, opts.contacts)
    seed_seconds = time.perf_counter() - started
    issued = seed.issue(stores.database_url, seeded)
    memory_before = int(rdb.info("memory")["used_memory"])
    sync_seconds = stack.run_role(["sync", "--full", "--burst"], env, logs / "sync.log")
    memory_after = int(rdb.info("memory")["used_memory"])
    with psycopg.connect(config.to_libpq(stores.database_url)) as conn:
        targets = seed.targets(conn, seeded.hostname)
    live = sum(1 for t in targets[:200] if rdb.hexists(keys.code_bucket(t.code), t.code))
    if live < min(200, len(targets)):
        raise RuntimeError(f"sync published only {live} of the first 200 codes to Redis")
    bucket_bytes = code_bucket_bytes(rdb) if stores.embedded else None
    result.seed = {
        "hostname": seeded.hostname,
        "org_id": seeded.org_id,
        "link_id": seeded.link_id,
        "contacts": seeded.contacts,
        "seed_seconds": seed_seconds,
    }
    result.sync = {
        "codes": issued.codes,
        "issue_method": issued.method,
        "issue_seconds": issued.seconds,
        "sync_seconds": sync_seconds,
        "codes_per_s": issued.codes / (issued.seconds + sync_seconds),
        "redis_bytes_per_code_all_records": (memory_after - memory_before) / issued.codes,
        "redis_bytes_per_code_buckets": (bucket_bytes / issued.codes) if bucket_bytes else None,
    }
    return seeded, targets


def code_bucket_bytes(rdb: redis.Redis) -> int:
    """MEMORY USAGE of every code bucket: what the codes alone cost (their contacts' records
    are counted apart)."""
    total = 0
    pipe = rdb.pipeline(transaction=False)
    names = list(rdb.scan_iter(match=keys.code_bucket("*")[:-1] + "*", count=1000))
    for name in names:
        pipe.memory_usage(name, samples=0)
    for size in pipe.execute():
        total += int(size or 0)
    return total


def stream_counts(rdb: redis.Redis) -> dict[str, int]:
    try:
        info = rdb.xinfo_stream(keys.CLICK_STREAM)
    except redis.ResponseError:  # no stream yet
        return {"added": 0, "length": 0, "dead": 0}
    return {
        "added": int(info.get("entries-added", info.get("length", 0))),
        "length": int(info.get("length", 0)),
        "dead": int(rdb.xlen(keys.DEAD_LETTER_STREAM)),
    }


def drain_duplicates(log_path: Path) -> int:
    """Events the last drain run found already recorded (the same click id appended twice: a
    click the edge spooled after its script had appended it in Redis, replayed; decision 0009),
    from its "drain stopped" log line."""
    found = 0
    for line in log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("event") == "drain stopped":
                found = int(event.get("duplicates", 0))
    return found


def drain_figures(
    stores: stack.Stores,
    seeded: seed.Seeded,
    seconds: float,
    startup: float,
    before: dict[str, int],
    after: dict[str, int],
) -> dict[str, Any]:
    with psycopg.connect(config.to_libpq(stores.database_url)) as conn:
        rows = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE kind = 'human') FROM clicks WHERE link_id = %s",
            (seeded.link_id,),
        ).fetchone()
        whispers = conn.execute(
            "SELECT count(*) FROM history_events WHERE link_id = %s AND type = 'whisper'",
            (seeded.link_id,),
        ).fetchone()
    total, human = (int(rows[0]), int(rows[1])) if rows else (0, 0)
    work = max(seconds - startup, 1e-6)
    return {
        "seconds": seconds,
        "startup_seconds": startup,
        "clicks": total,
        "human_clicks": human,
        "whispers": int(whispers[0]) if whispers else 0,
        "clicks_per_s": total / work,
        "clicks_per_s_with_startup": total / seconds if seconds else 0.0,
        "stream_appended": after["added"] - before["added"],
        "dead_letters": after["dead"] - before["dead"],
    }


def check_clicks(
    stores: stack.Stores,
    seeded: seed.Seeded,
    edge_runs: list[dict[str, Any]],
    connections: int,
    drain: dict[str, Any],
) -> dict[str, Any]:
    """Every answer wrk counted must be a row: 3xx are people's clicks, 2xx previews. A few
    more rows than answers are fine: requests in flight when wrk stopped were served (and
    recorded) but not counted by wrk, at most one per connection per run."""
    served_human = sum(r["status"]["3xx"] for r in edge_runs)
    served_preview = sum(r["status"]["2xx"] for r in edge_runs)
    with psycopg.connect(config.to_libpq(stores.database_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE kind = 'human'),"
            " count(*) FILTER (WHERE kind IN ('preview', 'bot')) FROM clicks WHERE link_id = %s",
            (seeded.link_id,),
        ).fetchone()
    human, preview = (int(row[0]), int(row[1])) if row else (0, 0)
    # A 5xx (Redis too slow: the edge gave up waiting after 250 ms) may still have had its
    # event appended by the script that Redis ran late: recorded, but not answered 3xx/2xx.
    late = sum(r["status"]["other"] for r in edge_runs)
    slack = connections * len(edge_runs) + late
    problems = []
    if human < served_human:
        problems.append(f"{served_human - human} people's clicks served but not recorded")
    if preview < served_preview:
        problems.append(f"{served_preview - preview} previews served but not recorded")
    extra = human + preview - served_human - served_preview
    if extra > slack:
        problems.append(
            f"{extra} more rows than answers (more than {slack}: in flight, or answered 5xx)"
        )
    # Every appended event is a row, or a second append of a click that has one.
    duplicates = int(drain.get("duplicates", 0))
    if stores.embedded and drain["stream_appended"] != human + preview + duplicates:
        problems.append(
            f"the edge appended {drain['stream_appended']} events, Postgres has "
            f"{human + preview} rows and the drain found {duplicates} appended twice"
        )
    if drain["dead_letters"]:
        problems.append(f"{drain['dead_letters']} events went to the dead-letter stream")
    return {
        "served_human": served_human,
        "served_preview": served_preview,
        "recorded_human": human,
        "recorded_preview": preview,
        "in_flight_extra": extra,
        "appended_twice": duplicates,
        "unknown_404": sum(r["status"]["404"] for r in edge_runs),
        "other_status": sum(r["status"]["other"] for r in edge_runs),
        "problems": problems,
        "ok": not problems,
    }


if __name__ == "__main__":
    sys.exit(main())
