"""Helpers for the publisher's tests: read records back from Redis, wait for a running sync."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from core import keys
from core.records import contact_decoder, domain_decoder, link_decoder
from tests.servers import Process


def _raw(rdb: redis.Redis, key: str, field: str) -> bytes | None:
    raw: Any = rdb.hget(key, field)
    return raw


def link_in(rdb: redis.Redis, link_id: int) -> Any:
    raw = _raw(rdb, keys.link(link_id), keys.F_DATA)
    return link_decoder.decode(raw) if raw else None


def contact_in(rdb: redis.Redis, contact_id: int) -> Any:
    raw = _raw(rdb, keys.contact(contact_id), keys.F_DATA)
    return contact_decoder.decode(raw) if raw else None


def domain_in(rdb: redis.Redis, hostname: str) -> Any:
    raw = _raw(rdb, keys.domain(hostname), keys.F_DATA)
    return domain_decoder.decode(raw) if raw else None


def code_in(rdb: redis.Redis, code: str) -> str | None:
    raw = _raw(rdb, keys.code_bucket(code), code)
    return raw.decode() if raw else None


def version_in(rdb: redis.Redis, key: str) -> int:
    raw = _raw(rdb, key, keys.F_VERSION)
    return int(raw) if raw else 0


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.005)


def sync_ready(rdb: redis.Redis, proc: Process) -> None:
    def up() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"sync exited early:\n{proc.log()}")
        beats = list(rdb.scan_iter(match=keys.worker("sync", "*")))
        return bool(beats) and bool(rdb.hexists(keys.SYNC_STATE, "full_at"))

    wait_until(up, 20, "sync started (heartbeat and sync state)")
