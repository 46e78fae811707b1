"""`smartlinks drain`: the click stream into Postgres, with each click's effects exactly once.

- A consumer group (``keys.DRAIN_GROUP``) reads ``keys.CLICK_STREAM`` in batches; every drain
  process is one consumer (``host:pid``), so any number of them share the stream.
- One Postgres transaction per batch (sync/recorder.py): the clicks go in with ``ON CONFLICT
  (click_id) DO NOTHING RETURNING``, and only the rows that statement inserted get counters,
  actions and webhook deliveries. Entries are acknowledged (XACK) after the commit, so a crash
  at any point means redelivery, and redelivery changes nothing.
- Entries a dead consumer left pending are reclaimed after ``DRAIN_CLAIM_IDLE_MS`` (XAUTOCLAIM).
  One delivered more than ``DRAIN_MAX_DELIVERIES`` times goes to ``keys.DEAD_LETTER_STREAM``
  (its fields plus ``reason``) and is acknowledged; so does one that can never be recorded
  (undecodable, unknown link). A batch that fails is retried entry by entry, so one poison
  entry never blocks the others.
- Trimming removes only entries below both the oldest pending entry and the group's last
  delivered id: nothing unacknowledged is ever dropped.
- Latency: XREADGROUP blocks at most ``BLOCK_MS``, so a click is in Postgres well within the
  metrics' one second.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psycopg
import redis

from core import config, keys, logs
from core.records import (
    STREAM_AMEND,
    STREAM_EVENT,
    STREAM_REF,
    amendment_decoder,
    click_decoder,
    parse_ref,
)
from sync import partitions
from sync.recorder import BatchResult, StreamAmendment, StreamClick, record_batch
from sync.useragents import describe
from sync.webhooks import libpq_url

log = logging.getLogger(__name__)

BLOCK_MS = 150
TRIM_SECONDS = 5.0
CONSUMER_CLEANUP_SECONDS = 300.0
STALE_CONSUMER_IDLE_MS = 3_600_000  # a consumer silent this long with nothing pending is gone
DEAD_LETTER_MAXLEN = 100_000
SUMMARY_SECONDS = 10.0
PARTITION_SECONDS = 3600.0  # the next months' click partitions are checked this often

TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
# Lost a race with another transaction: the whole batch is simply tried again.
RETRYABLE: tuple[type[BaseException], ...] = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)
BATCH_RETRIES = 5
# DRAIN_LANES: batches in flight per drain process (sync.drain.Lane), so that one's Python
# work overlaps another's Postgres work. Measured on 2 cores: 1 lane 6,600 clicks/s, 2 lanes
# 9,000, 3 lanes 9,200 (Postgres's own CPU per click is the limit beyond that).
MAX_LANES = 8

Fields = dict[bytes, bytes]
Entry = tuple[str, Fields | None]


def database_url() -> str:
    """The database: DATABASE_URL, else the running `smartlinks up`'s server."""
    from smartlinks.embedded import read_runtime

    settings = config.load()
    return libpq_url(
        settings.database_url or read_runtime(settings.data_dir).get("database_url", "")
    )


def redis_url() -> str:
    """REDIS_URL, else the running `smartlinks up`'s server."""
    from smartlinks.embedded import read_runtime

    settings = config.load()
    return settings.redis_url or read_runtime(settings.data_dir).get("redis_url", "")


def redis_client() -> redis.Redis | None:
    url = redis_url()
    return redis.Redis.from_url(url, socket_timeout=30) if url else None


def stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class Decoded:
    clicks: list[StreamClick] = field(default_factory=list)
    amendments: list[StreamAmendment] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # trimmed while pending: nothing to record


def decode(entries: Sequence[Entry]) -> Decoded:
    out = Decoded()
    for entry_id, fields in entries:
        if fields is None:
            out.gone.append(entry_id)
            continue
        try:
            if STREAM_AMEND.encode() in fields:
                amendment = amendment_decoder.decode(fields[STREAM_AMEND.encode()])
                out.amendments.append(StreamAmendment(entry_id, amendment))
                continue
            event = click_decoder.decode(fields[STREAM_EVENT.encode()])
            link_id, contact_id, domain_id = parse_ref(fields[STREAM_REF.encode()].decode())
        except (KeyError, ValueError, UnicodeDecodeError, msgspec.DecodeError) as exc:
            out.dead.append((entry_id, f"undecodable: {type(exc).__name__}: {exc}"[:300]))
            continue
        out.clicks.append(StreamClick(entry_id, event, link_id, contact_id, domain_id))
    return out


@dataclass(frozen=True)
class DrainSettings:
    batch: int
    claim_idle_ms: int
    max_deliveries: int
    scheme: str
    lanes: int = 1

    @classmethod
    def from_env(cls) -> DrainSettings:
        return cls(
            batch=config.env_int("DRAIN_BATCH"),
            claim_idle_ms=config.env_int("DRAIN_CLAIM_IDLE_MS"),
            max_deliveries=config.env_int("DRAIN_MAX_DELIVERIES"),
            scheme=config.env("SHORT_URL_SCHEME"),
            lanes=max(1, min(MAX_LANES, config.env_int("DRAIN_LANES"))),
        )

    @property
    def claim_every(self) -> float:
        """How often to look for abandoned entries: often enough that a crashed consumer's
        clicks wait little more than the idle time."""
        return max(0.2, min(5.0, self.claim_idle_ms / 4000))


class Drain:
    def __init__(
        self,
        client: redis.Redis,
        database_url: str,
        consumer: str,
        settings: DrainSettings,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.database_url = libpq_url(database_url)
        self.consumer = consumer
        self.settings = settings
        self.stopping = stopping
        self.burst = False
        self._conn: psycopg.Connection[Any] | None = None
        # Entries read but not yet acknowledged when a server went away: redone first.
        self._carry: list[Entry] = []
        self.totals: dict[str, int] = {"recorded": 0, "duplicates": 0, "dead": 0, "human": 0}
        self._summary_at = time.monotonic()

    # -- connections -----------------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        return self._conn

    def reconnect(self, _exc: BaseException | None = None) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self.conn.execute("SELECT 1")
        self.ensure_group()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(keys.CLICK_STREAM, keys.DRAIN_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def ensure_partitions(self) -> None:
        """The clicks table's months ahead (sync/partitions.py). A busy table is tried at the
        next call; meanwhile clicks land in the default partition, never fail."""
        try:
            made = partitions.ensure(self.conn)
        except psycopg.errors.LockNotAvailable:
            logs.event(log, "click partitions busy, tried again later", logging.WARNING)
            return
        if made:
            logs.event(log, "click partitions made", partitions=",".join(made))

    # -- the loop's step -------------------------------------------------------------------

    def step(self) -> int:
        if self._carry:
            return self.process(self._carry)
        try:
            reply: Any = self.client.xreadgroup(
                keys.DRAIN_GROUP,
                self.consumer,
                {keys.CLICK_STREAM: ">"},
                count=self.settings.batch,
                block=None if self.burst else BLOCK_MS,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # Redis was flushed or restarted empty
            return 0
        entries: list[Entry] = [
            (_text(entry_id), fields)
            for _stream, items in reply or []
            for entry_id, fields in items
        ]
        return self.process(entries) if entries else 0

    def process(self, entries: Sequence[Entry]) -> int:
        self._carry = list(entries)
        started = time.perf_counter()
        decoded = decode(entries)
        result = self._record(decoded)
        dead = decoded.dead + result.dead
        self._finish(result.done + decoded.gone, dead, {e[0]: e[1] for e in entries})
        self._carry = []
        self.totals["recorded"] += result.inserted
        self.totals["duplicates"] += result.duplicates
        self.totals["human"] += result.human
        self.totals["dead"] += len(dead)
        logs.event(
            log,
            "batch",
            logging.DEBUG,
            entries=len(entries),
            inserted=result.inserted,
            duplicates=result.duplicates,
            whispers=result.actions.whispers,
            webhooks=result.webhook_deliveries,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        self._maybe_summary()
        return len(entries)

    def _record(self, decoded: Decoded) -> BatchResult:
        try:
            return self._record_retrying(decoded.clicks, decoded.amendments)
        except TRANSIENT:
            raise
        except psycopg.Error as exc:
            logs.event(
                log, "batch failed, isolating entries", logging.WARNING, error=repr(exc)[:300]
            )
        # One entry per transaction: the bad ones stay pending (and are dead-lettered after
        # DRAIN_MAX_DELIVERIES), the others are recorded.
        merged = BatchResult()
        singles: list[tuple[str, list[StreamClick], list[StreamAmendment]]] = [
            (c.entry_id, [c], []) for c in decoded.clicks
        ] + [(a.entry_id, [], [a]) for a in decoded.amendments]
        for entry_id, clicks, amendments in singles:
            try:
                one = self._record_retrying(clicks, amendments)
            except TRANSIENT:
                raise
            except psycopg.Error as exc:
                logs.event(
                    log, "entry failed", logging.WARNING, entry=entry_id, error=repr(exc)[:300]
                )
                continue
            merged.done += one.done
            merged.dead += one.dead
            merged.deferred += one.deferred
            merged.inserted += one.inserted
            merged.human += one.human
            merged.duplicates += one.duplicates
            merged.webhook_deliveries += one.webhook_deliveries
            merged.actions.whispers += one.actions.whispers
        return merged

    def _record_retrying(
        self, clicks: Sequence[StreamClick], amendments: Sequence[StreamAmendment]
    ) -> BatchResult:
        for attempt in range(BATCH_RETRIES):
            try:
                return record_batch(self.conn, clicks, amendments, self.settings.scheme)
            except RETRYABLE:
                if attempt == BATCH_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _finish(
        self, done: list[str], dead: list[tuple[str, str]], fields: dict[str, Fields | None]
    ) -> None:
        """Acknowledge what is recorded; move what never will be to the dead-letter stream."""
        pipe = self.client.pipeline(transaction=True)
        for entry_id, reason in dead:
            letter: dict[Any, Any] = dict(fields.get(entry_id) or {})
            letter.update(reason=reason, entry=entry_id, consumer=self.consumer)
            pipe.xadd(keys.DEAD_LETTER_STREAM, letter, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
            logs.event(
                log, "click event dead-lettered", logging.WARNING, entry=entry_id, reason=reason
            )
        ids = done + [entry_id for entry_id, _ in dead]
        if ids:
            pipe.xack(keys.CLICK_STREAM, keys.DRAIN_GROUP, *ids)
        if dead or ids:
            pipe.execute()

    def _maybe_summary(self) -> None:
        now = time.monotonic()
        if now - self._summary_at >= SUMMARY_SECONDS:
            self._summary_at = now
            logs.event(log, "drain progress", consumer=self.consumer, **self.totals)

    # -- periodic tasks --------------------------------------------------------------------

    def reclaim(self) -> int:
        """Take over entries idle past DRAIN_CLAIM_IDLE_MS (their consumer died or failed)."""
        total = 0
        start = "0-0"
        while not self.stopping():
            try:
                claim_reply: Any = self.client.xautoclaim(
                    keys.CLICK_STREAM,
                    keys.DRAIN_GROUP,
                    self.consumer,
                    self.settings.claim_idle_ms,
                    start,
                    count=self.settings.batch,
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_group()
                return total
            next_start, claimed = claim_reply[0], claim_reply[1]
            entries: list[Entry] = [(_text(i), f) for i, f in claimed]
            if entries:
                total += len(entries)
                logs.event(log, "reclaimed pending clicks", entries=len(entries))
                self._process_claimed(entries)
            start = _text(next_start)
            if start == "0-0":
                break
        return total

    def _process_claimed(self, entries: list[Entry]) -> None:
        ids = [e[0] for e in entries]
        pending: Any = self.client.xpending_range(
            keys.CLICK_STREAM,
            keys.DRAIN_GROUP,
            min=min(ids, key=stream_id),
            max=max(ids, key=stream_id),
            count=len(ids) + 1000,
            consumername=self.consumer,
        )
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        limit = self.settings.max_deliveries
        worn = [(i, f) for i, f in entries if deliveries.get(i, 0) > limit]
        if worn:
            self._finish(
                [],
                [
                    (i, f"delivered {deliveries[i]} times (DRAIN_MAX_DELIVERIES={limit})")
                    for i, _ in worn
                ],
                dict(worn),
            )
            self.totals["dead"] += len(worn)
        rest = [(i, f) for i, f in entries if deliveries.get(i, 0) <= limit]
        if rest:
            self.process(rest)

    def trim(self) -> None:
        """XTRIM MINID below the oldest pending entry and the last delivered id."""
        try:
            groups = self.client.xinfo_groups(keys.CLICK_STREAM)
        except redis.ResponseError:
            return  # no stream yet
        group = next((g for g in groups if _text(g["name"]) == keys.DRAIN_GROUP), None)
        if group is None:
            return
        floor = stream_id(_text(group["last-delivered-id"]))
        if int(group["pending"]):
            oldest = self.client.xpending(keys.CLICK_STREAM, keys.DRAIN_GROUP)["min"]
            if oldest is not None:
                floor = min(floor, stream_id(_text(oldest)))
        if floor > (0, 0):
            self.client.xtrim(keys.CLICK_STREAM, minid=f"{floor[0]}-{floor[1]}", approximate=True)

    def forget_stale_consumers(self) -> None:
        """Consumers of dead processes (a name per pid) with nothing pending are removed, so the
        group's consumer list does not grow with every restart."""
        try:
            consumers = self.client.xinfo_consumers(keys.CLICK_STREAM, keys.DRAIN_GROUP)
        except redis.ResponseError:
            return
        for c in consumers:
            name = _text(c["name"])
            if name != self.consumer and not c["pending"] and c["idle"] > STALE_CONSUMER_IDLE_MS:
                self.client.xgroup_delconsumer(keys.CLICK_STREAM, keys.DRAIN_GROUP, name)


class Lane:
    """A second (third, ...) consumer in the drain process, on its own thread and Postgres
    connection: while one batch's transaction runs in Postgres, another batch is read, decoded
    and prepared. Each lane is a consumer of the group in its own right (``<worker id>/<n>``),
    so everything that keeps several drain processes correct keeps the lanes correct: rows
    are locked in one order, a deadlock retries the batch, each batch is acknowledged after
    its own commit. Periodic tasks (reclaim, trim, clean-up) stay on the main loop.

    The worker's stop applies between batches, as for the main loop: a warm stop lets the
    lane finish its batch; a cold stop ends the process, and the lane's open transaction rolls
    back with the connection (its entries stay pending and are reclaimed)."""

    def __init__(self, drain: Drain, stopping: Callable[[], bool], burst: bool) -> None:
        self.drain = drain
        self.stopping = stopping
        self.burst = burst
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name=f"drain {drain.consumer}", daemon=True)

    def run(self) -> None:
        backoff = 0.0
        try:
            while not self.stopping():
                try:
                    done = self.drain.step()
                    backoff = 0.0
                    if not done and self.burst:
                        return
                except TRANSIENT as exc:
                    if self.burst:
                        raise
                    backoff = min(5.0, backoff * 2 or 0.1)
                    logs.event(
                        log,
                        "transient failure, retrying",
                        logging.WARNING,
                        consumer=self.drain.consumer,
                        error=repr(exc),
                        retry_in=backoff,
                    )
                    time.sleep(backoff)
                    with contextlib.suppress(*TRANSIENT):
                        self.drain.reconnect()
        except BaseException as exc:  # noqa: BLE001 (handed to the main thread)
            self.error = exc
            logs.event(
                log,
                "drain lane failed",
                logging.ERROR,
                consumer=self.drain.consumer,
                error=repr(exc),
            )
        finally:
            self.drain.close()


def main(burst: bool = False) -> int:
    from sync.worker import Worker

    url = database_url()
    client = redis_client()
    if not url or client is None:
        logs.event(
            log,
            "DATABASE_URL and REDIS_URL must be set (or a `smartlinks up` be running)",
            logging.ERROR,
        )
        return 2
    worker = Worker("drain", client, transient=TRANSIENT)
    drain = Drain(client, url, worker.worker_id, DrainSettings.from_env(), lambda: worker.stopping)
    drain.burst = burst
    worker.on_transient = drain.reconnect
    drain.ensure_group()
    # ua-parser compiles its rules on first use (~0.5 s): not while the first click waits.
    describe("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")
    worker.every("reclaim", drain.settings.claim_every, drain.reclaim, at_start=True)
    worker.every("trim", TRIM_SECONDS, drain.trim)
    worker.every("partitions", PARTITION_SECONDS, drain.ensure_partitions, at_start=True)
    worker.every("consumers", CONSUMER_CLEANUP_SECONDS, drain.forget_stale_consumers)
    lanes = [
        Lane(
            Drain(client, url, f"{worker.worker_id}/{n}", drain.settings, drain.stopping),
            lambda: worker.stopping,
            burst,
        )
        for n in range(1, drain.settings.lanes)
    ]
    for lane in lanes:
        lane.drain.burst = burst
        lane.thread.start()
    try:
        # XREADGROUP already blocked for BLOCK_MS when a step finds nothing: no extra wait.
        code = worker.run(drain.step, lambda _timeout: None, burst=burst)
        for lane in lanes:  # a warm stop: each lane finishes its batch
            lane.thread.join()
        failed = next((lane.error for lane in lanes if lane.error is not None), None)
        if failed is not None:
            raise failed
        return code
    finally:
        worker.request_stop()
        with contextlib.suppress(*TRANSIENT):
            drain.trim()
        totals = dict(drain.totals)
        for lane in lanes:
            for k, v in lane.drain.totals.items():
                totals[k] += v
        logs.event(
            log, "drain stopped", consumer=drain.consumer, lanes=drain.settings.lanes, **totals
        )
        drain.close()
        client.close()
