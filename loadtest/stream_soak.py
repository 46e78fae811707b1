"""Stream soak: does the click stream stay flat under the fastest appends this machine gives?

    python -m loadtest.stream_soak --seconds 120 [--every 5]

Starts its own PostgreSQL and Valkey (or uses DATABASE_URL/REDIS_URL when set), a real
`smartlinks drain` process, and a producer that appends click events in pipelined XADDs of 500
as fast as it can, backing off only while the drain has more than ``--max-lag`` entries still
unread (an unread entry must stay, whatever the trimming; the producer runs at the rate the
drain sustains). Every ``--every`` seconds it prints XLEN, the group's lag and pending entries,
the acknowledged entries still in the stream (``retained``: what trimming has not removed yet)
and Valkey's used_memory; at the end it asserts that XLEN and used_memory are flat. Before
issue 12 (``XTRIM MINID ~`` every 5 s, at most 10,000 entries a call) ``retained`` grew by the
rate times 5 s at any rate, and without bound above ~2,000 clicks/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
import redis

from core import config, keys
from loadtest.drain_throughput import append_events, seed
from loadtest.stack import SMARTLINKS, Child, Stores, role_env, run_role, stores

CHUNK = 500


@dataclass(frozen=True)
class Sample:
    t: float
    appended: int
    xlen: int
    lag: int
    pending: int
    retained: int  # acknowledged, still in the stream
    used_memory: int


def sample(client: redis.Redis, started: float, appended: int) -> Sample:
    """One consistent reading (a MULTI: nothing runs between its commands)."""
    pipe = client.pipeline(transaction=True)
    pipe.xlen(keys.CLICK_STREAM)
    pipe.xinfo_groups(keys.CLICK_STREAM)
    pipe.xpending(keys.CLICK_STREAM, keys.DRAIN_GROUP)
    pipe.info("memory")
    xlen, groups, pending, memory = pipe.execute()
    group = next(g for g in groups if g["name"] in (keys.DRAIN_GROUP, keys.DRAIN_GROUP.encode()))
    lag, held = int(group["lag"] or 0), int(pending["pending"])
    return Sample(
        round(time.monotonic() - started, 1), appended, int(xlen), lag, held,
        int(xlen) - lag - held, int(memory["used_memory"]),
    )  # fmt: skip


def produce(
    client: redis.Redis,
    ref: tuple[int, int, list[int]],
    seconds: float,
    max_lag: int,
    every: float,
    on_sample: Callable[[Sample], None] = lambda s: None,
) -> list[Sample]:
    """Append as fast as possible for ``seconds``; a sample every ``every`` seconds."""
    link, domain, contacts = ref
    started = time.monotonic()
    appended, samples, next_sample = 0, [], started
    while (now := time.monotonic()) < started + seconds:
        if now >= next_sample:
            samples.append(sample(client, started, appended))
            on_sample(samples[-1])
            next_sample = now + every
        group = client.xinfo_groups(keys.CLICK_STREAM)
        if group and int(group[0]["lag"] or 0) > max_lag:
            time.sleep(0.005)
            continue
        append_events(client, link, domain, contacts, CHUNK)
        appended += CHUNK
    samples.append(sample(client, started, appended))
    on_sample(samples[-1])
    return samples


def check_flat(samples: list[Sample], max_lag: int, batch: int) -> list[str]:
    """What is not flat (empty: all is well). XLEN is bounded by what is unread (the producer
    keeps that under ``max_lag``), what is in hand (the drain's lanes' batches) and a few
    batches acknowledged out of order between lanes; memory does not grow past warming up."""
    problems = []
    worst = max(s.xlen for s in samples)
    if worst > max_lag + 8 * batch:
        problems.append(f"XLEN reached {worst} (bound {max_lag + 8 * batch})")
    retained = max(s.retained for s in samples)
    if retained > 4 * batch:
        problems.append(f"{retained} acknowledged entries left in the stream")
    warm = samples[len(samples) // 4 :]
    first, last = warm[0].used_memory, max(s.used_memory for s in warm[len(warm) // 2 :])
    if last > first * 1.25 + 4_000_000:
        problems.append(f"used_memory grew from {first} to {last}")
    return problems


def run(
    store: Stores, work: Path, seconds: float, every: float, max_lag: int, batch: int
) -> tuple[list[Sample], float]:
    env = role_env(store, work, DRAIN_BATCH=str(batch))
    run_role(["migrate"], env, work / "migrate.log")
    with psycopg.connect(config.to_libpq(store.database_url), autocommit=True) as conn:
        _org, domain, link, contacts = seed(conn, 2000)
    client = redis.Redis.from_url(store.redis_url)
    drain = Child([*SMARTLINKS, "drain"], work / "drain.log", env)
    try:
        deadline = time.monotonic() + 30
        while not client.exists(keys.CLICK_STREAM):  # the drain made its group
            if time.monotonic() > deadline or drain.proc.poll() is not None:
                raise RuntimeError(f"the drain did not start:\n{drain.tail()}")
            time.sleep(0.1)

        def show(s: Sample) -> None:
            print(json.dumps(asdict(s)), flush=True)

        samples = produce(client, (link, domain, contacts), seconds, max_lag, every, show)
        rate = samples[-1].appended / samples[-1].t
    finally:
        drain.stop()
        client.close()
    return samples, rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--every", type=float, default=5)
    parser.add_argument("--max-lag", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    settings = config.load()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stream-soak-")))
        db_url = config.database_url(settings)
        store = stack.enter_context(
            stores(work, db_url, config.redis_url(settings) or "", None)
        )
        samples, rate = run(store, work, args.seconds, args.every, args.max_lag, args.batch)
    problems = check_flat(samples, args.max_lag, args.batch)
    print(json.dumps({"clicks_per_second": round(rate), "flat": not problems, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
