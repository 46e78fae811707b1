"""Click webhooks: signed POSTs of each human click to the organisation's endpoints.

The drain only *enqueues* deliveries (rows in ``webhook_deliveries``, in its batch transaction,
so a click's deliveries exist exactly when the click does). `smartlinks webhooks` delivers them
from that queue with its own threads and a short timeout, so a slow or dead endpoint delays
only its own deliveries, never the drain.

A delivery is claimed with ``FOR UPDATE SKIP LOCKED`` (several workers share the queue) and
leased by pushing its ``next_attempt_at`` past the timeout: if the worker dies mid-request the
lease runs out and another worker retries it (at-least-once; receivers dedupe on ``click_id``).
Failures are retried with exponential backoff until ``WEBHOOK_MAX_ATTEMPTS``.

Signature: ``X-SmartLinks-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
the scheme Stripe uses; receivers recompute it over the raw body and reject old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from core import config, crypto, logs, outbound

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "webhook_deliveries"
SIGNATURE_HEADER = "X-SmartLinks-Signature"
USER_AGENT = "SmartLinks-Webhooks/1"
MAX_BACKOFF_SECONDS = 3600.0
KEEP_DAYS = 7
CLEANUP_SECONDS = 3600.0


def libpq_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as libpq reads it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}" if sep else url


@dataclass(frozen=True)
class ClickPayload:
    org_id: int
    click_id: str
    body: dict[str, Any]


def enqueue(cur: psycopg.Cursor[Any], clicks: Sequence[ClickPayload]) -> int:
    """One pending delivery per (active endpoint of the click's org, click), in the caller's
    transaction; the NOTIFY reaches the delivery workers when that transaction commits."""
    if not clicks:
        return 0
    cur.execute(
        "SELECT id, org_id FROM webhooks WHERE active AND org_id = ANY(%s::bigint[])",
        (sorted({c.org_id for c in clicks}),),
    )
    endpoints: dict[int, list[int]] = {}
    for webhook_id, org_id in cur.fetchall():
        endpoints.setdefault(org_id, []).append(webhook_id)
    rows = sorted(
        (webhook_id, c.org_id, c.click_id, json.dumps(c.body, separators=(",", ":")))
        for c in clicks
        for webhook_id in endpoints.get(c.org_id, ())
    )
    if not rows:
        return 0
    cur.execute(
        """
        INSERT INTO webhook_deliveries (webhook_id, org_id, click_id, payload)
        SELECT w, o, k, p::jsonb FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[])
            AS t(w, o, k, p)
        ON CONFLICT (webhook_id, click_id) DO NOTHING
        """,
        tuple(list(col) for col in zip(*rows, strict=True)),
    )
    inserted = cur.rowcount
    if inserted:
        cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return inserted


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str, body: bytes, header: str, tolerance: float = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC over the raw body, refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_seconds(attempts: int, base: float) -> float:
    """Delay before attempt ``attempts + 1``: base, 2 base, 4 base ... capped, with jitter so a
    recovering endpoint is not hit by every retry at once."""
    delay = min(MAX_BACKOFF_SECONDS, base * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class Job:
    id: int
    attempts: int  # including this one
    payload: dict[str, Any]
    url: str
    secret: str
    active: bool


@dataclass(frozen=True)
class Outcome:
    job: Job
    ok: bool
    status: int | None
    error: str


@dataclass(frozen=True)
class WebhookSettings:
    timeout: float
    max_attempts: int
    retry_base: float
    concurrency: int
    # Where deliveries may go; None: OUTBOUND_* settings, plus loopback when
    # WEBHOOK_ALLOW_HTTP_LOOPBACK=1 (the local receivers that flag was made for).
    policy: outbound.Policy | None = None

    @classmethod
    def from_env(cls) -> WebhookSettings:
        return cls(
            timeout=float(config.env("WEBHOOK_TIMEOUT_SECONDS")),
            max_attempts=config.env_int("WEBHOOK_MAX_ATTEMPTS"),
            retry_base=float(config.env("WEBHOOK_RETRY_BASE_SECONDS")),
            concurrency=config.env_int("WEBHOOK_CONCURRENCY"),
        )

    def outbound_policy(self) -> outbound.Policy:
        if self.policy is not None:
            return self.policy
        loopback = config.env("WEBHOOK_ALLOW_HTTP_LOOPBACK") == "1"
        return outbound.Policy.from_env(
            extra_allow=outbound.LOOPBACK if loopback else (),
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            total_timeout=self.timeout,
        )


class Deliverer:
    """Claims due deliveries, POSTs them on a thread pool, records each outcome."""

    def __init__(self, database_url: str, settings: WebhookSettings) -> None:
        self.database_url = libpq_url(database_url)
        self.settings = settings
        self.conn: psycopg.Connection[Any] | None = None
        self.listener: psycopg.Connection[Any] | None = None
        self.http = outbound.client(
            settings.outbound_policy(),
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        )
        self.pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="webhook")
        self.in_flight: set[Future[Outcome]] = set()
        self.delivered = 0
        self.failed = 0

    # -- connections ---------------------------------------------------------------------------

    def connect(self) -> None:
        self.close_db()
        self.conn = psycopg.connect(self.database_url, autocommit=True)
        self.listener = psycopg.connect(self.database_url, autocommit=True)
        self.listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def close_db(self) -> None:
        for c in (self.conn, self.listener):
            if c is not None:
                c.close()
        self.conn = self.listener = None

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()
        self.close_db()

    def _db(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed:
            self.connect()
        assert self.conn is not None
        return self.conn

    # -- the work ------------------------------------------------------------------------------

    def step(self) -> int:
        """Record finished deliveries, then start due ones in the free threads."""
        finished = self._collect()
        free = self.settings.concurrency - len(self.in_flight)
        jobs = self.claim(free) if free > 0 else []
        for job in jobs:
            self.in_flight.add(self.pool.submit(self.deliver, job))
        return finished + len(jobs)

    def wait(self, timeout: float) -> None:
        """Until a delivery finishes, a NOTIFY says new deliveries exist, or ``timeout``."""
        if self.in_flight:
            wait(self.in_flight, timeout=min(timeout, 0.1), return_when=FIRST_COMPLETED)
            return
        if self.listener is None:
            time.sleep(timeout)
            return
        for _ in self.listener.notifies(timeout=timeout, stop_after=1):
            pass

    def drain_in_flight(self) -> None:
        """Finish what was started (each request is bounded by the timeout)."""
        wait(self.in_flight)
        self._collect()

    def forget_old(self) -> int:
        """Delivered and failed deliveries are kept KEEP_DAYS days (for the deliveries list),
        then deleted in chunks so the table does not grow with every click forever."""
        removed = 0
        while True:
            cur = self._db().execute(
                """
                DELETE FROM webhook_deliveries WHERE id IN (
                    SELECT id FROM webhook_deliveries
                    WHERE status <> 'pending' AND created_at < now() - make_interval(days => %s)
                    LIMIT 10000)
                """,
                (KEEP_DAYS,),
            )
            removed += cur.rowcount
            if cur.rowcount < 10000:
                return removed

    def claim(self, limit: int) -> list[Job]:
        lease = self.settings.timeout + 30
        rows = (
            self._db()
            .execute(
                """
                WITH due AS (
                    SELECT id FROM webhook_deliveries
                    WHERE status = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE webhook_deliveries d
                SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => %s)
                FROM due, webhooks w
                WHERE d.id = due.id AND w.id = d.webhook_id
                RETURNING d.id, d.attempts, d.payload, w.url, w.secret, w.active
                """,
                (limit, lease),
            )
            .fetchall()
        )
        return [Job(*row) for row in rows]

    def deliver(self, job: Job) -> Outcome:
        if not job.active:
            return Outcome(job, False, None, "endpoint disabled")
        body = json.dumps(job.payload, separators=(",", ":")).encode()
        try:
            secret = crypto.decrypt(job.secret)  # stored encrypted (core.crypto)
        except crypto.SecretUnreadable:
            logs.event(log, "webhook secret unreadable: SECRETS_KEY lacks its key", logging.ERROR)
            return Outcome(job, False, None, "could not sign (the server's keys changed)")
        headers = {
            SIGNATURE_HEADER: sign(secret, body, int(time.time())),
            "X-SmartLinks-Delivery": str(job.id),
            "X-SmartLinks-Attempt": str(job.attempts),
        }
        try:
            # Streamed and closed unread: only the status matters, whatever the body's size.
            with self.http.stream("POST", job.url, content=body, headers=headers) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            # The tenant reads last_error: one generic line (no port scanning through it);
            # the operator's log has the detail.
            logs.event(
                log, "webhook delivery error", delivery=job.id, error=f"{type(exc).__name__}: {exc}"
            )
            return Outcome(job, False, None, outbound.public_error(exc))
        ok = 200 <= status < 300
        return Outcome(job, ok, status, "" if ok else f"HTTP {status}")

    def _collect(self) -> int:
        done = {f for f in self.in_flight if f.done()}
        self.in_flight -= done
        for future in done:
            self.finish(future.result())
        return len(done)

    def finish(self, outcome: Outcome) -> None:
        job = outcome.job
        if outcome.ok:
            self.delivered += 1
            self._db().execute(
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),"
                " last_status = %s, last_error = '' WHERE id = %s",
                (outcome.status, job.id),
            )
            return
        final = job.attempts >= self.settings.max_attempts or not job.active
        delay = backoff_seconds(job.attempts, self.settings.retry_base)
        self._db().execute(
            "UPDATE webhook_deliveries SET status = %s, last_status = %s, last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            ("failed" if final else "pending", outcome.status, outcome.error, delay, job.id),
        )
        if final:
            self.failed += 1
            logs.event(
                log,
                "webhook delivery failed for good",
                logging.WARNING,
                delivery=job.id,
                attempts=job.attempts,
                error=outcome.error,
            )


def main(burst: bool = False) -> int:
    from sync.drain import TRANSIENT, database_url, redis_client
    from sync.worker import Worker

    url = database_url()
    client = redis_client()
    if not url or client is None:
        logs.event(log, "DATABASE_URL and REDIS_URL must be set", logging.ERROR)
        return 2
    deliverer = Deliverer(url, WebhookSettings.from_env())
    worker = Worker(
        "webhooks", client, transient=TRANSIENT, on_transient=lambda _e: deliverer.connect()
    )
    worker.every("forget old deliveries", CLEANUP_SECONDS, deliverer.forget_old, at_start=True)
    try:
        return worker.run(deliverer.step, deliverer.wait, burst=burst, idle_wait=0.5)
    finally:
        deliverer.drain_in_flight()
        deliverer.close()
        client.close()
