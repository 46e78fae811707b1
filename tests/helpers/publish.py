"""Publishing to Redis in the test's own process, as the sync worker does: ``publish_once`` and
the ``publish`` fixture (import it into a test module to use it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.publish.publisher import Publisher
from tests.conftest import Servers


def publish_once(servers: Servers) -> None:
    """Publish everything pending in ``servers``' PostgreSQL to its Redis, then stop."""
    pub = Publisher(servers.database_url, servers.redis_url)
    try:
        assert pub.run(burst=True) == 0
    finally:
        pub.close()
        pub.client.close()


@pytest.fixture
def publish(clean: Servers) -> Callable[[], None]:
    return lambda: publish_once(clean)
