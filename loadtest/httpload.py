"""A steady load of person GETs over keep-alive connections, each request marked and its
answer kept: what loadtest/trial.py drives the edge with.

Plain asyncio streams and a minimal HTTP/1.1 client (status line, Content-Length), about a
tenth of an HTTP library's CPU per request, so that one Python thread keeps up ~1,000
requests/s on a machine the edge shares. Request ``n`` is sent at ``n / rate`` seconds (or as
soon as a connection is free) with the Referer ``<prefix><n>``, so its click can be found.
A connection that fails (a killed worker) counts its request as status 0 and reconnects.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
TIMEOUT = 10.0


@dataclass(slots=True)
class Result:
    n: int
    code: str
    recent: bool  # a code clicked recently (the edge's memory may answer it)
    sent: float  # time.monotonic()
    took: float
    status: int  # 0: no answer (connection failed or timed out)


@dataclass(kw_only=True)
class Background:
    """A coroutine (``_run``) in a thread and event loop of its own, until ``stop()``: the
    caller goes on injecting faults meanwhile."""

    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(TIMEOUT + 20)

    async def _run(self) -> None:
        raise NotImplementedError


@dataclass
class Load(Background):
    ip: str
    port: int
    host: str  # the Host header
    prefix: str  # the Referer of request n is prefix + str(n)
    pick: Callable[[int], tuple[str, bool]]  # n -> (code, recent)
    rate: float
    connections: int = 64
    results: list[Result] = field(default_factory=list)

    def snapshot(self) -> list[Result]:
        return self.results[:]

    async def _run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        senders = [asyncio.create_task(self._connection(queue)) for _ in range(self.connections)]
        started = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while n < due:
                n += 1
                queue.put_nowait(n)
            await asyncio.sleep(0.002)
        for _ in senders:
            queue.put_nowait(0)  # each sender stops at a 0
        await asyncio.gather(*senders, return_exceptions=True)

    async def _connection(self, queue: asyncio.Queue[int]) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while (n := await queue.get()) != 0:
            code, recent = self.pick(n)
            request = (
                f"GET /{code} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {IPHONE}\r\n"
                f"Referer: {self.prefix}{n}\r\nAccept: */*\r\n\r\n"
            ).encode("latin-1")
            sent = time.monotonic()
            status = 0
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.ip, self.port), TIMEOUT
                    )
                assert reader is not None and writer is not None
                writer.write(request)
                status = await asyncio.wait_for(_response(reader), TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                if writer is not None:
                    writer.close()
                reader = writer = None
            self.results.append(Result(n, code, recent, sent, time.monotonic() - sent, status))
        if writer is not None:
            writer.close()


async def _response(reader: asyncio.StreamReader) -> int:
    """The status of one response (its body read and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status
