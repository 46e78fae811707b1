"""What the edge reads of an RSGI request is what it read of the same ASGI request (every test
through `smartlinks edge` drives the RSGI side; these pin the conversions themselves), and the
RSGI-to-ASGI bridge that runs the Starlette part of the edge."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from granian.rsgi import HTTPProtocol
from granian.rsgi import Scope as RSGIScope
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from edge.rsgi import bridge, split_address
from edge.visit import RequestHeaders, read_headers
from smartlinks.embedded import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("rsgi", "asgi"),
    [
        ("127.0.0.1:51234", ("127.0.0.1", "51234")),
        ("[::1]:8080", ("::1", "8080")),
        ("[2001:db8::7]:443", ("2001:db8::7", "443")),
        ("[fe80::1%eth0]:80", ("fe80::1%eth0", "80")),
    ],
)
def test_addresses_as_granian_asgi_gives_them(rsgi, asgi):
    assert split_address(rsgi) == asgi


HEADERS = [
    ("host", "go.example.test"),
    ("user-agent", "Mozilla/5.0 (iPhone)"),
    ("accept", "*/*"),
    ("x-forwarded-for", "1.2.3.4, 10.0.0.1"),
    ("referer", "https://mail.example/"),
    ("x-forwarded-for", "5.6.7.8"),
    ("sec-purpose", "prefetch"),
    ("x-moz", "prefetch"),
]


def test_text_and_bytes_header_lists_read_the_same():
    as_bytes = [(k.encode(), v.encode()) for k, v in HEADERS]
    expected = RequestHeaders(
        host="go.example.test",
        user_agent="Mozilla/5.0 (iPhone)",
        sec_purpose="prefetch",
        purpose="prefetch",
        referer="https://mail.example/",
        forwarded_for="1.2.3.4, 10.0.0.1,5.6.7.8",
    )
    assert read_headers(HEADERS) == expected
    assert read_headers(as_bytes) == expected
    # ASGI's values are bytes: anything not ASCII is read as latin-1, as before
    assert read_headers([(b"user-agent", b"caf\xe9")]).user_agent == "caf\xe9"


# The bridge under a real granian (RSGI), with a Starlette app that does what the edge's own
# routes do not: read a body, stream an answer, report what its ASGI scope says.
async def _echo(request: Request) -> Response:
    body = await request.body()
    client = request.client
    return JSONResponse(
        {
            "body": body.decode(),
            "client": [client.host, client.port] if client else None,
            "path": request.url.path,
            "query": request.url.query,
            "host": request.headers.get("host"),
            "x": request.headers.getlist("x-test"),
            "scheme": request.url.scheme,
        }
    )


async def _stream(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"part {i}\n".encode()

    return StreamingResponse(parts(), media_type="text/plain")


BRIDGED = Starlette(
    routes=[Route("/echo/{rest:path}", _echo, methods=["POST"]), Route("/stream", _stream)]
)


async def app(scope: RSGIScope, protocol: HTTPProtocol) -> None:
    """The RSGI target granian serves below."""
    await bridge(BRIDGED, scope, protocol)


@pytest.fixture(scope="module")
def bridged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("rsgi") / "granian.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "rsgi", "--no-ws", "--host",
             "127.0.0.1", "--port", str(port), "tests.edge.test_rsgi:app"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port, 30, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_bridge_gives_starlette_the_request(bridged: str) -> None:
    r = httpx.post(
        f"{bridged}/echo/a%20b/c?x=1&y=%20",
        content=b"hello",
        headers=[("x-test", "one"), ("x-test", "two")],
    )
    assert r.status_code == 200
    got = r.json()
    assert got["body"] == "hello"
    assert got["client"][0] == "127.0.0.1" and int(got["client"][1]) > 0
    assert got["path"] == "/echo/a b/c"
    assert got["query"] == "x=1&y=%20"
    assert got["host"] == bridged.removeprefix("http://")
    assert got["x"] == ["one", "two"]
    assert got["scheme"] == "http"


def test_the_bridge_streams_and_answers_starlettes_errors(bridged: str) -> None:
    r = httpx.get(f"{bridged}/stream")
    assert r.status_code == 200
    assert r.text == "part 0\npart 1\npart 2\n"
    assert "content-length" not in r.headers  # streamed, not collected
    assert httpx.get(f"{bridged}/nowhere").status_code == 404
    assert httpx.put(f"{bridged}/stream").status_code == 405
