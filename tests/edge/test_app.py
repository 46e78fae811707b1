"""Odd requests at a real edge (granian): odd bytes in Host, %-encoded paths, a very long
User-Agent, many X-Forwarded-For hops. Every answer is a 2xx, 3xx or 4xx, never a 500."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.edge.conftest import HOST, IPHONE, Edge

CODE = "Ab3dEf7"


def raw_status(edge: Edge, request: bytes) -> int:
    """Send ``request`` as bytes on a fresh connection; the status code of the answer."""
    parts = urlsplit(edge.base)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 "), (request[:200], data[:200])
    return int(data.split(b" ", 2)[1])


def req(
    path: bytes = b"/" + CODE.encode(),
    host: bytes = HOST.encode(),
    method: bytes = b"GET",
    extra: bytes = b"",
    ua: bytes = IPHONE.encode(),
) -> bytes:
    return (
        method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: " + ua
        + b"\r\n" + extra + b"Connection: close\r\n\r\n"
    )  # fmt: skip


HOSTS = [
    b"go.example.test\xff",
    b"\xc3\xa9.example.test",
    b"go.example.test:99999",
    b"go.example.test:abc",
    b"go.example.test:",
    b"[::1",
    b"[zz]:80",
    b"",
    b"GO.EXAMPLE.TEST.",
    b"go..example.test",
    b"a" * 4000,
    b"go.example.test%00",
    b"xn--zz--",
    b"xn--",
    b".",
    b"go.example.test\x01",
]
PATHS = [
    b"/%00",
    b"/%ff",
    b"/%c3%28",
    b"/Ab3dEf7%2Fgala2021",
    b"/Ab3dEf7/%ff",
    b"/Ab3dEf7/%00",
    b"/%2e%2e/Ab3dEf7",
    b"//Ab3dEf7",
    b"/Ab3dEf7/gala2021/extra",
    b"/Ab3dEf7/gala2021/",
    b"/" + b"a" * 5000,
    b"/Ab3dEf7?%ff=%00&a=%",
    b"/Ab3dEf7%",
    b"/%u0041b3dEf7",
    b"/Ab3dEf7\xff",
    b"/healthz%00",
    b"*",
    b"http://evil.test/Ab3dEf7",
]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_odd_host_header(edge, world, host, method):
    assert raw_status(edge, req(host=host, method=method)) < 500


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_odd_path(edge, world, path, method):
    assert raw_status(edge, req(path=path, method=method)) < 500


@pytest.mark.parametrize(
    "ua",
    [b"Mozilla/5.0 " + b"x" * 16000, b"\xff\xfe bot", b"", b"facebookexternalhit\xc3\x28"],
)
def test_odd_user_agent(edge, world, ua):
    assert raw_status(edge, req(ua=ua)) < 500


@pytest.mark.parametrize(
    "xff",
    [
        b", ".join(b"10.0.%d.%d" % (i // 250, i % 250) for i in range(1000)),
        b"garbage, ::ffff:zz, 999.1.1.1, [::1]:80, , ,",
        b"\xff\xfe",
        b"1.2.3.4" * 2000,
        b"2001:db8::1%eth0",
    ],
)
def test_many_or_odd_forwarded_hops(edge, world, xff):
    extra = b"X-Forwarded-For: " + xff + b"\r\n"
    assert raw_status(edge, req(extra=extra)) < 500
    extra += b"X-Forwarded-For: 5.6.7.8\r\nForwarded: for=\xff;proto=zz\r\n"
    assert raw_status(edge, req(extra=extra)) < 500


def test_the_raw_requests_reach_the_link(edge, world):
    """The same raw request with nothing odd is the person's redirect (the tests above are
    not all 4xx for a reason of their own)."""
    assert raw_status(edge, req()) == 302
    assert raw_status(edge, req(method=b"HEAD")) == 302
