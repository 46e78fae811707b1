"""Faults under load on the worker side: kill -9 of the drain, of PostgreSQL and of sync while
~1,000 clicks/s are appended to the click stream; prints the table of issue 12.

    python -m loadtest.faults [--rate 1000] [--before 10] [--after 20]

Starts its own durable PostgreSQL and Valkey, `smartlinks drain` and `smartlinks sync`, and a
producer appending click events exactly as the edge does (90% human clicks by contacts with
actions whisper, tag and list; 5% generic; 5% previews). Each fault gets a fresh link: the
producer runs ``--before`` seconds, the fault is injected (the killed process is started again
at once, as `smartlinks up`'s supervisor does after 0.25 s), the producer runs ``--after``
seconds more, then the drain is given time to catch up. Columns:

- served: click events appended (what the edge served and appended);
- recorded: rows in ``clicks`` for the link;
- lost: appended click ids with no row; phantom: rows with no appended click id;
- dup actions: whisper history events beyond one per recorded human click by a contact;
- recovery: drain, PostgreSQL: from the fault until every click appended before it is
  recorded; sync: from its restart until a change made while it was down is in Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from core import config, keys
from loadtest.drain_throughput import append_events, seed
from loadtest.report import markdown_table
from loadtest.stack import SMARTLINKS, Child, role_env, run_role
from smartlinks.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

CHUNK_SECONDS = 0.05


@dataclass
class Producer:
    client: redis.Redis
    ref: tuple[int, int, list[int]]
    rate: int
    appended: list[tuple[str, bool]] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        link, domain, contacts = self.ref
        per_chunk = max(1, int(self.rate * CHUNK_SECONDS))
        due = time.monotonic()
        while not self.stop.is_set():
            try:
                self.appended += append_events(self.client, link, domain, contacts, per_chunk)
            except redis.RedisError:
                self.errors += 1  # not appended: the edge would not have served it
            due += CHUNK_SECONDS
            time.sleep(max(0.0, due - time.monotonic()))


@dataclass
class Stack:
    work: Path
    pg: EmbeddedPostgres
    rd: EmbeddedRedis
    pg_proc: Any = None
    rd_proc: Any = None
    roles: dict[str, Child] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return config.to_libpq(self.pg.url)

    def env(self) -> dict[str, str]:
        from loadtest.stack import Stores

        return role_env(Stores(self.pg.url, self.rd.url, None, True), self.work / "data")

    def start_role(self, name: str) -> None:
        self.roles[name] = Child([*SMARTLINKS, name], self.work / f"{name}.log", self.env())

    def kill9(self, name: str) -> None:
        if name == "postgres":
            os.killpg(self.pg_proc.pid, signal.SIGKILL)  # the postmaster and its backends
            self.pg_proc.wait()
            return
        child = self.roles[name]
        os.killpg(child.pid, signal.SIGKILL)
        child.proc.wait()

    def stop_roles(self) -> None:
        for child in self.roles.values():
            child.stop()

    def stop_servers(self) -> None:
        for proc in (self.pg_proc, self.rd_proc):
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # a throwaway data folder: no need to be kind

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


def _wait(condition: Any, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with suppress(psycopg.OperationalError):
            if condition():
                return time.monotonic() - began
        time.sleep(0.05)
    return None


def _publish_change(stack: Stack, domain: int, link: int) -> int:
    ((outbox,),) = stack.sql(
        "INSERT INTO sync_outbox (entity, entity_id, version) VALUES"
        " ('link', %s, nextval('record_versions')) RETURNING id", (link,),
    )  # fmt: skip
    stack.sql("SELECT pg_notify('sync_outbox', 'link')")
    return int(outbox)


def run_fault(stack: Stack, fault: str, rate: int, before: float, after: float) -> dict[str, Any]:
    with psycopg.connect(stack.url, autocommit=True) as conn:
        _org, domain, link, contacts = seed(conn, 500)
    client = redis.Redis.from_url(stack.rd.url, socket_timeout=5)
    producer = Producer(client, (link, domain, contacts), rate)
    thread = threading.Thread(target=producer.run, daemon=True)
    thread.start()
    time.sleep(before)
    in_hand = [c for c, _ in producer.appended]
    recovery: float | None
    back: float | None = None  # PostgreSQL accepting connections again
    faulted = time.monotonic()
    if fault == "sync":
        stack.kill9("sync")
        outbox = _publish_change(stack, domain, link)  # made while sync is down
        time.sleep(0.25)
        stack.start_role("sync")
        restarted = time.monotonic()
        done = _wait(lambda: stack.sql("SELECT processed_at IS NOT NULL FROM sync_outbox"
                                       " WHERE id = %s", (outbox,)) == [(True,)]
                     and client.exists(keys.link(link)), 60)  # fmt: skip
        recovery = None if done is None else time.monotonic() - restarted
    else:
        stack.kill9(fault)
        time.sleep(0.25)
        if fault == "drain":
            stack.start_role("drain")
        else:
            stack.pg_proc = stack.pg.start()  # crash recovery, then it accepts connections
            back = time.monotonic() - faulted
        done = _wait(lambda: stack.sql("SELECT count(*) FROM clicks WHERE click_id = ANY(%s)",
                                       (in_hand,)) == [(len(in_hand),)], 120)  # fmt: skip
        recovery = None if done is None else time.monotonic() - faulted
    time.sleep(max(0.0, after - (time.monotonic() - faulted)))
    producer.stop.set()
    thread.join()
    served = {c for c, _ in producer.appended}
    _wait(lambda: stack.sql("SELECT count(*) FROM clicks WHERE link_id = %s", (link,))
          >= [(len(served),)], 120)  # fmt: skip
    time.sleep(1.0)  # anything late (a duplicate would show here)
    rows = {r[0] for r in stack.sql("SELECT click_id FROM clicks WHERE link_id = %s", (link,))}
    expected_whispers = sum(1 for c, human in producer.appended if human and c in rows)
    ((whispers,),) = stack.sql(
        "SELECT count(*) FROM history_events WHERE type = 'whisper' AND click_id = ANY(%s)",
        (list(rows),),
    )
    client.close()
    return {
        "fault": f"kill -9 {fault}",
        "load": f"{rate}/s",
        "served": len(served),
        "recorded": len(rows),
        "lost": len(served - rows),
        "phantom": len(rows - served),
        "dup actions": whispers - expected_whispers,
        "recovery": ("never" if recovery is None else f"{recovery:.2f} s")
        + ("" if back is None else f" (server back at {back:.2f} s)"),
        "append errors": producer.errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--before", type=float, default=10)
    parser.add_argument("--after", type=float, default=20)
    parser.add_argument("--faults", default="drain,postgres,sync")
    args = parser.parse_args()
    rows = []
    with ExitStack() as stack_exit:
        work = Path(stack_exit.enter_context(tempfile.TemporaryDirectory(prefix="faults-")))
        stack = Stack(work, EmbeddedPostgres(work / "postgres", free_port()),
                      EmbeddedRedis(work / "valkey", free_port()))  # fmt: skip
        stack.pg.prepare()
        stack.pg_proc = stack.pg.start()
        stack.rd_proc = stack.rd.start()
        stack_exit.callback(stack.stop_servers)
        run_role(["migrate"], stack.env(), work / "migrate.log")
        for role in ("drain", "sync"):
            stack.start_role(role)
        stack_exit.callback(stack.stop_roles)
        for fault in args.faults.split(","):
            rows.append(run_fault(stack, fault, args.rate, args.before, args.after))
            print(json.dumps(rows[-1]), flush=True)
    print("\n" + markdown_table(rows))
    return 0 if all(r["lost"] == r["phantom"] == r["dup actions"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
