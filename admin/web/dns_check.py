"""The domain verification check: does the hostname resolve to where the edge answers?

Only the stdlib resolver (``socket.getaddrinfo``) is used, so the check sees what this server
sees; it runs in a worker thread with a deadline, because a resolver can hang for long.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

TIMEOUT_SECONDS = 4.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns-check")


@dataclass(frozen=True)
class DnsResult:
    ok: bool
    message: str
    addresses: tuple[str, ...] = ()


def _resolve(host: str) -> tuple[str, ...]:
    infos = socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP)
    return tuple(sorted({str(info[4][0]) for info in infos}))


def resolve(host: str) -> tuple[tuple[str, ...], str]:
    """(addresses, error message); addresses are empty when the name does not resolve."""
    future = _pool.submit(_resolve, host)
    try:
        return future.result(timeout=TIMEOUT_SECONDS), ""
    except FutureTimeout:
        return (), f"looking up {host} took longer than {TIMEOUT_SECONDS:.0f} s"
    except (OSError, UnicodeError) as exc:
        reason = exc.args[1] if isinstance(exc, socket.gaierror) and len(exc.args) > 1 else exc
        return (), f"{host} does not resolve ({reason})"


def check(hostname: str, target: str) -> DnsResult:
    """Verified when ``hostname`` resolves to some address of ``target`` (the edge's name)."""
    found, error = resolve(hostname)
    if error:
        return DnsResult(
            False, error + ". Add the CNAME record, then check again in a few minutes."
        )
    if not target:
        return DnsResult(
            False,
            f"{hostname} resolves to {', '.join(found)}, but this server does not know the edge's "
            "public name (set EDGE_CNAME_TARGET), so it cannot tell whether that is the edge.",
            found,
        )
    expected, error = resolve(target)
    if error:
        return DnsResult(False, f"The edge's name: {error}.", found)
    if set(found) & set(expected):
        return DnsResult(True, f"{hostname} points at the edge ({', '.join(found)}).", found)
    return DnsResult(
        False,
        f"{hostname} resolves to {', '.join(found)}, not to the edge {target} "
        f"({', '.join(expected)}). Check the CNAME record.",
        found,
    )
