"""A real `smartlinks up` for the fault trial (loadtest/trial.py): started as a subprocess in
a data folder of its own, its processes found for the faults, its database and CLI, and a link
seeded through the admin API as an organiser would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg

from core import config, runtime
from loadtest.httpload import IPHONE
from loadtest.stack import SMARTLINKS, Child
from smartlinks.embedded import free_port

HOST = "trial.smartlinks.test"
READY = re.compile(r"ready in ([0-9.]+)s")
ACTIONS = [
    {"type": "whisper"},
    {"type": "add_tag", "tag": "trial-clicked"},
    {"type": "remove_from_list", "list": "Not yet clicked"},
]


@dataclass
class Up:
    """A running `smartlinks up` in its own data folder."""

    work: Path
    workers: int
    edge_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    child: Child | None = None

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "REDIS_", "EDGE_", "ADMIN_", "SMARTLINKS_"))
        }
        env.update(
            SMARTLINKS_DATA_DIR=str(self.data_dir),
            EDGE_PORT=str(self.edge_port),
            ADMIN_PORT=str(self.admin_port),
            EDGE_WORKERS=str(self.workers),
            LOG_LEVEL="INFO",  # the roles' "worker started" (the trial times restarts by it)
        )
        return env

    def start(self, timeout: float = 180) -> None:
        self.child = Child([*SMARTLINKS, "up"], self.work / "up.log", self.env())
        deadline = time.monotonic() + timeout
        while not READY.search(self.child.log_path.read_text(errors="replace")):
            if self.child.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"smartlinks up did not start:\n{self.child.tail(60)}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(signal.SIGINT, timeout=30)

    @property
    def database_url(self) -> str:
        return config.to_libpq(runtime.read(self.data_dir)["database_url"])

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*SMARTLINKS, *args], env=self.env(), capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"smartlinks {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    # -- the processes of `up` -----------------------------------------------------------------

    def children(self, match: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
        assert self.child is not None
        found = []
        for proc in psutil.Process(self.child.pid).children():
            with suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE and match(proc):
                    found.append(proc)
        return found

    def role(self, name: str) -> psutil.Process:
        (proc,) = self.children(lambda p: " ".join(p.cmdline()).split()[-1:] == [name])
        return proc

    def server(self, name: str) -> psutil.Process:
        (proc,) = self.children(lambda p: p.name().startswith(name))
        return proc

    def kill9(self, proc: psutil.Process) -> None:
        """SIGKILL to the process and everything it started (its group when it has its own)."""
        assert self.child is not None
        if os.getpgid(proc.pid) != os.getpgid(self.child.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            for p in [proc, *proc.children(recursive=True)]:
                with suppress(psutil.Error):
                    p.kill()


@dataclass
class Seeded:
    link_id: int
    recent: list[str]  # contacts' codes, each clicked once at the start
    generic: str


def _api(up: Up, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{up.admin_port}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def seed(up: Up, contacts: int) -> tuple[Seeded, httpx.Client]:
    token = json.loads(
        up.cli("org", "create", "--name", "Trial Org", "--email", "trial@smartlinks.test",
               "--password", "a long trial password")  # fmt: skip
    )["api_token"]
    api = _api(up, token)
    assert api.post("/domains", json={"hostname": HOST}).status_code == 201
    up.cli("domain", "verify", HOST)

    def contact(i: int) -> int:
        r = api.post("/contacts", json={"phone": f"+1555{i:07d}", "first_name": f"T{i}"})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(contact, range(contacts)))
    r = api.post("/links", json={
        "name": "Trial", "domain": HOST, "actions": ACTIONS,
        "destination": "https://example.org/rsvp?first={{first_name}}&src={{fields.source|sms}}",
    })  # fmt: skip
    assert r.status_code == 201, r.text
    link = r.json()
    urls = api.post(f"/links/{link['id']}/issue", json={"contact_ids": ids}).json()["urls"]
    codes = [urlsplit(u["url"]).path.split("/")[1] for u in urls]
    return Seeded(link["id"], codes, urlsplit(link["url"]).path.split("/")[1]), api


def click(client: httpx.Client, code: str) -> int:
    return client.get(f"/{code}", headers={"Host": HOST, "User-Agent": IPHONE}).status_code


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> float:
    began = time.monotonic()
    while True:
        with suppress(Exception):
            if check():
                return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise TimeoutError(what)
        time.sleep(every)


def role_started(up: Up, role: str, old_pid: int) -> bool:
    """The role runs again: a new process that has logged "worker started" (sync/worker.py)."""
    new = up.role(role)
    return new.pid != old_pid and bool(log_lines(up, '"event": "worker started"', f":{new.pid}"))


def log_lines(up: Up, *words: str) -> list[str]:
    """The lines of `up`'s log that hold all of ``words``."""
    assert up.child is not None
    log = up.child.log_path.read_text(errors="replace")
    return [line for line in log.splitlines() if all(w in line for w in words)]


