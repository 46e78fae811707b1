"""A real DNS server for tests (dnslib, UDP on 127.0.0.1): domain checks and the guarded
outbound client run offline against it through ``DNS_SERVERS``. Records are set per test
(``set_addresses`` points public-looking names at private addresses); a CNAME is followed for
A/AAAA queries as a recursive resolver would, and a name with no record at all is NXDOMAIN."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_RDATA = {
    "A": A,
    # From the packed form: dnslib does not read every spelling (``::ffff:127.0.0.1``).
    "AAAA": lambda value: AAAA(list(ipaddress.IPv6Address(value).packed)),
    "CNAME": CNAME,
    "TXT": TXT,
}


class Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []
        self.delay = 0.0  # seconds before each answer: a slow resolver
        self.address = ""  # ip:port it serves on: the DNS_SERVERS setting that asks it

    @staticmethod
    def _key(name: str, rtype: str) -> tuple[str, str]:
        return name.rstrip(".").lower(), rtype.upper()

    def set(self, name: str, rtype: str, *values: str) -> None:
        """Replace the records of (name, type); no values removes them."""
        with self._lock:
            if values:
                self._records[self._key(name, rtype)] = list(values)
            else:
                self._records.pop(self._key(name, rtype), None)

    def set_addresses(self, names: dict[str, list[str]]) -> None:
        """Point each name at its addresses (A records for IPv4, AAAA for IPv6), replacing
        what it had."""
        for name, addresses in names.items():
            ips = [ipaddress.ip_address(a) for a in addresses]
            self.set(name, "A", *[str(ip) for ip in ips if ip.version == 4])
            self.set(name, "AAAA", *[str(ip) for ip in ips if ip.version == 6])

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
        self.delay = 0.0

    def _lookup(self, name: str, rtype: str) -> list[str]:
        with self._lock:
            return list(self._records.get(self._key(name, rtype), []))

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        if self.delay:
            time.sleep(self.delay)
        reply = request.reply()
        qname = str(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        self.queries.append((qname.rstrip("."), qtype))
        name = qname
        for _ in range(8):  # follow a CNAME chain for other types, as a resolver does
            values = self._lookup(name, qtype)
            if values:
                for value in values:
                    reply.add_answer(RR(name, getattr(QTYPE, qtype), rdata=_RDATA[qtype](value), ttl=60))
                return reply
            cname = self._lookup(name, "CNAME") if qtype != "CNAME" else []
            if not cname:
                break
            reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(cname[0]), ttl=60))
            name = cname[0]
        with self._lock:
            exists = any(k[0] == name.rstrip(".").lower() for k in self._records)
        if not exists and not reply.rr:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@contextmanager
def dns_server(names: dict[str, list[str]] | None = None) -> Iterator[tuple[Zone, str]]:
    """(zone, "127.0.0.1:PORT") while the server runs; ``names``: addresses to start with."""
    zone = Zone()
    zone.set_addresses(names or {})
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=quiet)
    server.start_thread()
    try:
        zone.address = f"127.0.0.1:{server.server.server_address[1]}"
        yield zone, zone.address
    finally:
        server.stop()
        server.server.server_close()


EDGE_NAME = "edge.smartlinks.test"
EDGE_ADDRESS = "192.0.2.10"


@pytest.fixture(scope="session")
def dns_session() -> Iterator[tuple[Zone, str]]:
    with dns_server() as found:
        yield found


@pytest.fixture
def dns(dns_session: tuple[Zone, str], app: Any, monkeypatch: pytest.MonkeyPatch) -> Zone:
    """The zone, emptied but for the edge's own name; the admin app's checks ask it, and so
    do the settings this process loads (import ``dns`` and ``dns_session`` into a test module
    or conftest to use it)."""
    zone, address = dns_session
    zone.clear()
    zone.set(EDGE_NAME, "A", EDGE_ADDRESS)
    monkeypatch.setitem(app.config, "DNS_SERVERS", address)
    monkeypatch.setitem(app.config, "EDGE_CNAME_TARGET", EDGE_NAME)
    monkeypatch.setenv("DNS_SERVERS", address)
    monkeypatch.setenv("EDGE_CNAME_TARGET", EDGE_NAME)
    return zone
