"""The address a login attempt comes from, for rate limiting behind a load balancer.

A peer listed in ADMIN_TRUSTED_PROXIES vouches for the right-most X-Forwarded-For entry;
entries further left were written by the client and prove nothing. The default trusts no
one, not even loopback: anything on the machine (or a proxy that passes the header on) could
otherwise give every login attempt a new address and never meet the rate limit.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from flask import current_app, request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _trusted(spec: str) -> tuple[Network, ...]:
    networks = []
    for item in spec.split(","):
        item = item.strip()
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue
    return tuple(networks)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip() -> str:
    peer = request.remote_addr or ""
    networks = _trusted(current_app.config["ADMIN_TRUSTED_PROXIES"])
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not _is_trusted(peer, networks):
        return peer
    client = peer
    for raw in reversed(forwarded.split(",")):
        try:
            candidate = str(ipaddress.ip_address(raw.strip()))
        except ValueError:
            break
        client = candidate
        if not _is_trusted(candidate, networks):
            break
    return client
