"""Servers of a test's own that it may stall, stop and start again: PostgreSQL and Valkey on
free ports (the session's servers, tests/conftest.py, are shared and must stay up), and the
fault sequence every long-running role must survive (issue 12, point 4)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from core import config
from smartlinks.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.conftest import Servers
from tests.servers import ROOT, SMARTLINKS, Process

STALL_SECONDS = 6.0  # longer than the sender's Redis timeout (5 s): a redis.TimeoutError
DOWN_SECONDS = 2.0  # refused connections meanwhile

# (server, fault): a stall (SIGSTOP, then SIGCONT) times out or blocks the role's calls; a
# restart closes its connections and refuses new ones until the server is back.
FAULTS = [("valkey", "stall"), ("valkey", "restart"), ("postgres", "stall"), ("postgres", "restart")]


@dataclass
class FaultyServers:
    pg: EmbeddedPostgres
    rd: EmbeddedRedis
    pg_proc: subprocess.Popen
    rd_proc: subprocess.Popen
    data_dir: Path

    @property
    def servers(self) -> Servers:
        return Servers(self.pg.url, self.rd.url, self.data_dir)

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(config.to_libpq(self.pg.url), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def _proc(self, name: str) -> subprocess.Popen:
        return self.pg_proc if name == "postgres" else self.rd_proc

    def stall(self, name: str, seconds: float = STALL_SECONDS) -> None:
        proc = self._proc(name)
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            proc.send_signal(signal.SIGCONT)

    def restart(self, name: str, down: float = DOWN_SECONDS) -> None:
        self.stop(name)
        time.sleep(down)
        if name == "postgres":
            self.pg_proc = self.pg.start()
        else:
            self.rd_proc = self.rd.start()

    def stop(self, name: str) -> None:
        proc = self._proc(name)
        # Postgres: fast shutdown (clients are disconnected); Valkey: SIGTERM (saves its AOF).
        proc.send_signal(signal.SIGINT if name == "postgres" else signal.SIGTERM)
        proc.wait(20)

    def inject(self, server: str, fault: str) -> None:
        (self.stall if fault == "stall" else self.restart)(server)


@contextmanager
def faulty_servers(base: Path) -> Iterator[FaultyServers]:
    pg = EmbeddedPostgres(base / "postgres", free_port(), durable=False)
    pg.prepare()
    rd = EmbeddedRedis(base / "valkey", free_port(), durable=True)  # keeps its data over a restart
    found = FaultyServers(pg, rd, pg.start(), rd.start(), base / "data")
    found.data_dir.mkdir(exist_ok=True)
    try:
        subprocess.run(
            [*SMARTLINKS, "migrate"], env=found.servers.env(), cwd=ROOT, check=True,
            capture_output=True,
        )  # fmt: skip
        yield found
    finally:
        for name in ("postgres", "valkey"):
            proc = found._proc(name)
            proc.send_signal(signal.SIGCONT)
            if proc.poll() is None:
                found.stop(name)


def survives_every_fault(
    found: FaultyServers, role: Process, work: Callable[[int], None]
) -> list[str]:
    """Inject each fault in turn; after each the role must still run and do ``work(n)`` again
    (``work`` waits until the n-th piece of work is done, or fails). Returns what happened."""
    work(0)
    done = []
    for n, (server, fault) in enumerate(FAULTS, 1):
        began = time.monotonic()
        found.inject(server, fault)
        assert role.proc.poll() is None, f"exited after a {server} {fault}:\n{role.log()}"
        work(n)
        assert role.proc.poll() is None, role.log()
        done.append(f"{server} {fault}: resumed {time.monotonic() - began:.1f} s after it began")
    return done


def wait_until(condition: Callable[[], bool], timeout: float, what: str, role: Process) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (psycopg.OperationalError, redis.RedisError, OSError):
            pass  # the test's own look while a server is coming back
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{role.log()[-4000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyServers]:
    """Own servers for a module's fault tests (import this fixture into the module)."""
    with faulty_servers(tmp_path_factory.mktemp("faulty")) as found:
        yield found


def seeded(found: FaultyServers, contacts: int = 10) -> tuple[int, int, int, list[int]]:
    """A new organisation, domain, link and contacts: (org, domain, link, contact ids)."""
    from loadtest.drain_throughput import seed

    with psycopg.connect(config.to_libpq(found.pg.url), autocommit=True) as conn:
        return seed(conn, contacts)
