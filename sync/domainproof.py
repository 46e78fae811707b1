"""Proof that an organisation controls a hostname, read from DNS (docs/decisions/0007).

The words both checkers share: the admin (``POST /api/v1/domains/{id}/verify``, the domain
page) and the sync worker's periodic re-check. Two proofs count:

- a TXT record ``_smartlinks.<hostname>`` whose value is ``smartlinks-verify=<token>``, the
  token being the claim's own (so it proves *this* claim, even among several);
- the hostname pointing at the edge: a CNAME to ``EDGE_CNAME_TARGET``, or (for an apex
  flattened by the DNS provider) the same addresses as the target.

Lookups go to the servers named by the ``DNS_SERVERS`` setting (``ip[:port]``, comma-separated;
"": the system's), with a short deadline, because a resolver can hang for long. The callers pass that
setting and ``EDGE_CNAME_TARGET`` in (settings are read once, at start). The edge never imports
this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dns.exception
import dns.resolver

from core import config

TXT_PREFIX = "_smartlinks."
TXT_VALUE_PREFIX = "smartlinks-verify="
LIFETIME_SECONDS = 4.0  # one lookup (all its retries)
TIMEOUT_SECONDS = 2.0  # one query to one server
DEADLINE_SECONDS = 8.0  # the whole check: it runs inside a person's request


def txt_name(hostname: str) -> str:
    return TXT_PREFIX + hostname


def txt_value(token: str) -> str:
    return TXT_VALUE_PREFIX + token


def edge_target(cname_target: str) -> str:
    """The edge's public hostname (the EDGE_CNAME_TARGET setting) as organisations' CNAME
    records name it: lower case, no trailing dot ('' if unset)."""
    return cname_target.strip().rstrip(".").lower()


@dataclass(frozen=True)
class Proof:
    """What DNS shows for one claim. ``error``: a lookup failed, so nothing is known."""

    txt: bool = False
    cname: bool = False
    found: tuple[str, ...] = ()  # what was seen, for a person ("CNAME x", "TXT …", "A 1.2.3.4")
    error: str = ""


def resolver(setting: str) -> dns.resolver.Resolver:
    """A resolver for ``DNS_SERVERS`` (``127.0.0.1:5353``, ``[::1]:53, 10.0.0.2``; "": the
    system's)."""
    servers = config.parse_dns_servers(setting)
    if not servers:
        res = dns.resolver.Resolver()
    else:
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [address for address, _ in servers]
        res.nameserver_ports = dict(servers)
    res.timeout = TIMEOUT_SECONDS
    res.lifetime = LIFETIME_SECONDS
    res.cache = None  # a re-check must see DNS as it is now
    return res


class _LookupFailed(Exception):
    pass


def _query(res: dns.resolver.Resolver, name: str, rdtype: str, deadline: float) -> list[str]:
    """The records' texts; [] when the name or the type does not exist."""
    left = min(LIFETIME_SECONDS, deadline - time.monotonic())
    if left <= 0:
        raise _LookupFailed(f"the DNS check took longer than {DEADLINE_SECONDS:.0f} s")
    try:
        answer = res.resolve(name, rdtype, search=False, lifetime=left)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.resolver.LifetimeTimeout:
        raise _LookupFailed(f"looking up {name} ({rdtype}) timed out") from None
    except (dns.resolver.NoNameservers, dns.exception.DNSException) as exc:
        raise _LookupFailed(f"looking up {name} ({rdtype}) failed: {exc}") from None
    if rdtype == "TXT":
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
    if rdtype == "CNAME":
        return [r.target.to_text(omit_final_dot=True).lower() for r in answer]
    return [r.to_text() for r in answer]


def check(hostname: str, token: str, target: str, setting: str) -> Proof:
    """Look both proofs up now, ``target`` being the edge's hostname (edge_target()) and
    ``setting`` the DNS_SERVERS. Never raises for DNS trouble: it is in ``Proof.error``."""
    found: list[str] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        res = resolver(setting)

        def query(name: str, rdtype: str) -> list[str]:
            return _query(res, name, rdtype, deadline)

        txts = query(txt_name(hostname), "TXT")
        txt_ok = txt_value(token) in txts
        # Another claim's token is public in DNS, but it is not ours to echo.
        found += [
            f"TXT {txt_name(hostname)} "
            + ("(this claim's token)" if v == txt_value(token) else "(another value)")
            for v in txts
        ]
        cnames = query(hostname, "CNAME")
        found += [f"CNAME {c}" for c in cnames]
        cname_ok = bool(target) and target in cnames
        if target and not cname_ok and not cnames:
            # No CNAME: an apex (or a provider's flattening) can only show addresses.
            mine = set(query(hostname, "A") + query(hostname, "AAAA"))
            found += [f"address {a}" for a in sorted(mine)]
            if mine:
                edge = set(query(target, "A") + query(target, "AAAA"))
                cname_ok = bool(mine & edge)
    except _LookupFailed as exc:
        return Proof(found=tuple(found), error=str(exc))
    except ValueError as exc:  # a DNS_SERVERS that is not ip[:port]
        return Proof(error=f"DNS_SERVERS is not usable: {exc}")
    return Proof(txt=txt_ok, cname=cname_ok, found=tuple(found))
