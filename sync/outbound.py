"""The one way out: every request this project makes to a URL a tenant chose (webhooks, SMS
providers, anything later) goes through ``client()``.

A tenant's URL must never reach our own network (server-side request forgery). Checking the
hostname when the URL is saved is not enough: the name can resolve elsewhere by the time we
connect (DNS rebinding), and an address has many spellings (``127.1``, ``[::ffff:127.0.0.1]``,
``[64:ff9b::7f00:1]``, ``[2002:7f00:1::]``). So the check sits where the connection is made:
the transport's network backend resolves the name once, refuses the whole name when any of its
addresses is not public, and opens the socket to an address it just checked. TLS (SNI and the
certificate check) and the Host header still use the hostname, since httpcore hands only the
TCP connect to the backend. Redirects are not followed (each hop would be checked anyway, as
every connection goes through the same backend), environment proxies are ignored (a proxy
would be the one checked), and time and response size are bounded.

What a tenant sees of a failure is ``public_error(exc)``: one generic network message, so that
"connection refused" against "TLS error" cannot map our network. The detail goes to our logs.

Depends on httpx (and its httpcore) and, when ``DNS_SERVERS`` is set, dnspython;
nothing of the project but ``core.config``. It lives in sync/ (not core/, whose packages the
edge installs too) so that both the webhook worker and admin's providers can use it.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from core import config

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NETWORK_ERROR = "could not deliver (network error)"
BLOCKED_ERROR = "could not deliver (the host is not a public address)"
TOO_LARGE_ERROR = "could not deliver (the response was too large)"
INVALID_URL_ERROR = "could not deliver (invalid URL)"

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)

# Besides what ipaddress calls non-global: ranges that carry another address inside (and so
# can reach anything), and ranges ipaddress (3.11) still calls global.
_V4_DENY = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "192.0.0.0/24",
        "192.88.99.0/24",  # 6to4 relays
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved and broadcast
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are IPv4
_V6_DENY = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/32",  # Teredo: the client's IPv4 inside
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: an IPv4 inside, relayed by whoever
        "3fff::/20",  # documentation (RFC 9637)
    )
)


def is_public(ip: IPAddress) -> bool:
    """True for an address anyone on the internet reaches, in whatever spelling it came."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in _NAT64:  # DNS64 spells every IPv4-only host so: judge the IPv4 inside
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return (
            ip in _V6_GLOBAL_UNICAST
            and ip.is_global
            and not ip.is_multicast
            and not any(ip in n for n in _V6_DENY)
        )
    return (
        ip.is_global
        and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)
        and not any(ip in n for n in _V4_DENY)
    )


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` as networks; an unparsable item is an error (a typo in an
    allow-list must not pass silently)."""
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    )


@dataclass(frozen=True)
class Policy:
    """Where requests may go and how long and large they may be."""

    allow: tuple[Network, ...] = ()  # non-public networks the operator lets us reach anyway
    nameservers: tuple[tuple[str, int], ...] = ()  # empty: the system resolver
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_response_bytes: int = 1 << 20

    @classmethod
    def from_settings(
        cls, settings: config.Settings, *, extra_allow: Iterable[Network] = (), **overrides: Any
    ) -> Policy:
        return cls(
            allow=parse_networks(settings.outbound_allow_networks) + tuple(extra_allow),
            nameservers=config.parse_dns_servers(settings.dns_servers),
            **overrides,
        )

    @classmethod
    def from_env(cls, *, extra_allow: Iterable[Network] = (), **overrides: Any) -> Policy:
        """From ``config.load()`` now: a request may come long after the process started."""
        return cls.from_settings(config.load(), extra_allow=extra_allow, **overrides)

    def allowed(self, ip: IPAddress) -> bool:
        return is_public(ip) or any(ip in n for n in self.allow)


class Blocked(httpx.ConnectError):
    """The host is, or resolves to, an address that is not public (and not allowed)."""


class Unresolved(httpx.ConnectError):
    """The host has no address."""


class TooLarge(httpx.ReadError):
    """The response body went past the policy's limit."""


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:  # what the C resolver reads as IPv4: 127.1, 0x7f000001, 2130706433, 017700000001
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def resolve(host: str, policy: Policy) -> list[IPAddress]:
    """Every address ``host`` has, once; a literal is its own address."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return [ipaddress.ip_address("127.0.0.1")]
    if policy.nameservers:
        return _resolve_with(host, policy)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    seen: dict[IPAddress, None] = {}
    for info in infos:
        seen[ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])] = None
    return list(seen)


def _resolve_with(host: str, policy: Policy) -> list[IPAddress]:
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address for address, _ in policy.nameservers]
    resolver.nameserver_ports = dict(policy.nameservers)
    resolver.lifetime = policy.connect_timeout
    found: list[IPAddress] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, rdtype, search=False)
        except (dns.exception.DNSException, UnicodeError, ValueError):
            continue
        found.extend(ipaddress.ip_address(r.to_text()) for r in answer)
    return found


def checked_addresses(host: str, policy: Policy) -> list[IPAddress]:
    """The addresses to connect to for ``host``; ``Blocked`` when any is not allowed (a name
    with one private address among public ones is refused whole, not half used)."""
    addresses = resolve(host, policy)
    if not addresses:
        raise Unresolved(f"{host} does not resolve")
    refused = [ip for ip in addresses if not policy.allowed(ip)]
    if refused:
        raise Blocked(f"{host} resolves to non-public {', '.join(map(str, refused))}")
    return addresses


class GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks in ``connect_tcp``, then connects to the checked address itself."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in checked_addresses(host, self.policy):
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise Blocked("unix sockets are not a destination")


class _Limited(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limit: int, deadline: float) -> None:
        self.inner, self.limit, self.deadline = inner, limit, deadline

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self.inner:
            seen += len(chunk)
            if seen > self.limit:
                raise TooLarge(f"response body over {self.limit} bytes")
            if time.monotonic() > self.deadline:  # a trickle that dodges the read timeout
                raise httpx.ReadTimeout("response took longer than the total timeout")
            yield chunk

    def close(self) -> None:
        self.inner.close()


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: Policy) -> None:
        super().__init__(trust_env=False)
        # httpx has no parameter for httpcore's network backend: the pool is rebuilt with ours
        # (what HTTPTransport builds without a proxy, plus the backend).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.policy.total_timeout
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Limited(response.stream, self.policy.max_response_bytes, deadline),
            extensions=response.extensions,
        )


def client(policy: Policy | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client whose every connection is checked (see the module docstring)."""
    policy = policy or Policy.from_env()
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    return httpx.Client(
        transport=GuardedTransport(policy),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )


_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (Blocked, BLOCKED_ERROR),
    (TooLarge, TOO_LARGE_ERROR),
    (httpx.InvalidURL, INVALID_URL_ERROR),
    (httpx.UnsupportedProtocol, INVALID_URL_ERROR),
)


def public_error(exc: BaseException) -> str:
    """What a tenant may read about a failed request: never which network error it was."""
    for kind, message in _REASONS:
        if isinstance(exc, kind):
            return message
    return NETWORK_ERROR


def check_host(host: str, policy: Policy) -> None:
    """For a URL being saved: ``Blocked`` when ``host`` is or resolves to a non-public address.
    A name that does not resolve (yet) passes; the connection is checked again anyway."""
    try:
        checked_addresses(host, policy)
    except Unresolved:
        return
