from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.outbound.dnsserver import DnsServer
from tests.outbound.trap import Trap

# What the test's own DNS server answers: public-looking names for private addresses.
ATTACKER_NAMES = {
    "loopback.attacker.test": ["127.0.0.1"],
    "ten.attacker.test": ["10.1.2.3"],
    "v6loop.attacker.test": ["::1"],
    "nat64.attacker.test": ["64:ff9b::7f00:1"],
    "sixtofour.attacker.test": ["2002:7f00:1::"],
    "mapped.attacker.test": ["::ffff:127.0.0.1"],
    "cgnat.attacker.test": ["100.64.0.1"],
    "linklocal.attacker.test": ["169.254.169.254"],
    "mixed.attacker.test": ["93.184.215.14", "127.0.0.1"],
    # A receiver the operator allows (OUTBOUND_ALLOW_NETWORKS), known to this DNS server only.
    "receiver.local.test": ["127.0.0.1"],
}


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer(ATTACKER_NAMES)
    yield server
    server.close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()
