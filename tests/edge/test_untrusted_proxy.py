"""X-Forwarded-For is believed only from a trusted proxy (TRUSTED_PROXIES, CIDRs allowed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.clicks import TrustedProxies
from tests.conftest import Servers
from tests.edge.conftest import Edge, World, start_edge


@pytest.fixture(scope="module")
def edge(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    yield from start_edge(servers, tmp_path_factory, TRUSTED_PROXIES="192.0.2.0/24")


def test_forwarded_for_from_untrusted_peer_is_ignored(edge: Edge, world: World):
    assert edge.get(f"/{world.code}", **{"x-forwarded-for": "203.0.113.9"}).status_code == 302
    [(event, _)] = world.clicks()
    assert event.ip == "127.0.0.1"


def test_trusted_proxies_parsing():
    proxies = TrustedProxies("10.0.0.0/8, 192.0.2.1 ,2001:db8::/32")
    assert proxies.client_ip("10.1.2.3", "198.51.100.7") == "198.51.100.7"
    assert proxies.client_ip("2001:db8::5", "198.51.100.7, 10.9.9.9") == "198.51.100.7"
    assert proxies.client_ip("192.0.2.1", "spoofed, 198.51.100.7") == "198.51.100.7"
    assert proxies.client_ip("192.0.2.1", "10.0.0.1, 10.0.0.2") == "10.0.0.1"  # all trusted
    assert proxies.client_ip("192.0.2.2", "198.51.100.7") == "192.0.2.2"  # not trusted
    assert proxies.client_ip("192.0.2.1", "") == "192.0.2.1"
    assert proxies.client_ip("192.0.2.1", "[::1]:80") == "192.0.2.1"  # unparsable: the peer
    assert TrustedProxies("").client_ip("10.0.0.1", "198.51.100.7") == "10.0.0.1"
