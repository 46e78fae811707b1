"""Fixtures shared by the tests of the click pipeline and of webhook delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from sync.clicks.drain import Drain
from tests.conftest import Servers
from tests.sync.clicks.helpers import settings


@pytest.fixture
def make_drain(clean: Servers) -> Iterator[Callable[..., Drain]]:
    made: list[tuple[Drain, redis.Redis]] = []

    def make(consumer: str = "test-consumer", **overrides: Any) -> Drain:
        client = redis.Redis.from_url(clean.redis_url)
        drain = Drain(client, clean.database_url, consumer, settings(**overrides))
        drain.ensure_group()
        made.append((drain, client))
        return drain

    yield make
    for drain, client in made:
        drain.close()
        client.close()
