"""Helpers for the edge's fault tests: a Valkey of the test's own (killed, stopped, restarted),
a real `smartlinks edge` (granian) pointed at it, records seeded as sync writes them, and a
load of real HTTP requests, each marked by its Referer so that its click can be found in the
stream."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from core import keys, records
from core.records import ContactRecord, DomainRecord, LinkRecord
from loadtest.httpload import Background
from smartlinks.embedded import EmbeddedRedis, free_port, wait_for_port
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.edge.conftest import HOST, IPHONE
from tests.servers import Process, smartlinks_process

REFERER = "https://ref.example.test/"


class Valkey:
    """A real Valkey on its own port and data folder, for one test to hurt."""

    def __init__(self, folder: Path, durable: bool = True) -> None:
        self.server = EmbeddedRedis(folder, free_port(), durable=durable)
        self.proc: subprocess.Popen | None = self.server.start()
        self.url = self.server.url

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def restart(self, fresh: bool = False) -> None:
        """On the same port: with the same data, or (fresh) an empty server."""
        if fresh:
            old = self.server
            self.server = EmbeddedRedis(
                old.data_dir.with_name(old.data_dir.name + "-fresh"),
                old.port,
                durable=False,
            )
            # The same password: the edge's REDIS_URL carries it, as after a real restart.
            self.server.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(old.data_dir / "valkey.password", self.server.data_dir / "valkey.password")
        self.proc = self.server.start()

    def close(self) -> None:
        if self.proc is not None:
            self.signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def link(
    link_id: int,
    version: int = 1,
    destination: str = "https://example.org/rsvp?first={{first_name}}",
    archived: bool = False,
) -> LinkRecord:
    """A link of the seeded domain (organisation 7, domain 1 on HOST)."""
    return LinkRecord(
        id=link_id,
        org_id=7,
        domain_id=1,
        hostname=HOST,
        version=version,
        destination=destination,
        archived=archived,
    )


def seed(url: str, codes: int, link_id: int = 10, prefix: str = "Fa") -> list[str]:
    """A domain, one link and ``codes`` contacts with their codes; the codes."""
    client = redis.Redis.from_url(url)
    store = RecordStore(client)
    store.put_domain(DomainRecord(id=1, org_id=7, hostname=HOST, version=1))
    store.put_link(link(link_id))
    out: list[tuple[str, int, int | None]] = []
    for i in range(codes):
        contact = ContactRecord(id=1000 + i, org_id=7, version=1, first_name=f"P{i}")
        store.put_contact(contact)
        out.append((f"{prefix}{i:05d}", link_id, contact.id))
    store.put_codes(out)
    client.close()
    return [c for c, _, _ in out]


@contextmanager
def edge_process(
    servers: Servers, redis_url: str, log_dir: Path, **env: str
) -> Iterator[tuple[Process, str]]:
    port = free_port()
    full = servers.env(REDIS_URL=redis_url, EDGE_PORT=str(port), **env)
    with smartlinks_process(["edge"], full, log_dir) as proc:
        wait_for_port("127.0.0.1", port, 30, proc.proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while httpx.get(base + "/healthz").status_code != 200:
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.05)
        yield proc, base


@dataclass
class Result:
    n: int
    code: str
    sent: float
    took: float
    status: int
    location: str = ""
    retry_after: str | None = None


@dataclass
class Load(Background):
    """Requests at ``rate`` a second (``concurrency`` at most in flight) until stopped; each a
    person's GET with the Referer REFERER<n>, for a code chosen by ``pick(n)``."""

    base: str
    pick: Any
    rate: float = 200
    concurrency: int = 32
    results: list[Result] = field(default_factory=list)

    def stop(self) -> list[Result]:  # type: ignore[override]
        super().stop()
        return self.results

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            gate = asyncio.Semaphore(self.concurrency)
            tasks = set()
            n = 0
            started = time.monotonic()
            while not self._stop.is_set():
                n += 1
                await gate.acquire()
                task = asyncio.create_task(self._one(client, gate, n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                delay = started + n / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*tasks)

    async def _one(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, n: int) -> None:
        code = self.pick(n)
        sent = time.monotonic()
        try:
            r = await client.get(
                f"{self.base}/{code}",
                headers={"Host": HOST, "User-Agent": IPHONE, "Referer": f"{REFERER}{n}"},
            )
        except httpx.HTTPError:  # no answer at all: status 0
            self.results.append(Result(n, code, sent, time.monotonic() - sent, 0))
        else:
            self.results.append(
                Result(
                    n,
                    code,
                    sent,
                    time.monotonic() - sent,
                    r.status_code,
                    r.headers.get("location", ""),
                    r.headers.get("retry-after"),
                )
            )
        finally:
            gate.release()


def stream_requests(client: redis.Redis) -> Counter[int]:
    """How many times each request (by its Referer number) is in the click stream."""
    found: Counter[int] = Counter()
    raw: Any = client.xrange(keys.CLICK_STREAM)
    for _id, fields in raw:
        event = fields.get(records.STREAM_EVENT.encode())
        if event is None:
            continue
        referer = records.click_decoder.decode(event).referer
        if referer.startswith(REFERER):
            found[int(referer[len(REFERER) :])] += 1
    return found


def metric(base: str, name: str) -> int:
    text = httpx.get(base + "/metrics").text
    match = re.search(rf"^smartlinks_edge_{name} (\d+)$", text, re.M)
    assert match, f"{name} not in /metrics:\n{text}"
    return int(match.group(1))


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
