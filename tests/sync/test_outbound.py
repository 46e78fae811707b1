"""The guarded outbound client against a real DNS server and a real local HTTP server: names
and spellings of private addresses are refused before any byte reaches the server; allowed
receivers are reached at the address that was checked; redirects, size and time are bounded;
the tenant's error never tells one network failure from another."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import httpx
import pytest

from core import config
from sync import outbound
from tests.helpers.dns_server import Zone, dns_server
from tests.helpers.trap import Trap, trap

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
def dns() -> Iterator[Zone]:
    with dns_server(ATTACKER_NAMES) as (zone, _):
        yield zone


def _policy(dns: Zone, **kw: object) -> outbound.Policy:
    return outbound.Policy(nameservers=config.parse_dns_servers(dns.address), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "loopback.attacker.test",
        "ten.attacker.test",
        "v6loop.attacker.test",
        "nat64.attacker.test",
        "sixtofour.attacker.test",
        "mapped.attacker.test",
        "cgnat.attacker.test",
        "linklocal.attacker.test",
        "mixed.attacker.test",
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused(
    dns: Zone, trap: Trap, name: str
) -> None:
    with outbound.client(_policy(dns)) as http, pytest.raises(outbound.Blocked) as caught:
        http.post(f"http://{name}:{trap.port}/hook", content=b"{}")
    assert outbound.public_error(caught.value) == outbound.BLOCKED_ERROR
    assert trap.hits == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "0x7f000001",
        "2130706433",
        "017700000001",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "localhost",
        "app.localhost",
    ],
)
def test_every_spelling_of_loopback_is_refused(dns: Zone, trap: Trap, host: str) -> None:
    with outbound.client(_policy(dns)) as http, pytest.raises(httpx.HTTPError) as caught:
        http.get(f"http://{host}:{trap.port}/")
    assert outbound.public_error(caught.value) in (
        outbound.BLOCKED_ERROR,
        outbound.INVALID_URL_ERROR,  # a spelling httpx itself will not parse
    )
    assert trap.hits == []


def test_an_allowed_receiver_is_reached_at_the_checked_address_under_its_name(
    dns: Zone, trap: Trap
) -> None:
    # The system resolver does not know this name: reaching the server proves the connection
    # went to the address our own resolution checked, and the Host header kept the name.
    with pytest.raises(OSError):
        socket.getaddrinfo("receiver.local.test", 80)
    policy = _policy(dns, allow=outbound.LOOPBACK)
    with outbound.client(policy) as http:
        r = http.post(f"http://receiver.local.test:{trap.port}/in", content=b"x")
    assert r.status_code == 200 and r.content == b"internal secret page"
    assert trap.hits[0][2]["Host"] == f"receiver.local.test:{trap.port}"


def test_redirects_are_not_followed_and_each_hop_is_checked(dns: Zone, trap: Trap) -> None:
    allowed = Trap(host="127.0.0.2")  # the operator allows 127.0.0.2 only
    try:
        allowed.redirect["/go"] = f"http://127.0.0.1:{trap.port}/internal"
        policy = _policy(dns, allow=(ipaddress.ip_network("127.0.0.2/32"),))
        with outbound.client(policy) as http:
            assert http.get(f"http://127.0.0.2:{allowed.port}/go").status_code == 302
            with pytest.raises(outbound.Blocked):
                http.get(f"http://127.0.0.2:{allowed.port}/go", follow_redirects=True)
        assert len(allowed.hits) == 2 and trap.hits == []
    finally:
        allowed.close()


def test_response_size_and_time_are_bounded(dns: Zone, trap: Trap) -> None:
    trap.body["/big"] = b"x" * 50_000
    trap.delay["/slow"] = 2.0
    policy = _policy(dns, allow=outbound.LOOPBACK, max_response_bytes=10_000, read_timeout=0.5)
    with outbound.client(policy) as http:
        with pytest.raises(outbound.TooLarge) as big:
            http.get(f"http://127.0.0.1:{trap.port}/big")
        assert outbound.public_error(big.value) == outbound.TOO_LARGE_ERROR
        with pytest.raises(httpx.ReadTimeout) as slow:
            http.get(f"http://127.0.0.1:{trap.port}/slow")
        assert outbound.public_error(slow.value) == outbound.NETWORK_ERROR


def test_network_failures_all_read_the_same(dns: Zone, trap: Trap) -> None:
    """Refused, TLS against plain HTTP, timeout, no such name: one message, so that a tenant
    cannot tell a closed port from an open one."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    trap.delay["/slow"] = 2.0
    policy = _policy(dns, allow=outbound.LOOPBACK, read_timeout=0.5)
    messages = set()
    with outbound.client(policy) as http:
        for url in (
            f"http://127.0.0.1:{closed_port}/",  # connection refused
            f"https://127.0.0.1:{trap.port}/",  # TLS against plain HTTP
            f"http://127.0.0.1:{trap.port}/slow",  # timeout
            "http://nowhere.attacker.test/",  # no such name
        ):
            with pytest.raises(httpx.HTTPError) as caught:
                http.get(url)
            messages.add(outbound.public_error(caught.value))
    assert messages == {outbound.NETWORK_ERROR}


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public IPv4
        ("::ffff:93.184.215.14", True),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("::7f00:1", False),  # IPv4-compatible
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b:1::1", False),  # local-use NAT64
        ("2002:7f00:1::", False),
        ("2002:5db8:d70e::1", False),  # 6to4 at all
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fe80::1", False),
        ("fec0::1", False),  # site-local
        ("fc00::1", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert outbound.is_public(ipaddress.ip_address(address)) is public


__all__ = ["trap"]  # fixtures
