"""Rebuilding Redis from Postgres, and repairing drift between them.

- **Full rebuild** (``smartlinks sync --full``, or whenever Redis lacks a completed sync state,
  e.g. after a FLUSHALL or on first start): stream every domain, link, contact and issued code
  from Postgres into Redis in chunks, then prune what Redis holds that Postgres no longer does
  (stale records get a tombstone with a fresh version; stale codes are removed). The state key
  ``sl:sync:state`` is marked complete only if it survived the whole rebuild, so a FLUSHALL
  during a rebuild causes another one.
- **Reconcile** (every ``SYNC_RECONCILE_SECONDS``): a cheap check rather than a rebuild. It
  compares the number of issued codes with the codes in Redis's buckets and samples a few
  hundred random rows of each kind against the versions in Redis; a kind that drifted is
  republished and pruned.

Between chunks the rebuild calls ``between`` (the publisher's outbox batch), so that edits keep
reaching Redis within a second while a large rebuild runs.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from core import keys, logs
from core.records import DomainRecord, LinkRecord
from sync.publish import snapshots
from sync.publish.store import RecordStore

log = logging.getLogger(__name__)

KINDS = ("domains", "links", "contacts", "codes")
_LETTERS = {"domains": keys.DOMAIN, "links": keys.LINK, "contacts": keys.CONTACT}
SAMPLE_SIZE = 256
SCAN_CHUNK = 1000

# Mark the rebuild complete only if the state key still carries this rebuild's token.
_FINISH = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


# One rebuild at a time across sync processes: a lock with a TTL, extended between chunks, so a
# rebuild killed with -9 frees it soon. Without it, two processes finding the state missing
# would each restart the state under their own token and invalidate each other forever.
LOCK_MS = 15_000
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Reconciler:
    def __init__(
        self,
        database_url: str,
        store: RecordStore,
        between: Callable[[], object] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.database_url = database_url
        self.store = store
        self.client = store.client
        self.between = between
        self.should_stop = should_stop
        self._rebuild_requested = False
        self._finish = self.client.register_script(_FINISH)
        self._extend = self.client.register_script(_EXTEND)
        self._release = self.client.register_script(_RELEASE)
        self._lock_token: str | None = None

    # -- state ---------------------------------------------------------------------------------

    def state_complete(self) -> bool:
        return bool(self.client.hexists(keys.SYNC_STATE, "full_at"))

    def request_rebuild(self) -> None:
        self._rebuild_requested = True

    @property
    def rebuild_pending(self) -> bool:
        """A rebuild was asked for (``--full``) and has not completed yet."""
        return self._rebuild_requested

    def heal(self) -> None:
        """Frequent and cheap: rebuild when asked to or when Redis has lost the sync state."""
        if self._rebuild_requested or not self.state_complete():
            reason = "requested" if self._rebuild_requested else "sync state missing"
            if self.full_rebuild(reason):
                self._rebuild_requested = False

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True)

    def _keep_lock(self) -> None:
        if self._lock_token is not None:
            self._extend(keys=[keys.SYNC_REBUILD_LOCK], args=[self._lock_token, LOCK_MS])

    def _tick(self) -> bool:
        """Between chunks: let the outbox through, and say whether to give up (a stop)."""
        self._keep_lock()
        if self.between is not None:
            while self.between():
                pass
        return self.should_stop is not None and self.should_stop()

    # -- full rebuild --------------------------------------------------------------------------

    def full_rebuild(self, reason: str = "requested") -> bool:
        """Returns True when the rebuild completed and the state key was marked."""
        token = secrets.token_hex(8)
        if not self.client.set(keys.SYNC_REBUILD_LOCK, token, nx=True, px=LOCK_MS):
            log.debug("another sync process is rebuilding")
            return False
        self._lock_token = token
        try:
            return self._rebuild(token, reason)
        finally:
            self._lock_token = None
            self._release(keys=[keys.SYNC_REBUILD_LOCK], args=[token])

    def _rebuild(self, token: str, reason: str) -> bool:
        started = time.monotonic()
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.SYNC_STATE)
        pipe.hset(keys.SYNC_STATE, mapping={"token": token, "started_at": time.time()})
        pipe.execute()
        logs.event(log, "full rebuild started", reason=reason)
        counts: dict[str, int] = {}
        timings: dict[str, float] = {}
        with self._connect() as conn:
            for kind in KINDS:
                t = time.monotonic()
                n = self.publish_kind(conn, kind)
                if n < 0:
                    logs.event(log, "full rebuild interrupted by a stop")
                    return False
                counts[kind] = n
                timings[f"publish_{kind}"] = round(time.monotonic() - t, 3)
            for kind in KINDS:
                t = time.monotonic()
                counts[f"pruned_{kind}"] = self.prune_kind(conn, kind)
                timings[f"prune_{kind}"] = round(time.monotonic() - t, 3)
        fields: list[Any] = ["full_at", time.time()]
        for name, value in counts.items():
            fields += [name, value]
        done = bool(self._finish(keys=[keys.SYNC_STATE], args=[token, *fields]))
        elapsed = round(time.monotonic() - started, 3)
        if not done:
            logs.event(log, "Redis lost the sync state during the rebuild; it will run again")
            return False
        details: dict[str, object] = {**counts, **timings}
        logs.event(log, "full rebuild done", logging.INFO, seconds=elapsed, **details)
        return True

    def publish_kind(self, conn: psycopg.Connection, kind: str) -> int:
        """Write every record of one kind; -1 if a stop was requested meanwhile."""
        total = 0
        if kind == "codes":
            for code_rows in snapshots.stream_codes(conn):
                total += self.store.put_codes(code_rows)
                if self._tick():
                    return -1
            return total
        pipe_records: Iterator[list[Any]]
        if kind == "domains":
            pipe_records = snapshots.stream_domains(conn)
        elif kind == "links":
            pipe_records = snapshots.stream_links(conn)
        else:
            pipe_records = snapshots.stream_contacts(conn)
        for records in pipe_records:
            pipe = self.client.pipeline(transaction=False)
            for rec in records:
                if isinstance(rec, DomainRecord):
                    self.store.put_domain(rec, pipe)
                    pipe.hset(keys.SYNC_DOMAIN_HOSTS, str(rec.id), rec.hostname)
                elif isinstance(rec, LinkRecord):
                    self.store.put_link(rec, pipe)
                else:
                    self.store.put_contact(rec, pipe)
            pipe.execute()
            total += len(records)
            if self._tick():
                return -1
        return total

    # -- prune: what Redis holds that Postgres no longer does ---------------------------------

    def _key(self, kind: str, name: str, sampled: bool = False) -> str:
        """The record's key; for a domain or link, the copy of partition 0, or of a random
        partition when ``sampled`` (a drift check then covers every copy over time)."""
        partitions = self.store.partitions
        if kind == "contacts":
            return keys.contact(name, partitions)
        partition = secrets.randbelow(partitions) if sampled else 0
        if kind == "domains":
            return keys.domain(name, partition, partitions)
        return keys.link(name, partition, partitions)

    def _scan(self, pattern: str) -> Iterator[list[str]]:
        batch: list[str] = []
        for key in self.client.scan_iter(match=pattern, count=SCAN_CHUNK):
            batch.append(_text(key))
            if len(batch) >= SCAN_CHUNK:
                yield batch
                batch = []
        if batch:
            yield batch

    def _fresh_version(self, conn: psycopg.Connection) -> int:
        row = conn.execute("SELECT nextval('record_versions')").fetchone()
        assert row is not None
        return int(row[0])

    def prune_kind(self, conn: psycopg.Connection, kind: str) -> int:
        if kind == "codes":
            return self._prune_codes(conn)
        letter = _LETTERS[kind]
        table = {"domains": snapshots.DOMAINS, "links": "links", "contacts": "contacts"}[kind]
        column = "hostname" if kind == "domains" else "id"
        pruned = 0
        # With several partitions a domain or link shows once per copy: one check for them all.
        for chunk in self._scan(keys.pattern(letter, self.store.partitions)):
            self._keep_lock()
            # key name -> the value Postgres knows it by (hostname or id)
            names: dict[str, Any] = {}
            for key in chunk:
                name = keys.record_name(key, letter)
                if kind == "domains":
                    names[name] = name
                elif name.isdigit():
                    names[name] = int(name)
            present = snapshots.existing_ids(conn, table, column, list(names.values()))
            gone = [name for name, value in names.items() if value not in present]
            if not gone:
                continue  # the usual case: read nothing more from Redis
            pipe = self.client.pipeline(transaction=False)
            for name in gone:
                pipe.hmget(self._key(kind, name), keys.F_STATE, "id")
            states = pipe.execute()
            pipe = self.client.pipeline(transaction=False)
            for name, (state, domain_id) in zip(gone, states, strict=True):
                if _text(state or b"") == "x":
                    continue  # already a tombstone
                version = self._fresh_version(conn)
                if kind == "domains":
                    did = int(_text(domain_id)) if domain_id else 0
                    self.store.put_domain(snapshots.domain_tombstone(did, name, version), pipe)
                elif kind == "links":
                    self.store.put_link(snapshots.link_tombstone(names[name], version), pipe)
                else:
                    self.store.put_contact(snapshots.contact_tombstone(names[name], version), pipe)
                pruned += 1
            pipe.execute()
        if kind == "domains":
            pruned += self._prune_domain_hosts(conn)
        return pruned

    def _prune_domain_hosts(self, conn: psycopg.Connection) -> int:
        ids = [int(_text(k)) for k in self.client.hkeys(keys.SYNC_DOMAIN_HOSTS)]
        gone = set(ids) - snapshots.existing_ids(conn, snapshots.DOMAINS, "id", ids)
        if gone:
            self.client.hdel(keys.SYNC_DOMAIN_HOSTS, *[str(i) for i in gone])
        return 0  # bookkeeping only, not records

    def _prune_codes(self, conn: psycopg.Connection) -> int:
        """Remove codes whose rows are gone, and codes sitting in a bucket that is no longer
        theirs (after a change of the bucket scheme in core.keys.code_bucket)."""
        pruned = 0
        partitions = self.store.partitions
        for buckets in self._scan(keys.pattern(keys.BUCKET, partitions)):
            self._keep_lock()
            for group in _chunks(buckets, 200):
                pipe = self.client.pipeline(transaction=False)
                for bucket in group:
                    pipe.hkeys(bucket)
                held = {
                    b: [_text(c) for c in codes]
                    for b, codes in zip(group, pipe.execute(), strict=True)
                }
                all_codes = [c for codes in held.values() for c in codes]
                present: set[str] = set()
                for part in _chunks(all_codes, 10_000):
                    present |= snapshots.existing_ids(conn, "issued_codes", "code", part)
                pipe = self.client.pipeline(transaction=False)
                for bucket, codes in held.items():
                    stale = [
                        c
                        for c in codes
                        if c not in present or keys.code_bucket(c, partitions) != bucket
                    ]
                    if stale:
                        pipe.hdel(bucket, *stale)
                        pruned += len(stale)
                pipe.execute()
        return pruned

    # -- reconcile -----------------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """The periodic check; returns the kinds that had drifted (and were repaired)."""
        if self._rebuild_requested or not self.state_complete():
            self.heal()
            return list(KINDS)
        with self._connect() as conn:
            drifted = [kind for kind in KINDS if self.drifted(conn, kind)]
            for kind in drifted:
                if self.publish_kind(conn, kind) < 0:
                    break
                self.prune_kind(conn, kind)
        self.client.hset(keys.SYNC_STATE, "reconciled_at", time.time())
        if drifted:
            logs.event(log, "reconcile repaired drift", kinds=drifted)
        return drifted

    def drifted(self, conn: psycopg.Connection, kind: str) -> bool:
        if kind == "codes":
            return self._codes_drifted(conn)
        table = {"domains": "domains", "links": "links", "contacts": "contacts"}[kind]
        name_column = "hostname" if kind == "domains" else "id"
        # TABLESAMPLE needs a table (not the published_domains view): filter after sampling.
        where = "verified_at IS NOT NULL" if kind == "domains" else ""
        sample = self._sample(
            conn, f"SELECT {{cols}} FROM {table}", f"id, {name_column}, version", where
        )
        pipe = self.client.pipeline(transaction=False)
        for _, name, _ in sample:
            pipe.hget(self._key(kind, name, sampled=True), keys.F_VERSION)
        stale = [
            row_id
            for (row_id, _, version), held in zip(sample, pipe.execute(), strict=True)
            if held is None or int(held) < version
        ]
        if not stale:
            return False
        # A change committed a moment ago is in flight, not drift: its outbox row is pending.
        in_flight = conn.execute(
            "SELECT DISTINCT entity_id FROM sync_outbox WHERE processed_at IS NULL"
            " AND entity = %s AND entity_id = ANY(%s)",
            (kind.rstrip("s"), stale),
        ).fetchall()
        return len(stale) > len(in_flight)

    def _codes_drifted(self, conn: psycopg.Connection) -> bool:
        pending = conn.execute(
            "SELECT 1 FROM sync_outbox WHERE processed_at IS NULL AND entity = 'codes' LIMIT 1"
        ).fetchone()
        if pending is not None:
            return False  # codes in flight would look like drift; check again next time
        row = conn.execute("SELECT count(*) FROM issued_codes").fetchone()
        expected = int(row[0]) if row else 0
        held = 0
        for buckets in self._scan(keys.pattern(keys.BUCKET, self.store.partitions)):
            pipe = self.client.pipeline(transaction=False)
            for bucket in buckets:
                pipe.hlen(bucket)
            held += sum(pipe.execute())
        if held != expected:
            return True
        sample = self._sample(conn, "SELECT {cols} FROM issued_codes", "code, link_id")
        pipe = self.client.pipeline(transaction=False)
        for code, _ in sample:
            pipe.hexists(keys.code_bucket(code, self.store.partitions), code)
        return not all(pipe.execute())

    def _sample(
        self, conn: psycopg.Connection, sql: str, cols: str, where: str = ""
    ) -> list[tuple[Any, ...]]:
        """About SAMPLE_SIZE random rows: all of a small table, a Bernoulli sample of a big one."""
        cond = f" WHERE {where}" if where else ""
        count_row = conn.execute(sql.format(cols="count(*)") + cond).fetchone()
        count = int(count_row[0]) if count_row else 0
        if count <= SAMPLE_SIZE:
            return [tuple(r) for r in conn.execute(sql.format(cols=cols) + cond).fetchall()]
        percent = min(100.0, 100.0 * SAMPLE_SIZE / count)
        query = sql.format(cols=cols) + f" TABLESAMPLE BERNOULLI ({percent:.6f})" + cond
        return [tuple(r) for r in conn.execute(query).fetchall()]
