"""The edge's GET /tls/ask (Caddy's on-demand TLS question): 200 only for a domain that
serves, 404 for a tombstone or an unknown name, 400 without a name, 429 past the per-worker
rate (TLS_ASK_PER_SECOND), and the limit refills."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from core.records import DomainRecord
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.edge.conftest import Edge, start_edge


@pytest.fixture(scope="module")
def slow_edge(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    yield from start_edge(servers, tmp_path_factory, TLS_ASK_PER_SECOND="2")


def test_tls_ask_answers_per_domain_state_and_rate_limits(
    slow_edge: Edge, rdb: redis.Redis
) -> None:
    store = RecordStore(rdb)
    store.put_domain(DomainRecord(id=1, org_id=1, hostname="go.live.test", version=5))
    store.put_domain(
        DomainRecord(id=2, org_id=1, hostname="go.gone.test", version=6, deleted=True)
    )

    def ask(name: str | None) -> int:
        params = {} if name is None else {"domain": name}
        return slow_edge.client.get(slow_edge.base + "/tls/ask", params=params).status_code

    time.sleep(2.1)  # a full bucket (burst: 2 x rate = 4)
    assert [ask("GO.Live.test."), ask("go.gone.test"), ask("nobody.test")] == [200, 404, 404]
    assert ask(None) == 400 and ask("not a host") == 400
    answers = [ask("go.live.test") for _ in range(6)]
    assert 429 in answers, answers  # the bucket ran dry
    time.sleep(1.1)
    assert ask("go.live.test") == 200  # and refills at the rate
