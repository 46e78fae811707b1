"""The answers Redis gave this edge server recently, shared by its workers, for when Redis cannot
answer.

While Redis answers, every live link it resolves is remembered here (host, code -> domain and
link records, the contact's record as stored, the stream ref, when). While it does not
(edge/outage.py), a person's request for a remembered code is answered from here (302 as
usual, the click spooled: edge/spool.py) and anything else answers 503. The memory is never
read while Redis answers, so an edit or archive reaches the edge with Redis's first answer.

Shared by every worker of one server (docs/decisions/0009-shared-edge-memory.md): an LMDB
environment in the server's folder (edge/serverfolder.py), so a code that one worker resolved
is answered by any other during an outage, and by a worker respawned after a crash. LMDB is
memory-mapped: a read is ~3 µs and takes no lock; a write transaction ~5 µs, serialised by its
lock across processes, without fsync (it is a cache: a new server starts with a new one).

Bounded by two generations, as two pairs of databases (codes, records): answers go into the
current pair; when its codes reach half the allowed entries, the older pair is emptied and
becomes the current one. So at most ``entries`` codes are kept, with no LRU bookkeeping. Domain
and link records are stored once per generation (by id and version), not once per code.
``max_age`` bounds staleness: an answer older than that (since Redis last gave it) is not used.

The hot path stays cheap: a worker writes only when a code is new to the current generation or
its answer changed (another link or contact version), and rewrites an unchanged answer at most
every ``max_age / 8`` to keep its age honest. What it wrote is noted in a small per-worker dict
(itself two generations of at most LOCAL_ENTRIES), so a repeated click costs a dict lookup and
a few comparisons. New answers wait in a per-worker dict and are written FLUSH_ENTRIES at a
time (or FLUSH_SECONDS after the first), in one transaction: a commit costs several times a
put. Until it is written, only its own worker recalls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import lmdb
import msgspec

from core import logs, records
from core.records import DomainRecord, LinkRecord
from edge.resolve import Outcome, ReplyDecoder, Resolution, contact_for
from edge.serverfolder import prune_stale, server_folder

log = logging.getLogger("edge.memory")

FOLDER_PREFIX = "smartlinks-edge-memory-"
LOCAL_ENTRIES = 8192  # per generation of a worker's note of what it wrote
FLUSH_ENTRIES = 64  # answers written in one transaction ...
FLUSH_SECONDS = 0.02  # ... or this long after the first of them waits
BYTES_PER_ENTRY = 4096  # the map reserved per entry (address space; the file grows as used)
MIN_MAP_BYTES = 64 << 20
WARN_SECONDS = 10.0

# The value stored per code: time.time() of Redis's answer, domain key, link key, contact as
# stored (or None), stream ref, the code's source (a broadcast's refcode, or empty). Records are stored under b"d<id>:<version>" / b"l<id>:<version>".
Stored = tuple[float, bytes, bytes, bytes | None, bytes, str]
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Stored).decode
_GEN = b"gen"  # in the main database: the number of the current generation (u64 as text)

# What a worker notes of an answer it wrote: link, domain, contact as stored, ref, when it was
# written (the caller's clock, as stored), the generation it went into.
_Note = tuple[LinkRecord, DomainRecord, bytes | None, bytes, float, int, str]


class Memory:
    def __init__(
        self,
        entries: int,
        max_age: float,
        decode: ReplyDecoder,
        folder: Path | None = None,
    ) -> None:
        self.half = entries // 2
        self.max_age = max_age
        self.refresh = max_age / 8
        self.decode = decode
        self.folder = folder or server_folder(FOLDER_PREFIX)
        self.gen = 0
        self.local_half = min(self.half, LOCAL_ENTRIES)
        self.current: dict[tuple[str, str], _Note] = {}
        self.previous: dict[tuple[str, str], _Note] = {}
        self.env: lmdb.Environment | None = None
        # answers not yet written: (host, code) -> (resolution, time of Redis's answer)
        self.pending: dict[tuple[str, str], tuple[Resolution, float]] = {}
        # keys of the records known to be stored in generation _records_gen (not written again)
        self._records: set[bytes] = set()
        self._records_gen = -1
        self._warned_at = -WARN_SECONDS
        if self.half > 0:
            self._open()

    def _open(self) -> None:
        prune_stale(self.folder, FOLDER_PREFIX)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(
                str(self.folder),
                map_size=max(MIN_MAP_BYTES, 2 * self.half * BYTES_PER_ENTRY),
                max_dbs=4,
                sync=False,  # a cache: nothing here must survive the machine
                metasync=False,
                writemap=True,  # a commit writes to the map: ~4 µs, not ~25 µs through write()
                readahead=False,
                meminit=False,
            )
            self.dbs = [
                (env.open_db(b"codes0"), env.open_db(b"records0")),
                (env.open_db(b"codes1"), env.open_db(b"records1")),
            ]
            env.reader_check()  # read slots of workers killed mid-read
        except (OSError, lmdb.Error) as exc:
            logs.event(log, "edge memory unavailable", logging.ERROR, error=str(exc))
            return
        self.env = env
        self.poll()

    def poll(self) -> int:
        """Learn the current generation (other workers flip it); the codes remembered."""
        if self.env is None:
            return 0
        try:
            with self.env.begin() as txn:
                self.gen = _gen(txn)
                return sum(txn.stat(codes)["entries"] for codes, _ in self.dbs)
        except lmdb.Error as exc:
            self._warn("read", exc)
            return 0

    def __len__(self) -> int:
        return self.poll()

    def size_bytes(self) -> int:
        """Bytes of the shared file in use (pages up to the highest one used)."""
        if self.env is None:
            return 0
        info = self.env.info()
        return int((info["last_pgno"] + 1) * self.env.stat()["psize"])

    def remember(self, host: str, code: str, res: Resolution, now: float) -> None:
        """Redis found this live link (``res.outcome`` is FOUND); ``now`` is time.time()."""
        if self.env is None:
            return
        key = (host, code)
        note = self.current.get(key) or self.previous.get(key)
        if (
            note is not None
            and note[5] == self.gen
            and now - note[4] < self.refresh
            and note[0] is res.link
            and note[1] is res.domain
            and note[2] == res.contact_raw
            and note[3] == res.ref
            and note[6] == res.source
        ):
            return
        if not self.pending:
            with contextlib.suppress(RuntimeError):  # no loop: the caller flushes (tests)
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        self.pending[key] = (res, now)
        if len(self.pending) >= FLUSH_ENTRIES:
            self.flush()

    def flush(self) -> None:
        """Write the answers waiting, in one transaction (a commit costs more than the puts).

        Every answer is written as it is (a put that replaces): reading first to spare the write
        of one another worker stored already cost more than the write it saved."""
        if self.env is None or not self.pending:
            return
        batch, self.pending = self.pending, {}
        notes: dict[tuple[str, str], _Note] = {}
        put_record = self._records.add
        try:
            with self.env.begin(write=True) as txn:
                gen = _gen(txn)
                codes, recs = self.dbs[gen % 2]
                count = txn.stat(codes)["entries"]
                if self._records_gen != gen:
                    self._records, self._records_gen = set(), gen
                    put_record = self._records.add
                stored = self._records
                link: LinkRecord | None = None
                domain: DomainRecord | None = None
                link_key = domain_key = b""
                for key, (res, now) in batch.items():
                    if count >= self.half:
                        # The current generation is full: the older one is emptied and becomes
                        # the current one (this answer is its first).
                        gen, count = gen + 1, 0
                        codes, recs = self.dbs[gen % 2]
                        txn.drop(codes, delete=False)
                        txn.drop(recs, delete=False)
                        txn.put(_GEN, b"%d" % gen)
                        self._records, self._records_gen = set(), gen
                        stored, put_record = self._records, self._records.add
                        link = domain = None
                    if res.link is not link:  # nearly always the previous answer's records
                        link = res.link
                        assert link is not None
                        link_key = b"l%d:%d" % (link.id, link.version)
                        if link_key not in stored:  # else already stored in this generation
                            txn.put(link_key, records.encode(link), db=recs, overwrite=False)
                            put_record(link_key)
                    if res.domain is not domain:
                        domain = res.domain
                        assert domain is not None
                        domain_key = b"d%d:%d" % (domain.id, domain.version)
                        if domain_key not in stored:
                            txn.put(domain_key, records.encode(domain), db=recs, overwrite=False)
                            put_record(domain_key)
                    contact, ref, source = res.contact_raw, res.ref, res.source
                    value = _encode((now, domain_key, link_key, contact, ref, source))
                    if txn.replace(_code_key(*key), value, db=codes) is None:
                        count += 1
                    notes[key] = (res.link, res.domain, contact, ref, now, gen, source)  # type: ignore[assignment]
        except lmdb.MapFullError:
            self._clear()
            return
        except lmdb.Error as exc:
            self._records_gen = -1  # what this transaction put is not there
            self._warn("write", exc)
            return
        self.gen = gen
        current = self.current
        current.update(notes)
        if len(current) >= self.local_half:
            self.previous, self.current = current, {}

    def forget(self, host: str, code: str) -> None:
        """Redis said the code is unknown, archived or its host gone: never answer it from here."""
        if self.env is None:
            return
        key = (host, code)
        self.current.pop(key, None)
        self.previous.pop(key, None)
        self.pending.pop(key, None)
        code_key = _code_key(host, code)
        try:
            with self.env.begin() as txn:
                if all(txn.get(code_key, db=codes) is None for codes, _ in self.dbs):
                    return
            with self.env.begin(write=True) as txn:
                for codes, _ in self.dbs:
                    txn.delete(code_key, db=codes)
        except lmdb.Error as exc:
            self._warn("forget", exc)

    def recall(self, host: str, code: str, now: float) -> Resolution | None:
        """The remembered answer, as if Redis had given it (not recorded), or None."""
        if self.env is None:
            return None
        waiting = self.pending.get((host, code))
        if waiting is not None:  # this worker's, not yet written
            res, at = waiting
            if now - at > self.max_age:
                return None
            return msgspec.structs.replace(res, recorded=False, remembered=True)
        code_key = _code_key(host, code)
        try:
            with self.env.begin() as txn:
                gen = _gen(txn)
                for codes, recs in (self.dbs[gen % 2], self.dbs[(gen + 1) % 2]):
                    raw = txn.get(code_key, db=codes)
                    if raw is None:
                        continue
                    at, domain_key, link_key, contact_raw, ref, source = _decode(raw)
                    domain_raw = txn.get(domain_key, db=recs)
                    link_raw = txn.get(link_key, db=recs)
                    if now - at > self.max_age or domain_raw is None or link_raw is None:
                        return None
                    domain = self.decode.domain(domain_raw)
                    link = self.decode.link(link_raw)
                    break
                else:
                    return None
        except (lmdb.Error, msgspec.DecodeError) as exc:
            self._warn("read", exc)
            return None
        return Resolution(
            Outcome.FOUND,
            domain,
            link,
            contact_for(link, contact_raw),
            contact_raw,
            ref,
            remembered=True,
            source=source,
        )

    def _clear(self) -> None:
        """The map is full (entries much larger than planned): start again, empty."""
        assert self.env is not None
        logs.event(log, "edge memory full: emptied", logging.WARNING, folder=str(self.folder))
        try:
            with self.env.begin(write=True) as txn:
                for codes, recs in self.dbs:
                    txn.drop(codes, delete=False)
                    txn.drop(recs, delete=False)
        except lmdb.Error as exc:
            self._warn("clear", exc)
        self.current, self.previous = {}, {}
        self._records_gen = -1

    def _warn(self, what: str, exc: Exception) -> None:
        """A memory that fails never fails a request: logged at most every WARN_SECONDS."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_SECONDS:
            self._warned_at = now
            logs.event(log, f"edge memory {what} failed", logging.ERROR, error=repr(exc))

    def close(self) -> None:
        self.flush()
        if self.env is not None:
            self.env.close()
            self.env = None


def _gen(txn: lmdb.Transaction) -> int:
    raw = txn.get(_GEN)
    return int(raw) if raw is not None else 0


def _code_key(host: str, code: str) -> bytes:
    return f"{host}\0{code}".encode()
