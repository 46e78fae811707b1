"""The edge's settings: without REDIS_URL it finds the Redis of the `smartlinks up` running in
its data folder, through the runtime file that `up` writes (core.runtime)."""

from __future__ import annotations

from pathlib import Path

import httpx

from core import runtime
from tests.conftest import Servers
from tests.servers import http_role


def test_the_edge_finds_redis_through_the_runtime_file(servers: Servers, tmp_path: Path) -> None:
    runtime.write(tmp_path, database_url=servers.database_url, redis_url=servers.redis_url)
    env = servers.env(SMARTLINKS_DATA_DIR=str(tmp_path), EDGE_WORKERS="1")
    del env["REDIS_URL"], env["DATABASE_URL"]
    # http_role waits for /healthz to answer 200: the edge pings its Redis for that.
    with http_role("edge", env, tmp_path / "logs", "EDGE_PORT") as (_, base):
        assert httpx.get(base + "/healthz").text == "ok\n"
