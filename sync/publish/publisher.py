"""`smartlinks sync`: publish Postgres changes (the sync_outbox) to Redis as versioned records.

One batch = one Postgres transaction: lock the oldest unprocessed outbox rows (``FOR UPDATE
SKIP LOCKED``, so several sync processes share the work), load the current rows they name,
write their records (or tombstones when the row is gone) in one Redis pipeline, and mark the
outbox rows processed in the same transaction once Redis has answered. A crash anywhere before
the commit leaves the rows unprocessed and the next worker redoes them: writes are idempotent
and versioned, so redoing them is harmless.

The worker is woken by ``LISTEN sync_outbox`` (admin NOTIFYs in the transaction that writes the
outbox row, so the notification arrives at commit) and polls every half second anyway, never
trusting NOTIFY alone: a notification sent while we were reconnecting is simply lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import redis

from core import config, keys, logs
from core.records import ContactRecord, DomainRecord, LinkRecord
from sync.connections import connect, servers
from sync.publish import domaincheck, reconcile, snapshots
from sync.publish.store import RecordStore
from sync.worker import Worker

log = logging.getLogger(__name__)

R = TypeVar("R", LinkRecord, ContactRecord)

NOTIFY_CHANNEL = "sync_outbox"  # admin.services.outbox.NOTIFY_CHANNEL (sync imports no admin)
IDLE_WAIT_SECONDS = 0.5  # the polling backstop
STATE_CHECK_SECONDS = 2.0  # how soon a flushed Redis is noticed and rebuilt
CLEANUP_SECONDS = 3600.0
# Ten outbox rows of the largest size (10,000 codes each): about 26 codes per bucket per HSET
# (3,844 buckets), where 20,000 made it 5 and the client's cost per command dominated; a batch
# of 100,000 codes holds about 25 MB.
MAX_CODES_PER_BATCH = 100_000
KEEP_PROCESSED = "1 day"


@dataclass
class Batch:
    """One batch of outbox rows, folded: the newest version per id, the codes rows' ids."""

    outbox_ids: list[int] = field(default_factory=list)
    domains: dict[int, int] = field(default_factory=dict)
    domain_hosts: dict[int, str] = field(default_factory=dict)  # from a delete's payload
    links: dict[int, int] = field(default_factory=dict)
    contacts: dict[int, int] = field(default_factory=dict)
    code_rows: list[int] = field(default_factory=list)  # outbox ids of "codes" rows
    code_count: int = 0

    def add(
        self, outbox_id: int, entity: str, entity_id: int, version: int, codes: int, host: Any
    ) -> None:
        self.outbox_ids.append(outbox_id)
        if entity == "domain":
            self.domains[entity_id] = max(version, self.domains.get(entity_id, 0))
            if isinstance(host, str) and host:
                self.domain_hosts[entity_id] = host
        elif entity == "link":
            self.links[entity_id] = max(version, self.links.get(entity_id, 0))
        elif entity == "contact":
            self.contacts[entity_id] = max(version, self.contacts.get(entity_id, 0))
        elif entity == "codes":
            self.code_rows.append(outbox_id)
            self.code_count += codes
        else:
            logs.event(
                log, "unknown outbox entity skipped", logging.WARNING, entity=entity, id=outbox_id
            )


# Payloads stay in Postgres: the batch reads only the size of each codes list (and a deleted
# domain's hostname); the codes themselves are joined to issued_codes in one query.
_PENDING = (
    "SELECT id, entity, entity_id, version,"
    " CASE WHEN jsonb_typeof(payload->'codes') = 'array'"
    " THEN jsonb_array_length(payload->'codes') ELSE 0 END,"
    " payload->>'hostname'"
    " FROM sync_outbox WHERE processed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)


def publish_batch(
    conn: psycopg.Connection, store: RecordStore, limit: int, max_codes: int = MAX_CODES_PER_BATCH
) -> int:
    """Publish up to ``limit`` outbox rows (and about ``max_codes`` codes); returns how many
    rows were processed. Rows locked but left out are unlocked at commit for the next batch."""
    with conn.transaction():
        rows = conn.execute(_PENDING, (limit,)).fetchall()
        if not rows:
            return 0
        batch = Batch()
        for row in rows:
            if batch.outbox_ids and batch.code_count + row[4] > max_codes:
                break
            batch.add(*row)
        pipe = store.client.pipeline(transaction=False)
        _queue_domains(conn, store, pipe, batch)
        links, contacts = batch.links, batch.contacts
        _queue(conn, pipe, links, snapshots.load_links, snapshots.link_tombstone, store.put_link)
        _queue(
            conn,
            pipe,
            contacts,
            snapshots.load_contacts,
            snapshots.contact_tombstone,
            store.put_contact,
        )
        _queue_codes(conn, store, pipe, batch.code_rows)
        pipe.execute()  # raises on any error: the transaction rolls back, the rows stay pending
        conn.execute(
            "UPDATE sync_outbox SET processed_at = now() WHERE id = ANY(%s)", (batch.outbox_ids,)
        )
    return len(batch.outbox_ids)


def queue_domain(
    store: RecordStore, pipe: redis.client.Pipeline, rec: DomainRecord, previous_host: str | None
) -> None:
    """A live domain, and a tombstone at its former hostname if the hostname changed."""
    store.put_domain(rec, pipe)
    if previous_host and previous_host != rec.hostname:
        store.put_domain(snapshots.domain_tombstone(rec.id, previous_host, rec.version), pipe)
    pipe.hset(keys.SYNC_DOMAIN_HOSTS, str(rec.id), rec.hostname)


def _queue_domains(
    conn: psycopg.Connection, store: RecordStore, pipe: redis.client.Pipeline, batch: Batch
) -> None:
    if not batch.domains:
        return
    ids = list(batch.domains)
    known = dict(zip(ids, store.client.hmget(keys.SYNC_DOMAIN_HOSTS, ids), strict=True))
    current = snapshots.load_domains(conn, batch.domains)
    unpublished = [i for i in ids if i not in current]
    pending = snapshots.existing_ids(conn, "domains", "id", unpublished)
    for domain_id, version in batch.domains.items():
        previous = known.get(domain_id)
        previous_host = previous.decode() if isinstance(previous, bytes) else None
        rec = current.get(domain_id)
        if rec is not None:
            queue_domain(store, pipe, rec, previous_host)
            continue
        hostname = batch.domain_hosts.get(domain_id) or previous_host
        if hostname is None and domain_id in pending:
            continue  # a pending claim is never published (docs/decisions/0007)
        if hostname is None:
            # Nothing says where it lived; the full rebuild's prune finds such keys.
            logs.event(log, "deleted domain has no known hostname", domain_id=domain_id)
            continue
        store.put_domain(snapshots.domain_tombstone(domain_id, hostname, version), pipe)
        pipe.hdel(keys.SYNC_DOMAIN_HOSTS, str(domain_id))


def _queue(
    conn: psycopg.Connection,
    pipe: redis.client.Pipeline,
    versions: dict[int, int],
    load: Callable[[psycopg.Connection, dict[int, int]], dict[int, R]],
    tombstone: Callable[[int, int], R],
    put: Callable[[R, redis.client.Pipeline], object],
) -> None:
    """Each record of ``versions`` (id: version) as its row is now, or its tombstone where
    the row is gone."""
    if not versions:
        return
    current = load(conn, versions)
    for record_id, version in versions.items():
        put(current.get(record_id) or tombstone(record_id, version), pipe)


def _queue_codes(
    conn: psycopg.Connection, store: RecordStore, pipe: redis.client.Pipeline, rows: list[int]
) -> None:
    if not rows:
        return
    found, gone = snapshots.load_outbox_codes(conn, rows)
    store.put_codes(found, pipe)
    # A code named by the outbox but gone from Postgres was deleted with its link or contact.
    store.delete_codes(gone, pipe)


class Publisher:
    """The sync worker: its Postgres connections, its Redis store and its loop."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        batch_size: int = 500,
        reconcile_seconds: float = 300.0,
        cluster: bool = False,  # redis_url names a node of a cluster (REDIS_CLUSTER=1)
        partitions: int = 1,  # REDIS_PARTITIONS (core/keys.py)
    ) -> None:
        self.database_url = config.to_libpq(database_url)
        self.batch_size = batch_size
        self.reconcile_seconds = reconcile_seconds
        # The periodic DNS re-check of verified domains (main() sets it; tests may leave it).
        self.checker: domaincheck.DomainChecker | None = None
        self.client = connect(redis_url, cluster)
        self.store = RecordStore(self.client, partitions)
        self.conn: psycopg.Connection | None = None
        self.listener: psycopg.Connection | None = None
        self.reconciler = reconcile.Reconciler(self.database_url, self.store)

    # -- connections -------------------------------------------------------------------------

    def connect(self) -> None:
        self.close()
        self.conn = psycopg.connect(self.database_url, autocommit=True)
        # LISTEN needs autocommit: notifications are delivered between transactions.
        self.listener = psycopg.connect(self.database_url, autocommit=True)
        self.listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def close(self) -> None:
        for conn in (self.conn, self.listener):
            if conn is not None:
                conn.close()
        self.conn = self.listener = None

    def _work_conn(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.connect()
        assert self.conn is not None
        return self.conn

    # -- the steps the worker loop runs ------------------------------------------------------

    def publish_pending(self) -> int:
        return publish_batch(self._work_conn(), self.store, self.batch_size)

    def wait(self, timeout: float) -> None:
        """Until a NOTIFY arrives or ``timeout`` passes (the polling backstop)."""
        if self.listener is None or self.listener.closed:
            self.connect()
        assert self.listener is not None
        for _ in self.listener.notifies(timeout=timeout, stop_after=1):
            pass

    def delete_old(self) -> int:
        """Processed outbox rows are kept a day (for inspection), then deleted in chunks."""
        conn = self._work_conn()
        total = 0
        while True:
            cur = conn.execute(
                "DELETE FROM sync_outbox WHERE id IN (SELECT id FROM sync_outbox"
                f" WHERE processed_at < now() - interval '{KEEP_PROCESSED}' LIMIT 10000)"
            )
            total += cur.rowcount
            if cur.rowcount < 10000:
                break
        if total:
            logs.event(log, "old outbox rows deleted", rows=total)
        return total

    def run(self, *, full: bool = False, burst: bool = False) -> int:
        # Connections are opened lazily by the first step: a database that is still starting
        # is a transient failure the loop retries, not a crash.
        worker = Worker("sync", self.client, on_transient=lambda exc: self.connect())

        def between_chunks() -> int:
            # During a long rebuild: keep edits flowing, and keep the heartbeat alive.
            done = self.publish_pending()
            worker.processed += done
            worker.beat()
            return done

        self.reconciler.between = between_chunks
        self.reconciler.should_stop = lambda: worker.stopping
        if full:
            self.reconciler.request_rebuild()
        worker.every("heal", STATE_CHECK_SECONDS, self.reconciler.heal, at_start=True)
        worker.every("reconcile", self.reconcile_seconds, self.reconciler.reconcile)
        if not burst:
            worker.every("cleanup", CLEANUP_SECONDS, self.delete_old, at_start=True)
            if self.checker is not None:
                checker = self.checker
                worker.every("domains", min(60.0, checker.every), checker.start, at_start=True)
        code = worker.run(self.publish_pending, self.wait, burst=burst, idle_wait=IDLE_WAIT_SECONDS)
        if burst and self.reconciler.rebuild_pending:
            logs.event(
                log,
                "the full rebuild did not complete (another sync process holds the rebuild lock)",
                logging.ERROR,
            )
            return 1
        return code


def main(settings: config.Settings, full: bool = False, burst: bool = False) -> int:
    database, redis_url = servers(settings)
    publisher = Publisher(database, redis_url, settings.sync.batch, settings.sync.reconcile_seconds,
                          cluster=config.redis_cluster(settings),
                          partitions=config.redis_partitions(settings))  # fmt: skip
    publisher.checker = domaincheck.DomainChecker(
        publisher.database_url,
        settings.sync.domain_recheck_seconds,
        settings.edge.cname_target,
        settings.dns_servers,
    )
    try:
        return publisher.run(full=full, burst=burst)
    finally:
        publisher.close()
        publisher.client.close()
