"""The edge's /metrics answers only the operator's scrapers (METRICS_ALLOW, loopback by
default) asking directly: the same request forwarded by a proxy (as the internet's reach the
edge through the TLS proxy) or from another peer is a 403."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Servers
from tests.edge.conftest import Edge, start_edge


@pytest.fixture(scope="module")
def edge(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    yield from start_edge(servers, tmp_path_factory, TRUSTED_PROXIES="127.0.0.1/32, ::1")


def test_a_local_scraper_reads_metrics(edge: Edge) -> None:
    r = edge.client.get(edge.base + "/metrics")
    assert r.status_code == 200 and "smartlinks_edge_requests_total" in r.text


@pytest.mark.parametrize(
    "headers", [{"X-Forwarded-For": "198.51.100.7"}, {"Forwarded": "for=198.51.100.7"}]
)
def test_a_proxied_request_is_refused(edge: Edge, headers: dict[str, str]) -> None:
    r = edge.client.get(edge.base + "/metrics", headers=headers)
    assert r.status_code == 403 and "smartlinks_edge" not in r.text


def test_a_peer_not_listed_is_refused(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for other in start_edge(servers, tmp_path_factory, METRICS_ALLOW="192.0.2.0/24"):
        r = other.client.get(other.base + "/metrics")
        assert r.status_code == 403 and "smartlinks_edge" not in r.text
