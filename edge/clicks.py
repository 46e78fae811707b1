"""Click events as the edge mints them: a unique click id, the time, what was asked and by whom.

The event is encoded before the Redis call and handed to the resolve script, which appends it
to the click stream with the link, contact and domain ids it resolved (field ``r``). Drain
inserts clicks ON CONFLICT (click_id) DO NOTHING, so a retried append is harmless.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import secrets
import socket
import time
from functools import lru_cache

from core import records
from core.clicks import ClickKind
from core.records import ClickAmendment, ClickEvent

MAX_TEXT = 512  # user agent and referer are cropped to this many characters

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def new_click_id() -> str:
    """32 hex characters, unique without coordination between edges: 64 random bits drawn once
    per process (again in a forked child) and a 64-bit counter. Not a secret; a draw from the
    system's random source per click was a getrandom() call on every request."""
    return f"{_ids.prefix}{next(_ids.counter):016x}"


class _ClickIds:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()


_ids = _ClickIds()
os.register_at_fork(after_in_child=_ids.reset)


def encode_event(
    *,
    code: str,
    host: str,
    kind: ClickKind,
    reason: str,
    user_agent: str,
    ip: str,
    referer: str,
    click_id: str | None = None,
) -> tuple[str, bytes]:
    """(click id, msgpack ClickEvent)."""
    cid = click_id or new_click_id()
    event = ClickEvent(
        click_id=cid,
        ts_ms=time.time_ns() // 1_000_000,
        code=code,
        host=host,
        kind=kind,
        reason=reason,
        user_agent=user_agent[:MAX_TEXT],
        ip=ip,
        referer=referer[:MAX_TEXT],
    )
    return cid, records.encode(event)


def amendment_fields(click_id: str) -> dict[str, bytes]:
    """The stream entry saying a click's merged URL fell back to the defaults-only destination."""
    return {records.STREAM_AMEND: records.encode(ClickAmendment(click_id, merge_fallback=True))}


class TrustedProxies:
    """Peers whose X-Forwarded-For is believed (TRUSTED_PROXIES: IPs or CIDRs, comma-separated)."""

    def __init__(self, spec: str) -> None:
        networks: list[IPNetwork] = []
        for item in spec.split(","):
            item = item.strip()
            if item:
                networks.append(ipaddress.ip_network(item, strict=False))
        self.networks = tuple(networks)
        # IPv4 networks as (network, mask) integers: a client address is tested without
        # building an ipaddress object (the cache below misses for every new client).
        self._v4 = tuple(
            (int(n.network_address), int(n.netmask))
            for n in networks
            if isinstance(n, ipaddress.IPv4Network)
        )
        self.trusts = lru_cache(maxsize=1024)(self._trusts)

    def _trusts(self, address: str) -> bool:
        if ":" not in address:
            try:
                packed = socket.inet_pton(socket.AF_INET, address)
            except (OSError, ValueError, UnicodeError):
                return False
            number = int.from_bytes(packed, "big")
            return any(number & mask == net for net, mask in self._v4)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_ip(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the peer, unless the peer is a trusted proxy; then the
        right-most X-Forwarded-For entry that is not itself a trusted proxy (entries to its
        left were written by the client and prove nothing)."""
        if not forwarded_for or not self.networks or not self.trusts(peer):
            return peer
        client = peer
        for raw in reversed(forwarded_for.split(",")):
            candidate = _address(raw.strip())
            if candidate is None:
                break  # garbage: keep the last address a trusted hop vouched for
            client = candidate
            if not self.trusts(candidate):
                break
        return client


def _address(text: str) -> str | None:
    """``text`` as an IP address in its normal form, or None. IPv4 (nearly every hop) goes
    through the C parser, a fifth of ipaddress's cost on the hot path; it accepts exactly the
    dotted quads ipaddress accepts (no leading zeros, four parts), which are already in normal
    form. IPv6 is rare and takes ipaddress for its normal form and scope ids."""
    if ":" not in text:
        try:
            socket.inet_pton(socket.AF_INET, text)
        except (OSError, ValueError, UnicodeError):
            return None
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
