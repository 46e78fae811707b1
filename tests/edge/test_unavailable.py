"""Redis unreachable: a quick 503 with Retry-After, never a hang (real granian processes)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from smartlinks.embedded import free_port, wait_for_port
from tests.conftest import Servers
from tests.edge.conftest import IPHONE
from tests.servers import smartlinks_process

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial


def _edge(servers: Servers, redis_url: str, log_dir) -> Iterator[str]:
    port = free_port()
    env = servers.env(REDIS_URL=redis_url, EDGE_PORT=str(port))
    with smartlinks_process(["edge"], env, log_dir) as proc:
        wait_for_port("127.0.0.1", port, 30, proc.proc)
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def silent_redis() -> Iterator[str]:
    """A TCP server that accepts connections (the kernel does) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    sock.close()


@pytest.fixture(scope="module")
def hanging_edge(servers: Servers, silent_redis: str, tmp_path_factory) -> Iterator[str]:
    yield from _edge(servers, silent_redis, tmp_path_factory.mktemp("edge-silent"))


@pytest.fixture(scope="module")
def refused_edge(servers: Servers, tmp_path_factory) -> Iterator[str]:
    yield from _edge(
        servers, f"redis://127.0.0.1:{free_port()}/0", tmp_path_factory.mktemp("edge-refused")
    )


def _timed_get(url: str, method: str = "GET") -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.request(
        method, url, headers={"Host": "go.example.test", "User-Agent": IPHONE}, timeout=10
    )
    return r, time.monotonic() - started


@pytest.mark.parametrize("which", ["hanging_edge", "refused_edge"])
def test_quick_503_with_retry_after(which: str, request: pytest.FixtureRequest):
    base = request.getfixturevalue(which)
    for _ in range(3):
        r, elapsed = _timed_get(base + "/Ab3dEf7")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert elapsed < 1.5
    head, elapsed = _timed_get(base + "/Ab3dEf7/ext", "HEAD")
    assert (head.status_code, head.content) == (503, b"")
    health, elapsed = _timed_get(base + "/healthz")
    assert health.status_code == 503 and elapsed < 1.5


def test_bad_code_still_404_without_redis(refused_edge: str):
    r, _ = _timed_get(refused_edge + "/not-a-code!")
    assert r.status_code == 404


def test_metrics_count_unavailable(refused_edge: str):
    _timed_get(refused_edge + "/Ab3dEf7")
    text = httpx.get(refused_edge + "/metrics").text
    assert 'smartlinks_edge_requests_total{outcome="unavailable"} 0' not in text
