"""`smartlinks sender`: hands queued messages to each organisation's SMS provider.

A step claims due messages per organisation (``FOR UPDATE SKIP LOCKED``, so several senders
share the queue): a batch for an unpaced provider, a few seconds' worth for a paced one. It marks
them ``sending`` and commits, then sends each through the organisation's provider, paced by a
token bucket per organisation. A rate limit (429), a server error (5xx) or a network
failure puts the message back in the queue with exponential backoff (honouring Retry-After);
any other refusal fails it. A provider's answer is committed right away, so the delivery
callback that follows finds the message by its provider id.

Exactly once: the claim (``sending``, ``claimed_at``) is committed before the provider call,
so a sender killed mid-send leaves its messages in ``sending``. After SENDER_STALE_SECONDS each
is reconciled with its provider (``Provider.lookup``): one the provider has is recorded as sent
with the provider's id, one it never got goes back to the queue, and one it cannot tell about
now waits for the next round. No message is handed to the provider twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from admin.extensions import db
from admin.providers import settings as provider_settings
from admin.providers.base import OutgoingMessage, Provider, ProviderError, Submitted
from admin.providers.ratelimit import TokenBucket
from admin.sender import sql
from admin.services.sends import NOTIFY_CHANNEL
from core import config, logs
from sync import outbound
from sync.connections import redis_client, servers
from sync.worker import Worker

log = logging.getLogger(__name__)

PACED_SECONDS = 5.0  # a paced provider's claim: what it can send in this long


@dataclass(frozen=True)
class Claimed:
    id: int
    org_id: int
    to: str
    body: str
    attempts: int


class Sender:
    """Runs inside a Flask app context (it uses the admin's database session)."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        public_admin_url: str,
        batch: int = 500,
        max_attempts: int = 6,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        stale_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        stopping: Callable[[], bool] = lambda: False,
        paced_seconds: float = PACED_SECONDS,
    ) -> None:
        self.http = http
        self.public_admin_url = public_admin_url
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stale_seconds = stale_seconds
        self.sleep = sleep
        self.stopping = stopping
        self.paced_seconds = paced_seconds
        self._buckets: dict[tuple[int, float], TokenBucket] = {}
        self.sent = self.retried = self.failed = 0

    # -- one step ------------------------------------------------------------------------------

    def step(self, burst: bool = False) -> int:
        """Send the due messages of each organisation with some (a batch for an unpaced
        provider, a few seconds' worth for a paced one, so that no claimed message waits
        long in ``sending``); returns how many were handled. In burst mode, wait for a
        scheduled retry rather than report an empty step while messages are queued."""
        handled = self._step_once()
        if handled or not burst:
            return handled
        due = db.session.scalar(sql.NEXT_RETRY)
        db.session.commit()
        if due is None:
            return 0
        self.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.01)
        return self._step_once()

    def _step_once(self) -> int:
        org_ids = list(db.session.scalars(sql.DUE_ORGS))
        db.session.commit()
        if not org_ids:
            return 0
        providers = self._providers(set(org_ids))
        handled = 0
        for org_id in org_ids:
            if self.stopping():
                break
            provider = providers[org_id]
            rate = provider.rate_per_second
            limit = self.batch if rate is None else max(1, int(rate * self.paced_seconds))
            claimed, dropped = self._claim(org_id, limit)
            handled += dropped + self._send_batch(provider, claimed)
        return handled

    def _send_batch(self, provider: Provider, claimed: list[Claimed]) -> int:
        if not claimed:
            return 0
        done: list[dict[str, Any]] = []  # sent by an unpaced provider: written in one statement
        for position, message in enumerate(claimed):
            if self.stopping():
                self._release(claimed[position:])
                break
            self._pace(message.org_id, provider)
            sent = self._send(provider, message)
            if sent is not None and provider.rate_per_second is None:
                done.append(sent)
            elif sent is not None:
                db.session.execute(sql.SENT, sent)
                db.session.commit()  # callbacks may come at once: the provider id must be there
        if done:
            db.session.execute(sql.SENT_MANY, sql.columns(done))
        db.session.commit()
        return len(claimed)

    def requeue_stale(self) -> int:
        """Reconcile the messages a dead sender left in ``sending``; returns how many went back
        to the queue (the provider never got them)."""
        requeued = found = 0
        while not self.stopping():
            rows = db.session.execute(
                sql.STALE, {"stale": self.stale_seconds, "limit": self.batch}
            ).all()
            db.session.commit()
            if not rows:
                break
            providers = self._providers({r.org_id for r in rows})
            back: list[int] = []
            for r in rows:
                provider = providers[r.org_id]
                try:
                    known = provider.lookup(
                        OutgoingMessage(r.id, r.org_id, r.to_phone, r.body, r.claimed_at)
                    )
                except ProviderError as exc:
                    logs.event(
                        log, "cannot reconcile a message now", logging.WARNING,
                        message_id=r.id, error=str(exc),
                    )  # fmt: skip
                    continue  # renewed: tried again after another stale period
                if known is None:
                    back.append(r.id)
                    continue
                found += 1
                db.session.execute(
                    sql.SENT,
                    {"id": r.id, "status": known.status, "provider": provider.name,
                     "provider_message_id": known.provider_message_id},
                )  # fmt: skip
            db.session.execute(sql.REQUEUE, {"ids": back})
            db.session.commit()
            requeued += len(back)
            if len(rows) < self.batch:
                break
        if requeued or found:
            logs.event(
                log, "reconciled messages left in sending", logging.WARNING,
                requeued=requeued, found_at_provider=found,
            )  # fmt: skip
        return requeued

    # -- parts ---------------------------------------------------------------------------------

    def _claim(self, org_id: int, limit: int) -> tuple[list[Claimed], int]:
        """The claimed messages to send, and how many were dropped (opted-out contacts)."""
        rows = db.session.execute(sql.CLAIM, {"org_id": org_id, "limit": limit}).all()
        db.session.commit()
        claimed = sorted(
            (
                Claimed(r.id, r.org_id, r.to_phone, r.body, r.attempts)
                for r in rows
                if r.status == "sending"  # the others: the contact opted out
            ),
            key=lambda m: m.id,
        )
        return claimed, len(rows) - len(claimed)

    def _release(self, messages: list[Claimed]) -> None:
        """A warm stop: what was claimed but not sent goes back to the queue untouched."""
        db.session.execute(sql.RELEASE, {"ids": [m.id for m in messages]})

    def _providers(self, org_ids: set[int]) -> dict[int, Provider]:
        rows = db.session.execute(sql.ORG_SETTINGS, {"ids": list(org_ids)}).all()
        return {
            r.id: provider_settings.build(
                provider_settings.of_org(r.settings),
                http=self.http,
                public_admin_url=self.public_admin_url,
                org_id=r.id,
            )
            for r in rows
        }

    def _pace(self, org_id: int, provider: Provider) -> None:
        rate = provider.rate_per_second
        if rate is None:
            return
        bucket = self._buckets.setdefault((org_id, rate), TokenBucket(rate))
        while (wait := bucket.wait_time()) > 0:
            self.sleep(wait)
        bucket.take()

    def _send(self, provider: Provider, message: Claimed) -> dict[str, Any] | None:
        """The row update of a sent message; a refusal is written here and gives None."""
        outgoing = OutgoingMessage(message.id, message.org_id, message.to, message.body)
        try:
            result: Submitted = provider.send(outgoing)
        except ProviderError as exc:
            self._refused(provider, message, exc)
            return None
        self.sent += 1
        return {
            "id": message.id,
            "status": result.status,
            "provider": provider.name,
            "provider_message_id": result.provider_message_id,
        }

    def _refused(self, provider: Provider, message: Claimed, exc: ProviderError) -> None:
        params: dict[str, Any] = {"id": message.id, "provider": provider.name, "error": str(exc)}
        if exc.retryable and message.attempts < self.max_attempts:
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (message.attempts - 1))
            if exc.retry_after is not None:
                delay = max(delay, min(self.backoff_cap, exc.retry_after))
            db.session.execute(sql.RETRY, {**params, "delay": delay})
            self.retried += 1
            logs.event(
                log, "send deferred", logging.WARNING, message_id=message.id, retry_in=delay,
                attempts=message.attempts, error=str(exc),
            )  # fmt: skip
            return
        db.session.execute(sql.FAILED, params)
        self.failed += 1
        logs.event(
            log, "send failed", logging.WARNING, message_id=message.id, attempts=message.attempts,
            error=str(exc),
        )  # fmt: skip


class Wakeup:
    """LISTEN for queued messages on a connection of its own; a lost connection is opened
    again on the next wait (meanwhile the worker's polling timeout keeps it going)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None

    def wait(self, timeout: float) -> None:
        import psycopg

        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as exc:
            logs.event(log, "listen connection lost", logging.WARNING, error=repr(exc))
            self.close()
            time.sleep(min(timeout, 1.0))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def main(settings: config.Settings, burst: bool = False) -> int:
    """The `smartlinks sender` role."""

    from admin import create_app

    database, _ = servers(settings)
    app = create_app(settings=settings)
    # Providers' URLs are tenants' too: the guarded client (sync/outbound.py).
    policy = outbound.Policy.from_settings(settings, read_timeout=15.0)
    with app.app_context(), outbound.client(policy) as http:
        # Only the heartbeat uses Redis: a stalled Redis must not hold up the sending.
        client = redis_client(settings, socket_timeout=5, socket_connect_timeout=5)
        # A database or Redis restart, refusal or timeout is waited out (sync.worker's one
        # notion of transient, which sees the driver's error inside SQLAlchemy's; the session's
        # transaction is rolled back and the pool reconnects), never a reason to die.
        worker = Worker("sender", client, on_transient=lambda exc: db.session.rollback())
        sender = Sender(
            http=http,
            public_admin_url=settings.admin.public_url,
            batch=settings.sender.batch,
            max_attempts=settings.sender.max_attempts,
            backoff_base=settings.sender.retry_base_seconds,
            backoff_cap=settings.sender.retry_cap_seconds,
            stale_seconds=settings.sender.stale_seconds,
            sleep=worker.sleep,
            stopping=lambda: worker.stopping,
        )
        wakeup = Wakeup(database)
        worker.every("requeue stale", 60.0, sender.requeue_stale, at_start=True)
        try:
            return worker.run(
                lambda: sender.step(burst=burst), wakeup.wait, burst=burst, idle_wait=1.0
            )
        finally:
            wakeup.close()
