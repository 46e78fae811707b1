"""Domain ownership tests: a real DNS server (tests/helpers/dns_server.py) that the admin's checks
ask through DNS_SERVERS, and the edge's public name they compare CNAMEs with."""

from __future__ import annotations

from tests.helpers.dns_server import EDGE_ADDRESS, EDGE_NAME, dns, dns_session

__all__ = ["EDGE_ADDRESS", "EDGE_NAME", "dns", "dns_session"]
