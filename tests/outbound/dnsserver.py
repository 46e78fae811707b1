"""A real DNS server on a free local UDP port that answers fixed names with fixed addresses
(dnslib), so that tests can make a public-looking hostname resolve to a private address."""

from __future__ import annotations

import ipaddress

from dnslib import AAAA, QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer


class _Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = {k.rstrip(".").lower(): v for k, v in names.items()}

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = request.q.qname
        for address in self.names.get(str(qname).rstrip(".").lower(), []):
            ip = ipaddress.ip_address(address)
            if ip.version == 4 and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(address), ttl=1))
            elif ip.version == 6 and request.q.qtype == QTYPE.AAAA:
                reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(list(ip.packed)), ttl=1))
        return reply


class _Quiet:
    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


class DnsServer:
    def __init__(self, names: dict[str, list[str]]) -> None:
        self.zone = _Zone(names)
        self.server = DNSServer(self.zone, port=0, address="127.0.0.1", logger=_Quiet())
        self.server.start_thread()
        self.port: int = self.server.server.server_address[1]

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.stop()
        self.server.server.server_close()
