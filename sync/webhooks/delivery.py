"""Click webhooks: signed POSTs of each human click to the organisation's endpoints.

The drain only *enqueues* deliveries (sync.clicks.webhook_queue, in its batch transaction).
This worker delivers them from that queue with its own threads and a short timeout, so a slow or
dead endpoint delays only its own deliveries, never the drain.

A delivery is claimed with ``FOR UPDATE SKIP LOCKED`` (several workers share the queue) and
leased by pushing its ``next_attempt_at`` past the timeout: if the worker dies mid-request the
lease runs out and another worker retries it (at-least-once; receivers dedupe on ``click_id``).
Failures are retried with exponential backoff until ``WEBHOOK_MAX_ATTEMPTS``. The signature
is sync.webhooks.signature's.
"""

from __future__ import annotations

import json
import logging
import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from core import config, logs
from sync import crypto, outbound
from sync.clicks.webhook_queue import NOTIFY_CHANNEL
from sync.connections import redis_client, servers
from sync.webhooks.signature import SIGNATURE_HEADER, sign
from sync.worker import Worker

log = logging.getLogger(__name__)

USER_AGENT = "SmartLinks-Webhooks/1"
MAX_BACKOFF_SECONDS = 3600.0
KEEP_DAYS = 7
CLEANUP_SECONDS = 3600.0


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
    def from_settings(cls, settings: config.Settings) -> WebhookSettings:
        return cls(
            timeout=settings.webhooks.timeout_seconds,
            max_attempts=settings.webhooks.max_attempts,
            retry_base=settings.webhooks.retry_base_seconds,
            concurrency=settings.webhooks.concurrency,
            policy=cls.policy_of(settings, settings.webhooks.timeout_seconds),
        )

    @staticmethod
    def policy_of(settings: config.Settings, timeout: float) -> outbound.Policy:
        loopback = settings.webhooks.allow_http_loopback
        return outbound.Policy.from_settings(
            settings,
            extra_allow=outbound.LOOPBACK if loopback else (),
            connect_timeout=timeout,
            read_timeout=timeout,
            total_timeout=timeout,
        )

    def outbound_policy(self) -> outbound.Policy:
        return self.policy or self.policy_of(config.load(), self.timeout)


class Deliverer:
    """Claims due deliveries, POSTs them on a thread pool, records each outcome."""

    def __init__(self, database_url: str, settings: WebhookSettings) -> None:
        self.database_url = config.to_libpq(database_url)
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
            secret = crypto.decrypt(job.secret)  # stored encrypted (sync.crypto)
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


def main(settings: config.Settings, burst: bool = False) -> int:
    url, _ = servers(settings)
    client = redis_client(settings, socket_timeout=30)
    deliverer = Deliverer(url, WebhookSettings.from_settings(settings))
    worker = Worker("webhooks", client, on_transient=lambda _e: deliverer.connect())
    worker.every("forget old deliveries", CLEANUP_SECONDS, deliverer.forget_old, at_start=True)
    try:
        return worker.run(deliverer.step, deliverer.wait, burst=burst, idle_wait=0.5)
    finally:
        deliverer.drain_in_flight()
        deliverer.close()
        client.close()
