"""`smartlinks drain`: the click stream into Postgres, with each click's effects exactly once.

- A consumer group (``keys.DRAIN_GROUP``) reads ``keys.CLICK_STREAM`` in batches; every drain
  process is one consumer (``host:pid``), so any number of them share the stream.
- One Postgres transaction per batch (sync/clicks/recorder.py): the clicks go in with ``ON CONFLICT
  (click_id) DO NOTHING RETURNING``, and only the rows that statement inserted get counters,
  actions and webhook deliveries. Entries are acknowledged (XACK) after the commit, so a crash
  at any point means redelivery, and redelivery changes nothing.
- Entries of a consumer that is provably gone (sync/liveness.py: killed on this machine, or
  no heartbeat) are claimed at once (``Drain.take_over``: each lane, at its first step and
  every second), so a drain restarted after a kill -9 records what its predecessor held
  within a second or so. Any other entry idle past ``DRAIN_CLAIM_IDLE_MS`` is reclaimed too
  (XAUTOCLAIM). One delivered more than ``DRAIN_MAX_DELIVERIES`` times goes to ``keys.DEAD_LETTER_STREAM``
  (its fields plus ``reason``) and is acknowledged; so does one that can never be recorded
  (undecodable, unknown link). A batch that fails is retried entry by entry, so one poison
  entry never blocks the others.
- Trimming (sync/clicks/trim.py) runs with every acknowledgement, exactly, and removes only
  entries below both the oldest pending entry and the group's last delivered id: the stream
  stays a few batches long at any rate, and nothing unacknowledged is ever dropped.
- Latency: XREADGROUP blocks at most ``BLOCK_MS``, so a click is in Postgres well within the
  metrics' one second.
- Shards (REDIS_PARTITIONS > 1, e.g. on a Redis Cluster): the edge appends each click to
  ``keys.click_stream(p, P)`` of its partition, and every shard has its own group ``drain``.
  A step reads the shards without blocking, a window of them per pipelined round (a cluster
  cannot block on keys of several slots; redis-py sends a pipeline as one round trip per
  master), see ``Drain._read_shards``; only when all are empty does it block on one of them
  (a different one each time) for ``BLOCK_MS``. Acknowledgements, trims, takeover, reclaims
  and dead letters are per shard; several drain processes share every shard through its
  group. With one partition everything is as it was, command for command. Why, and the
  figures: docs/decisions/0012-cluster-drain-and-failover.md.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
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
from sync.clicks import partitions, retention, takeover
from sync.clicks.recorder import BatchResult, StreamAmendment, StreamClick, record_batch
from sync.clicks.shards import Entry, Fields, Shards
from sync.clicks.trim import Trimmer
from sync.clicks.useragents import describe
from sync.connections import redis_client
from sync.worker import TRANSIENT, Worker, retry_after

log = logging.getLogger(__name__)

BLOCK_MS = 150
TRIM_SECONDS = 5.0
CONSUMER_CLEANUP_SECONDS = 300.0
STALE_CONSUMER_IDLE_MS = 3_600_000  # a consumer silent this long with nothing pending is gone
DEAD_LETTER_MAXLEN = 100_000
SUMMARY_SECONDS = 10.0
HEARTBEAT_SECONDS = 1.0  # a drain on another machine is known gone 3 s (the TTL) after it dies
WARM_UP_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
TAKE_OVER_SECONDS = 1.0  # how often each lane looks for gone consumers (and at its start)
PARTITION_SECONDS = 3600.0  # the next months' click partitions are checked this often
# With shards, a shard is trimmed in the acknowledgement path at most this often per consumer
# (with one stream, at every acknowledgement): a batch touches every shard, and a trim per
# shard per batch cost the cluster a fifth of its throughput. Still exact, and the streams
# stay a fraction of a second long.
SHARD_TRIM_SECONDS = 0.25

# Lost a race with another transaction: the whole batch is simply tried again.
RETRYABLE: tuple[type[BaseException], ...] = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)
BATCH_RETRIES = 5
# DRAIN_LANES: batches in flight per drain process (sync.clicks.drain.Lane), so that one's Python
# work overlaps another's Postgres work. Measured on 2 cores: 1 lane 6,600 clicks/s, 2 lanes
# 9,000, 3 lanes 9,200 (Postgres's own CPU per click is the limit beyond that). At most 8
# (core.config checks it).



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
    partitions: int = 1  # REDIS_PARTITIONS: the click stream shards (core.keys.click_streams)

    @classmethod
    def from_settings(cls, settings: config.Settings) -> DrainSettings:
        return cls(
            batch=settings.drain.batch,
            claim_idle_ms=settings.drain.claim_idle_ms,
            max_deliveries=settings.drain.max_deliveries,
            scheme=settings.short_url_scheme,
            lanes=settings.drain.lanes,
            partitions=config.redis_partitions(settings),
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
        self.database_url = config.to_libpq(database_url)
        self.consumer = consumer
        self.settings = settings
        self.stopping = stopping
        self.burst = False
        self._conn: psycopg.Connection[Any] | None = None
        # Entries read but not yet acknowledged when a server went away: redone first.
        self._carry: list[Entry] = []
        self.totals: dict[str, int] = {"recorded": 0, "duplicates": 0, "dead": 0, "human": 0}
        self._summary_at = time.monotonic()
        self.shards = Shards(client, consumer, settings.partitions)
        self.streams = self.shards.streams
        self._trims = [Trimmer(client, stream) for stream in self.streams]
        self._trimmed_at = [0.0] * len(self.streams)
        self._take_over_at = 0.0  # at the first step

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
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, keys.DRAIN_GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def ensure_partitions(self) -> None:
        """The clicks table's months ahead (sync/clicks/partitions.py). A busy table is tried at the
        next call; meanwhile clicks land in the default partition, never fail."""
        try:
            made = partitions.ensure(self.conn)
        except psycopg.errors.LockNotAvailable:
            logs.event(log, "click partitions busy, tried again later", logging.WARNING)
            return
        if made:
            logs.event(log, "click partitions made", partitions=",".join(made))

    def apply_retention(self) -> None:
        """IP addresses and user agents of clicks past their organisation's retention."""
        cleared = retention.apply(self.conn)
        if cleared:
            logs.event(log, "old clicks' visitor data cleared", clicks=cleared)

    # -- the loop's step -------------------------------------------------------------------

    def step(self) -> int:
        if self._carry:
            return self.process(self._carry)
        if time.monotonic() >= self._take_over_at:
            if taken := self.take_over():
                return taken  # and again next step: the gone consumer may hold more
            self._take_over_at = time.monotonic() + TAKE_OVER_SECONDS
        try:
            batch, block = self.settings.batch, None if self.burst else BLOCK_MS
            entries = (
                self.shards.read_all(batch, block)
                if self.shards.sharded
                else self.shards.read(0, batch, block)
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # Redis was flushed or restarted empty
            return 0
        if self.shards.missing_group:  # some shards had no group: made, their entries kept
            self.shards.missing_group.clear()
            self.ensure_group()
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
        pipe = self.client.pipeline(transaction=self.shards.atomic)
        for ref, reason in dead:
            shard, entry_id = self.shards.split(ref)
            letter: dict[Any, Any] = dict(fields.get(ref) or {})
            letter.update(reason=reason, entry=entry_id, consumer=self.consumer)
            if self.shards.sharded:
                letter["stream"] = self.streams[shard]
            pipe.xadd(keys.DEAD_LETTER_STREAM, letter, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
            logs.event(
                log, "click event dead-lettered", logging.WARNING, entry=ref, reason=reason
            )
        if dead and not self.shards.atomic:
            # On a cluster the letters' stream may live on another master than the entries:
            # written before the acknowledgement, a crash between the two writes a letter
            # twice at worst, never acknowledges an entry without its letter.
            pipe.execute()
        by_shard: dict[int, list[str]] = {}
        for ref in done + [ref for ref, _ in dead]:
            shard, entry_id = self.shards.split(ref)
            by_shard.setdefault(shard, []).append(entry_id)
        now = time.monotonic()
        for shard, ids in sorted(by_shard.items()):
            pipe.xack(self.streams[shard], keys.DRAIN_GROUP, *ids)
            # What this acknowledgement freed goes at once: trimming keeps pace with any rate.
            if not self.shards.sharded or now - self._trimmed_at[shard] >= SHARD_TRIM_SECONDS:
                self._trims[shard].queue(pipe)
                self._trimmed_at[shard] = now
        if by_shard or (dead and self.shards.atomic):
            pipe.execute()

    def _maybe_summary(self) -> None:
        now = time.monotonic()
        if now - self._summary_at >= SUMMARY_SECONDS:
            self._summary_at = now
            logs.event(log, "drain progress", consumer=self.consumer, **self.totals)

    # -- periodic tasks --------------------------------------------------------------------

    def reclaim(self) -> int:
        """Take over entries idle past DRAIN_CLAIM_IDLE_MS (their consumer died or failed)."""
        return sum(self._reclaim(shard) for shard in range(len(self.streams)))

    def _reclaim(self, shard: int) -> int:
        total = 0
        start = "0-0"
        while not self.stopping():
            try:
                claim_reply: Any = self.client.xautoclaim(
                    self.streams[shard],
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
                self._process_claimed(shard, entries)
            start = _text(next_start)
            if start == "0-0":
                break
        return total

    def take_over(self) -> int:
        """Claim and record a batch of the entries held by a consumer whose process is
        provably gone (sync/clicks/takeover.py), instead of waiting DRAIN_CLAIM_IDLE_MS for
        them to look idle; 0 when no gone consumer holds any."""
        found: Sequence[Iterable[str]] = (
            self._gone_by_shard()
            if self.shards.sharded
            else [takeover.gone_consumers(self.client, self.consumer)]  # lazily, as before
        )
        for shard, gone_ones in enumerate(found):
            stream = self.streams[shard]
            for gone in gone_ones:
                entries = takeover.claim_batch(
                    self.client, stream, gone, self.consumer, self.settings.batch
                )
                if entries:
                    logs.event(log, "took over a gone consumer's clicks", consumer=gone,
                               stream=stream, entries=len(entries))  # fmt: skip
                    self._process_claimed(shard, entries)
                    return len(entries)
        return 0

    def _gone_by_shard(self) -> list[list[str]]:
        """Each shard's gone consumers: every shard's XINFO CONSUMERS in one pipeline (each
        lane asks every second), each worker's liveness asked once."""
        verdicts: dict[str, bool] = {}
        return [
            list(takeover.gone_among(self.client, self.consumer, consumers, verdicts))
            for consumers in self.shards.consumers()
        ]

    def _process_claimed(self, shard: int, claimed: list[Entry]) -> None:
        """Record entries claimed from ``shard`` (ids as the stream gives them); those
        delivered more than DRAIN_MAX_DELIVERIES times are dead-lettered instead."""
        ids = [e[0] for e in claimed]
        entries = [(self.shards.ref(shard, i), f) for i, f in claimed]
        pending: Any = self.client.xpending_range(
            self.streams[shard],
            keys.DRAIN_GROUP,
            min=min(ids, key=stream_id),
            max=max(ids, key=stream_id),
            count=len(ids) + 1000,
            consumername=self.consumer,
        )
        deliveries = {
            self.shards.ref(shard, p["message_id"]): int(p["times_delivered"]) for p in pending
        }
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

    def trim(self) -> int:
        """Remove the acknowledged entries (sync/clicks/trim.py); the acknowledgement path does
        this with every batch, this is for a stream with nothing to acknowledge."""
        return sum(trim() for trim in self._trims)

    def forget_stale_consumers(self) -> None:
        """Consumers of dead processes (a name per pid) with nothing pending are removed, so the
        group's consumer list does not grow with every restart."""
        for stream in self.streams:
            try:
                consumers = self.client.xinfo_consumers(stream, keys.DRAIN_GROUP)
            except redis.ResponseError:
                continue
            for c in consumers:
                name = _text(c["name"])
                idle = c["idle"] > STALE_CONSUMER_IDLE_MS
                if name != self.consumer and not c["pending"] and idle:
                    self.client.xgroup_delconsumer(stream, keys.DRAIN_GROUP, name)


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
                except Exception as exc:
                    consumer = self.drain.consumer
                    backoff = retry_after(exc, self.burst, backoff, log, consumer=consumer)
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


def main(settings: config.Settings, burst: bool = False) -> int:
    # ua-parser compiles its rules on first use (~0.3 s): on a thread, while we connect and a
    # restarted drain takes over its predecessor's clicks (ua-parser's lazy load is locked).
    threading.Thread(target=describe, args=(WARM_UP_AGENT,), daemon=True).start()
    url = config.libpq_url(settings)
    client = redis_client(settings, socket_timeout=30)
    worker = Worker("drain", client, heartbeat_seconds=HEARTBEAT_SECONDS)
    drain = Drain(
        client,
        url,
        worker.worker_id,
        DrainSettings.from_settings(settings),
        lambda: worker.stopping,
    )
    drain.burst = burst
    worker.on_transient = drain.reconnect
    if burst:
        drain.ensure_group()  # before the first read, or a burst would read nothing
    else:
        # In the loop: Redis still starting is a transient failure the loop waits out.
        worker.every("group", 3600.0, drain.ensure_group, at_start=True)
    worker.every("reclaim", drain.settings.claim_every, drain.reclaim, at_start=True)
    worker.every("trim", TRIM_SECONDS, drain.trim)
    worker.every("partitions", PARTITION_SECONDS, drain.ensure_partitions, at_start=True)
    worker.every("retention", retention.EVERY_SECONDS, drain.apply_retention)
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
