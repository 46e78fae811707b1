"""Helpers for sync tests: run the publisher in burst mode in this process, read records back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from core import keys
from core.records import contact_decoder, domain_decoder, link_decoder
from sync.publisher import Publisher
from tests.conftest import Servers
from tests.servers import Process, smartlinks_process


@pytest.fixture
def burst(clean: Servers) -> Iterator[Callable[..., Publisher]]:
    """``burst()`` publishes everything pending (and rebuilds if Redis lacks the sync state)."""
    made: list[Publisher] = []

    def run(full: bool = False, batch_size: int = 500) -> Publisher:
        pub = Publisher(clean.database_url, clean.redis_url, batch_size)
        made.append(pub)
        assert pub.run(full=full, burst=True) == 0
        return pub

    yield run
    for pub in made:
        pub.close()
        pub.client.close()


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


@pytest.fixture
def sync_proc(clean: Servers, rdb: redis.Redis, tmp_path: Path) -> Iterator[Process]:
    with smartlinks_process(["sync"], clean.env(), tmp_path) as proc:
        sync_ready(rdb, proc)
        yield proc
