"""Click events as the edge mints them: a unique click id, the time, what was asked and by whom.

The event is encoded before the Redis call and handed to the resolve script, which appends it
to the click stream with the link, contact and domain ids it resolved (field ``r``). Drain
inserts clicks ON CONFLICT (click_id) DO NOTHING, so a retried append is harmless.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from functools import lru_cache

from core import records
from core.records import ClickAmendment, ClickEvent

MAX_TEXT = 512  # user agent and referer are cropped to this many characters

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def new_click_id() -> str:
    """128 random bits as 32 hex characters: unique without coordination between edges."""
    return secrets.token_hex(16)


def encode_event(
    *,
    code: str,
    host: str,
    kind: str,
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
        self.trusts = lru_cache(maxsize=1024)(self._trusts)

    def _trusts(self, address: str) -> bool:
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
            candidate = raw.strip()
            try:
                candidate = str(ipaddress.ip_address(candidate))
            except ValueError:
                break  # garbage: keep the last address a trusted hop vouched for
            client = candidate
            if not self.trusts(candidate):
                break
        return client
