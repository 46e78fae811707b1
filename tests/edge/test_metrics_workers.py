"""/metrics covers every granian worker, whichever worker answers the scrape."""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.metrics import FOLDER_PREFIX
from tests.conftest import Servers
from tests.edge.conftest import Edge, World, start_edge

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def edge(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    yield from start_edge(servers, tmp_path_factory, EDGE_WORKERS="2")


def _redirects(edge: Edge) -> int:
    text = edge.client.get(edge.base + "/metrics").text
    found = re.search(r'smartlinks_edge_requests_total\{outcome="redirect"\} (\d+)', text)
    assert found, text
    return int(found.group(1))


def test_metrics_add_up_across_workers(edge: Edge, world: World):
    for _ in range(40):
        # a new connection each time so that both workers get requests
        r = edge.client.get(
            edge.base + f"/{world.code}",
            headers={
                "Host": "go.example.test",
                "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Connection": "close",
            },
        )
        assert r.status_code == 302
    deadline = time.monotonic() + 5
    while _redirects(edge) != 40:
        assert time.monotonic() < deadline, _redirects(edge)
        time.sleep(0.1)
    # and it stays exact whichever worker answers
    assert all(_redirects(edge) == 40 for _ in range(6))
    # a sibling's snapshot (as a worker that died would leave it) is added in, by any worker
    folder = Path(tempfile.gettempdir()) / f"{FOLDER_PREFIX}{edge.proc.pid}"
    assert folder.is_dir()
    (folder / "999999999.json").write_text(json.dumps({"requests": {"redirect": 1000}}))
    assert all(_redirects(edge) == 1040 for _ in range(6))
