"""Clicks the edge answered but Redis did not record, kept on local disk until Redis takes them.

A click answered from memory during an outage (edge/outage.py), or one whose script ran past
its deadline (edge/resolve.py), is added here as the stream entry it should have been (fields
``e`` and ``r``, or ``a`` for an amendment). A background task of the worker writes what was
added in small batches (at most FLUSH_SECONDS or FLUSH_ENTRIES apart) to the worker's spool
file and fsyncs it; when Redis answers again it replays the files with XADD, then removes them.
The drain inserts clicks ON CONFLICT (click_id) DO NOTHING, so an entry sent twice (a replay
cut short, a file replayed again after a crash) still counts once.

Files: ``<folder>/<host>-<pid>-<random>.spool``, each a sequence of records
``<u32 length><u32 crc32><msgpack {field: bytes}>`` (little-endian); a torn or corrupt tail
(a crash mid-write) ends the file. Each worker holds an ``flock`` on the files it owns; a file
nobody holds a lock on belongs to a worker that is gone (the lock dies with the process), and
any worker may take it over and replay it (checked every SCAN_SECONDS and at start).

A spool that cannot be written (read-only, disk full, no such folder) never stops a redirect:
the entries are dropped and their clicks counted as unrecorded in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from core import logs
from core.records import STREAM_EVENT
from edge.metrics import Metrics

log = logging.getLogger("edge.spool")

SUFFIX = ".spool"
HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
FLUSH_SECONDS = 0.05  # a batch of added entries waits at most this long for its fsync
FLUSH_ENTRIES = 256  # ... or until this many are waiting
SCAN_SECONDS = 10.0  # how often to look for the spools of workers that are gone
RETRY_SECONDS = 1.0  # after a replay cut short
REPLAY_CHUNK = 256  # XADDs sent at once (pipelined on the edge's one connection)
READ_BYTES = 1 << 20  # a spool file is replayed a megabyte (~4,000 clicks) at a time
MAX_PENDING = 100_000  # entries waiting for their write; beyond, the disk is not keeping up
WARN_SECONDS = 10.0  # at most one log line this often about an unwritable spool

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(dict[str, bytes])
_CLICK = STREAM_EVENT


def encode_entry(fields: Mapping[str, bytes]) -> bytes:
    payload = _encoder.encode(fields)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode_entries(data: bytes) -> list[dict[str, bytes]]:
    """The entries of a spool file, up to the first torn or corrupt record."""
    return [entry for entry, _end in _decode(data)]


def _decode(data: bytes) -> list[tuple[dict[str, bytes], int]]:
    """(entry, offset just after it) for the whole records in ``data``, up to the first torn
    or corrupt one."""
    out: list[tuple[dict[str, bytes], int]] = []
    pos = 0
    while pos + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, pos)
        start, end = pos + HEADER.size, pos + HEADER.size + length
        payload = data[start:end]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            out.append((_decoder.decode(payload), end))
        except msgspec.DecodeError:
            break
        pos = end
    return out


@dataclass
class SpoolFile:
    path: Path
    fd: int  # open, with our flock on it
    replayed: int = 0  # bytes of it whose entries Redis has taken


class Spool:
    def __init__(
        self,
        folder: Path,
        metrics: Metrics,
        append: Callable[[Mapping[str, bytes]], Awaitable[None]],
        can_replay: Callable[[], bool],
    ) -> None:
        self.folder = folder
        self.metrics = metrics
        self.append = append  # one XADD to the click stream; raises when Redis cannot take it
        self.can_replay = can_replay
        self.pending: list[tuple[bytes, int]] = []  # (encoded entry, clicks in it)
        self.active: SpoolFile | None = None  # the file being written
        self.sealed: list[SpoolFile] = []  # files to replay: ours, and those taken over
        self._wake = asyncio.Event()
        self._lock = threading.Lock()  # a write in its thread vs close() at shutdown
        self._scanned_at = -SCAN_SECONDS
        self._warned_at = -WARN_SECONDS

    def add(self, fields: Mapping[str, bytes]) -> None:
        """Keep an entry for the stream (written and fsynced within FLUSH_SECONDS)."""
        clicks = 1 if _CLICK in fields else 0
        if len(self.pending) >= MAX_PENDING:
            self.metrics.clicks_unrecorded += clicks
            return
        self.pending.append((encode_entry(fields), clicks))
        if len(self.pending) == 1 or len(self.pending) >= FLUSH_ENTRIES:
            self._wake.set()

    def replay_soon(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """The worker's spool task: write batches, replay when Redis answers."""
        while True:
            left = bool(self.sealed) or self.active is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), RETRY_SECONDS if left else SCAN_SECONDS
                )
            self._wake.clear()
            try:
                if self.pending:
                    if len(self.pending) < FLUSH_ENTRIES:
                        await asyncio.sleep(FLUSH_SECONDS)  # a small batch per fsync
                    await self.flush()
                if self.can_replay():
                    await self.replay()
            except Exception as exc:  # the task must outlive anything: it is the only writer
                logs.event(log, "spool task error", logging.ERROR, error=repr(exc))
                await asyncio.sleep(RETRY_SECONDS)

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        error = await asyncio.to_thread(self._write, b"".join(e for e, _ in batch))
        clicks = sum(n for _, n in batch)
        if error is None:
            self.metrics.clicks_spooled += clicks
            return
        self.metrics.clicks_unrecorded += clicks
        now = time.monotonic()
        if now - self._warned_at >= WARN_SECONDS:
            self._warned_at = now
            logs.event(
                log,
                "spool not writable: clicks not recorded",
                logging.ERROR,
                folder=str(self.folder),
                error=str(error),
                unrecorded=self.metrics.clicks_unrecorded,
            )

    def _write(self, data: bytes) -> OSError | None:
        """Append and fsync (in a thread: an fsync can take milliseconds)."""
        with self._lock:
            return self._write_locked(data)

    def _write_locked(self, data: bytes) -> OSError | None:
        try:
            if self.active is None:
                self.active = self._create()
            view = memoryview(data)
            while view:
                view = view[os.write(self.active.fd, view) :]
            os.fsync(self.active.fd)
        except OSError as exc:
            # What was written may end in a torn record: nothing more goes after it.
            if self.active is not None:
                self.sealed.append(self.active)
                self.active = None
            return exc
        return None

    def _create(self) -> SpoolFile:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        tmp = self.folder / f"{name}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            # locked before it has a name another worker would look at
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path = self.folder / f"{name}{SUFFIX}"
            os.replace(tmp, path)
            _fsync_folder(self.folder)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return SpoolFile(path, fd)

    async def replay(self) -> None:
        """Send every spooled entry to the stream; stop at the first failure (kept for later)."""
        now = time.monotonic()
        if now - self._scanned_at >= SCAN_SECONDS:
            self._scanned_at = now
            self.sealed += await asyncio.to_thread(self._take_over)
        if self.active is not None:
            self.sealed.append(self.active)  # new entries go to a new file
            self.active = None
        while self.sealed:
            spool = self.sealed[0]
            sent = 0
            while entries := await asyncio.to_thread(_read, spool):
                for i in range(0, len(entries), REPLAY_CHUNK):
                    chunk = entries[i : i + REPLAY_CHUNK]
                    results = await asyncio.gather(
                        *(self.append(e) for e, _end in chunk), return_exceptions=True
                    )
                    for (entry, end), result in zip(chunk, results, strict=True):
                        if isinstance(result, BaseException):
                            return  # Redis went away again: the rest waits (the drain dedupes)
                        spool.replayed = end
                        sent += 1
                        if _CLICK in entry:
                            self.metrics.clicks_replayed += 1
            self.sealed.pop(0)
            await asyncio.to_thread(_remove, spool)
            logs.event(log, "spool replayed", file=spool.path.name, entries=sent)

    def _take_over(self) -> list[SpoolFile]:
        """Spool files that no live worker holds (their worker is gone)."""
        mine = {s.path for s in self.sealed}
        found: list[SpoolFile] = []
        with contextlib.suppress(OSError):
            for path in sorted(self.folder.glob(f"*{SUFFIX}")):
                if path in mine:
                    continue
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    # another worker may have replayed and removed it since we opened it
                    if os.stat(path).st_ino != os.fstat(fd).st_ino:
                        raise FileNotFoundError(path)
                except OSError:
                    os.close(fd)
                    continue
                logs.event(log, "spool taken over", file=path.name)
                found.append(SpoolFile(path, fd))
        return found

    def close(self) -> None:
        """At shutdown: what is pending goes to disk; the files stay for the next worker."""
        if self.pending:
            batch, self.pending = self.pending, []
            clicks = sum(n for _, n in batch)
            if self._write(b"".join(e for e, _ in batch)) is None:
                self.metrics.clicks_spooled += clicks
            else:
                self.metrics.clicks_unrecorded += clicks
        for spool in [*self.sealed, *([self.active] if self.active else [])]:
            with contextlib.suppress(OSError):
                os.close(spool.fd)
        self.sealed, self.active = [], None


def _read(spool: SpoolFile) -> list[tuple[dict[str, bytes], int]]:
    """The next entries not yet replayed (about READ_BYTES of them; a record larger than that
    is read whole), with the file offset after each; [] at the end or at a torn record."""
    size = os.fstat(spool.fd).st_size - spool.replayed
    data = os.pread(spool.fd, min(size, READ_BYTES), spool.replayed)
    found = _decode(data)
    if not found and len(data) >= HEADER.size and size > len(data):
        length, _crc = HEADER.unpack_from(data)
        if HEADER.size + length <= size:  # else a corrupt length: the file ends here
            found = _decode(os.pread(spool.fd, HEADER.size + length, spool.replayed))
    return [(entry, spool.replayed + end) for entry, end in found]


def _remove(spool: SpoolFile) -> None:
    with contextlib.suppress(OSError):
        spool.path.unlink()
    with contextlib.suppress(OSError):
        os.close(spool.fd)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
