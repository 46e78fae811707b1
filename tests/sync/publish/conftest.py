"""Fixtures of the publisher's tests: the publisher in burst mode in this process, or a running
`smartlinks sync`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from sync.publish.publisher import Publisher
from tests.conftest import Servers
from tests.servers import Process, smartlinks_process
from tests.sync.publish.helpers import sync_ready


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


@pytest.fixture
def sync_proc(clean: Servers, rdb: redis.Redis, tmp_path: Path) -> Iterator[Process]:
    with smartlinks_process(["sync"], clean.env(), tmp_path) as proc:
        sync_ready(rdb, proc)
        yield proc
