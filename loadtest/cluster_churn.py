"""Issue 13's trials: an online reshard and a master kill on a Valkey Cluster while ~1,000
clicks/s arrive through a real edge (granian), recorded by a real drain.

    python -m loadtest.cluster_churn [--rate 1000] [--before 5] [--after 10] [--slots 2000]
                                     [--faults reshard,kill] [--contacts 2000]

Starts an embedded PostgreSQL, a local cluster of 3 masters with a replica each
(smartlinks/cluster.py, node timeout 2 s), seeds a link with a whisper action and --contacts
contacts with their codes (loadtest/seed.py), publishes them (`smartlinks sync --full
--burst`, REDIS_PARTITIONS=64), and runs `smartlinks edge` and `smartlinks drain` on the
cluster. Per fault, a load of person GETs at --rate (each marked by its Referer,
loadtest/httpload.py) runs --before seconds, then the fault, then --after seconds:

  reshard   valkey-cli --cluster reshard of --slots slots from one master to another (their
            keys, stream shards among them, migrate while the edge writes to them: ASK, then
            MOVED, followed by edge/cluster.py)
  kill      kill -9 of the master serving the most stream shards: its replica is promoted

Columns (``trial``): requests sent, served (3xx), not 3xx ({status: how many}; 0: no answer), recorded
(served requests whose marker is in PostgreSQL's clicks), lost (served, not recorded),
duplicated (markers in clicks more than once, and whisper actions beyond one per click),
phantom (answered other than 3xx, yet recorded), and the fault's own time.
"""

from __future__ import annotations

import collections
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg

from core import config, keys
from loadtest import script_parser, seed, stack
from loadtest.httpload import Load
from loadtest.report import markdown_table
from smartlinks.cluster import EmbeddedCluster, running

Sql = Callable[[str, Any], list[tuple[Any, ...]]]
PARTITIONS = 64


def reshard(cluster: EmbeddedCluster, slots: int, partitions: int = PARTITIONS) -> str:
    """Move ``slots`` slots (their keys with them) from the master serving the most stream
    shards to another master, online."""
    masters = cluster.master_ports()
    owners = collections.Counter(cluster.owner(s) for s in keys.click_streams(partitions))
    source = max(masters, key=lambda p: owners[p])
    target = next(p for p in masters if p != source)
    began = time.monotonic()
    cluster.reshard(source, target, slots)
    moved = owners[source] - sum(
        1 for s in keys.click_streams(partitions) if cluster.owner(s) == source
    )
    return f"{slots} slots ({moved} stream shards) in {time.monotonic() - began:.1f} s"


def kill(cluster: EmbeddedCluster, partitions: int = PARTITIONS) -> str:
    """kill -9 of the master serving the most stream shards; until its replica is promoted."""
    owners = collections.Counter(cluster.owner(s) for s in keys.click_streams(partitions))
    victim = owners.most_common(1)[0][0]
    cluster.kill(victim)
    return f"promoted in {cluster.wait_promoted(victim):.1f} s"


def trial(
    fault: Callable[[], str], sql: Sql, edge_port: int, host: str,
    codes: list[str], rate: float, before: float, after: float, connections: int = 32,
) -> dict[str, Any]:  # fmt: skip
    """One fault under load; the counts, once every served click is recorded (or 45 s pass
    without a new one: longer than the drain's Redis socket timeout, 30 s)."""
    prefix = f"https://churn.example.test/{secrets.token_hex(3)}/"
    load = Load("127.0.0.1", edge_port, host, prefix,
                lambda n: (codes[(n * 7919) % len(codes)], False), rate, connections)  # fmt: skip
    started = time.monotonic()
    load.start()
    try:
        time.sleep(before)
        began = time.monotonic()
        note = fault()
        time.sleep(max(0.0, after - (time.monotonic() - began)))
    finally:
        load.stop()
    seconds = time.monotonic() - started
    results = load.snapshot()
    served = [r.n for r in results if 300 <= r.status < 400]

    def counts() -> dict[int, int]:
        rows = sql("SELECT referer, count(*) FROM clicks WHERE referer LIKE %s GROUP BY referer",
                   (prefix + "%",))  # fmt: skip
        return {int(r[len(prefix) :]): int(c) for r, c in rows}

    seen, last, quiet_since = counts(), -1, time.monotonic()
    while any(n not in seen for n in served) and time.monotonic() - quiet_since < 45:
        time.sleep(0.5)
        seen = counts()
        if len(seen) != last:
            last, quiet_since = len(seen), time.monotonic()
    ((whispers, whispered),) = sql(
        "SELECT count(h.id), count(DISTINCT h.click_id) FROM clicks c JOIN history_events h"
        " ON h.click_id = c.click_id AND h.type = 'whisper' WHERE c.referer LIKE %s",
        (prefix + "%",),
    )
    statuses = collections.Counter(r.status for r in results if not 300 <= r.status < 400)
    return {
        "requests": len(results),
        "load": f"{len(results) / seconds:.0f}/s over {seconds:.0f} s",
        "served": len(served),
        "not 3xx": dict(sorted(statuses.items())),  # status: how many (0: no answer)
        "recorded": sum(1 for n in served if n in seen),
        "lost": sum(1 for n in served if n not in seen),
        "duplicated": sum(c - 1 for c in seen.values()) + int(whispers) - int(whispered),
        "phantom": sum(1 for r in results if not 300 <= r.status < 400 and r.n in seen),
        "fault": note,
    }


def main(argv: list[str] | None = None) -> int:
    p = script_parser("loadtest.cluster_churn", __doc__)
    for flag, seconds_or_rate in (("--rate", 1000.0), ("--before", 5.0), ("--after", 10.0)):
        p.add_argument(flag, type=float, default=seconds_or_rate)
    p.add_argument("--slots", type=int, default=2000)
    p.add_argument("--contacts", type=int, default=2000)
    p.add_argument("--faults", default="reshard,kill")
    args = p.parse_args(argv)
    rows = []
    with ExitStack() as es, tempfile.TemporaryDirectory(prefix="churn-") as tmp:
        work = Path(tmp)
        cluster = es.enter_context(running(work / "cluster", replicas=1, node_timeout_ms=2000))
        stores = es.enter_context(stack.stores(work, "", cluster.url, None))
        env = stack.role_env(stores, work / "data", REDIS_CLUSTER="1",
                             REDIS_PARTITIONS=str(PARTITIONS), EDGE_WORKERS="1")  # fmt: skip
        logs = work / "logs"
        logs.mkdir()
        stack.run_role(["migrate"], env, logs / "migrate.log")
        dsn = config.to_libpq(stores.database_url)
        with psycopg.connect(dsn) as conn:
            seeded = seed.seed_link(conn, args.contacts)
        seed.issue(stores.database_url, seeded)
        stack.run_role(["sync", "--full", "--burst"], env, logs / "sync.log")
        with psycopg.connect(dsn) as conn:
            codes = [t.code for t in seed.targets(conn, seeded.hostname)]
        drain = stack.Child([*stack.SMARTLINKS, "drain"], logs / "drain.log", env)
        es.callback(drain.stop)
        _child, base = es.enter_context(stack.edge(env, logs, 0))
        port = int(base.rsplit(":", 1)[1])

        def sql(query: str, params: Any) -> list[tuple[Any, ...]]:
            with psycopg.connect(dsn, autocommit=True) as conn:
                return conn.execute(query, params).fetchall()

        faults = {"reshard": lambda: reshard(cluster, args.slots), "kill": lambda: kill(cluster)}
        for name in args.faults.split(","):
            row = trial(faults[name], sql, port, seeded.hostname, codes, args.rate,
                        args.before, args.after)  # fmt: skip
            rows.append({"trial": name, **row})
            print(json.dumps(rows[-1]), flush=True)
    print("\n" + markdown_table(rows))
    return 0 if all(r["lost"] == r["duplicated"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
