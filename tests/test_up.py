"""`smartlinks up` end to end, with real processes: embedded Postgres and Valkey, migrations,
the demo organisation, every role as a child, restarts, Ctrl-C, and a second start."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from smartlinks.datafolder import port_is_free, remembered_ports
from smartlinks.embedded import free_port
from smartlinks.supervisor import BROWSER_UA
from tests.servers import SMARTLINKS, Process

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial

CURL = re.compile(r"curl -i -A '[^']+' -H 'Host: ([^']+)' (http://127\.0\.0\.1:\d+(/\S+))")
READY = re.compile(r"ready in ([0-9.]+)s")
LOGIN = re.compile(r"login:\s+(\S+)\s+password: (\S+)")


def _env(data_dir: Path, edge_port: int, admin_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "EDGE_", "ADMIN_", "SMARTLINKS_", "SECRET_"))
    }
    env.update(
        SMARTLINKS_DATA_DIR=str(data_dir),
        EDGE_PORT=str(edge_port),
        ADMIN_PORT=str(admin_port),
        EDGE_WORKERS="1",
        LOG_LEVEL="INFO",
    )
    return env


def _wait_for_banner(proc: Process, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = proc.log()
        if CURL.search(out) and READY.search(out):
            return out
        assert proc.proc.poll() is None, f"smartlinks up exited:\n{out[-6000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no demo link printed after {timeout}s:\n{proc.log()[-6000:]}")


def _follow(url: str, host: str) -> httpx.Response:
    return httpx.get(
        url, headers={"Host": host, "User-Agent": BROWSER_UA}, follow_redirects=False, timeout=5
    )


def _status_or_0(url: str, host: str) -> int:
    try:
        return _follow(url, host).status_code
    except httpx.HTTPError:
        return 0


def _children(pid: int, name: str) -> list[psutil.Process]:
    """Children of `up` running role ``name`` (`python -m smartlinks.cli drain`, or granian's
    retitled `smartlinks edge`)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            words = " ".join(child.cmdline()).split()
            if words[-1:] == [name] and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


def _servers(pid: int, name: str) -> list[psutil.Process]:
    """Children of `up` that are embedded servers called ``name`` (one that exits while we look
    is not counted)."""
    found = []
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.Error):
            if name in child.name():
                found.append(child)
    return found


def _ours(data_dir: Path) -> list[psutil.Process]:
    """Every process started for this data folder (servers by their command line, roles and
    granian workers by their environment)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (
                str(data_dir) in cmdline
                or proc.cwd().startswith(str(data_dir))
                or (
                    proc.environ().get("SMARTLINKS_DATA_DIR") == str(data_dir)
                    and proc.pid != os.getpid()
                )
            ):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def _left_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still alive; one that exits while we look counts as gone."""
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
    return alive


def _cmdlines(procs: list[psutil.Process]) -> list[list[str]]:
    lines = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            lines.append(p.cmdline())
    return lines


def _interrupt(proc: Process, data_dir: Path, ports: list[int]) -> float:
    """Ctrl-C: everything gone within 10 s, no process left, every port free."""
    before = psutil.Process(proc.pid).children(recursive=True)
    assert before, "up has no children"
    began = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does with Ctrl-C
    code = proc.proc.wait(15)
    took = time.monotonic() - began
    assert took < 10, f"stopping took {took:.1f}s"
    assert code == 0, proc.log()[-3000:]
    alive = _left_running(before)
    assert not alive, f"left running: {_cmdlines(alive)}"
    assert not _ours(data_dir)
    busy = [port for port in ports if not port_is_free(port)]
    assert not busy, f"ports still bound: {busy}"
    assert not (data_dir / "runtime.json").exists()
    return took


def _org_create(env: dict[str, str], email: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SMARTLINKS, "org", "create", "--name", "Up Test Org", "--email", email]
        + ["--password", "a long password"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_up_runs_everything_restarts_stops_and_starts_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    edge_port, admin_port = free_port(), free_port()
    env = _env(data_dir, edge_port, admin_port)
    admin = f"http://127.0.0.1:{admin_port}"

    # First start: initdb, migrations, the demo organisation.
    first = Process([*SMARTLINKS, "up"], env, tmp_path / "up-1.log")
    try:
        out = _wait_for_banner(first)
        first_ready = float(READY.search(out).group(1))  # type: ignore[union-attr]
        host, link, path = CURL.search(out).groups()  # type: ignore[union-attr]
        email, password = LOGIN.search(out).groups()  # type: ignore[union-attr]
        assert host == "go.smartlinks.test"
        assert email == "demo@smartlinks.test"
        assert f"{admin}/" in out
        saved = json.loads((data_dir / "demo.json").read_text())
        assert saved["password"] == password
        assert (data_dir / "demo.json").stat().st_mode & 0o777 == 0o600

        # The demo link redirects to the destination merged with the contact's first name.
        resp = _follow(link, host)
        assert resp.status_code == 302, resp.text[:500]
        assert resp.headers["location"] == "https://example.org/rsvp?first=Ada&src=sms"

        # `smartlinks org create` finds the running embedded Postgres through the data folder.
        created = _org_create(env, "owner@up.test")
        assert created.returncode == 0, created.stderr
        token = json.loads(created.stdout)["api_token"]
        ok = httpx.get(f"{admin}/api/v1/links", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert ok.json()["links"] == []
        bad = httpx.get(f"{admin}/api/v1/links", headers={"Authorization": "Bearer sl_wrong"})
        assert bad.status_code == 401

        # kill -9 of a child: it is started again, the others carry on.
        (drain,) = _children(first.pid, "drain")
        edge_before = _children(first.pid, "edge")
        assert edge_before
        os.killpg(drain.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not [c for c in _children(first.pid, "drain") if c.pid != drain.pid]:
            assert time.monotonic() < deadline, "drain was not restarted"
            time.sleep(0.1)
        assert _children(first.pid, "edge") == edge_before
        assert '"child exited", "child": "drain"' in first.log()

        # The same for an embedded server: Valkey comes back with its data (AOF) and the edge
        # serves the demo link again.
        (valkey,) = _servers(first.pid, "valkey")
        os.kill(valkey.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            back = _servers(first.pid, "valkey")
            if back and back[0].pid != valkey.pid and _status_or_0(link, host) == 302:
                break
            assert time.monotonic() < deadline, "valkey was not restarted"
            time.sleep(0.1)

        ports = json.loads((data_dir / "ports.json").read_text())
        all_ports = [edge_port, admin_port, ports["postgres"], ports["redis"]]
        first_stop = _interrupt(first, data_dir, all_ports)
    finally:
        first.stop()

    # Second start on the same data folder: the same servers' ports, data kept, no new seed.
    second = Process([*SMARTLINKS, "up"], env, tmp_path / "up-2.log")
    try:
        out2 = _wait_for_banner(second)
        second_ready = float(READY.search(out2).group(1))  # type: ignore[union-attr]
        assert CURL.search(out2).group(2) == link  # type: ignore[union-attr]
        assert LOGIN.search(out2).groups() == (email, password)  # type: ignore[union-attr]
        assert "demo organisation seeded" not in out2
        assert json.loads((data_dir / "ports.json").read_text()) == ports
        assert _follow(link, host).status_code == 302
        still = httpx.get(f"{admin}/api/v1/links", headers={"Authorization": f"Bearer {token}"})
        assert still.status_code == 200
        again = _org_create(env, "owner@up.test")
        assert again.returncode == 2 and "exists already" in again.stderr
        # kill -9 of `up` itself: its children are told by the kernel (PR_SET_PDEATHSIG) and
        # stop too, so nothing is left behind even then.
        before = psutil.Process(second.pid).children(recursive=True)
        began = time.monotonic()
        os.kill(second.pid, signal.SIGKILL)
        second.proc.wait(5)
        while alive := _left_running(before):
            assert time.monotonic() - began < 10, _cmdlines(alive)
            time.sleep(0.1)
        second_stop = time.monotonic() - began
        assert not _ours(data_dir)
        assert all(port_is_free(port) for port in all_ports)
    finally:
        second.stop()

    print(
        f"\nsmartlinks up: first start ready in {first_ready:.1f}s, second in {second_ready:.1f}s;"
        f" Ctrl-C stopped everything in {first_stop:.1f}s; after kill -9 of up, its children"
        f" were gone in {second_stop:.1f}s"
    )
    # The second start skips initdb and the seed; on a busy machine the roles' start-up time
    # dominates both, so only the figures are printed, with a generous bound.
    assert first_ready < 60 and second_ready < 60


def test_second_up_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    from smartlinks.datafolder import data_dir_lock

    with data_dir_lock(tmp_path):
        env = _env(tmp_path, free_port(), free_port())
        result = subprocess.run(
            [*SMARTLINKS, "up"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0
    assert "another `smartlinks up` is running" in result.stderr


def test_ports_are_remembered_and_replaced_when_taken(tmp_path: Path) -> None:
    first = remembered_ports(tmp_path, ("postgres", "redis"))
    assert remembered_ports(tmp_path, ("postgres", "redis")) == first
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first["redis"]))
        taken.listen()
        assert not port_is_free(first["redis"])
        moved = remembered_ports(tmp_path, ("postgres", "redis"))
    assert moved["postgres"] == first["postgres"]
    assert moved["redis"] != first["redis"]
    assert json.loads((tmp_path / "ports.json").read_text()) == moved


def test_up_refuses_a_busy_edge_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        env = _env(tmp_path / "data", busy, free_port())
        result = subprocess.run(
            [sys.executable, "-m", "smartlinks.cli", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {busy} is in use; set EDGE_PORT" in result.stdout


@pytest.mark.slow
def test_up_with_database_url_and_redis_url_starts_no_embedded_server(
    clean, tmp_path: Path
) -> None:
    import redis

    data_dir = tmp_path / "data"
    env = _env(data_dir, free_port(), free_port())
    env.update(DATABASE_URL=clean.database_url, REDIS_URL=clean.redis_url)
    proc = Process([*SMARTLINKS, "up"], env, tmp_path / "up.log")
    try:
        out = _wait_for_banner(proc)
        names = {" ".join(c.cmdline()) for c in psutil.Process(proc.pid).children()}
        assert not [n for n in names if "postgres" in n or "valkey" in n], names
        assert not (data_dir / "ports.json").exists()
        host, link, _ = CURL.search(out).groups()  # type: ignore[union-attr]
        resp = _follow(link, host)
        assert resp.status_code == 302
        assert resp.headers["location"] == "https://example.org/rsvp?first=Ada&src=sms"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.proc.wait(15) == 0
    finally:
        proc.stop()
    assert redis.Redis.from_url(clean.redis_url).ping()  # not ours to stop


def test_an_embedded_server_whose_port_was_taken_meanwhile_moves(tmp_path: Path) -> None:
    """The port remembered (or just chosen) can be taken before the server binds it."""
    import socket

    import redis

    from smartlinks.embedded import EmbeddedRedis
    from smartlinks.processes import Supervisor
    from smartlinks.supervisor import _start_server, _wait_or_move

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "ports.json").write_text(json.dumps({"postgres": 1, "redis": port}))
        server = EmbeddedRedis(tmp_path / "redis", port, durable=False)
        child = _start_server(Supervisor(), "valkey", server, signal.SIGTERM)
        try:
            _wait_or_move(child, server, "redis", tmp_path)
            assert server.port != port
            assert json.loads((tmp_path / "ports.json").read_text()) == {
                "postgres": 1,
                "redis": server.port,
            }
            assert redis.Redis.from_url(server.url).ping()
        finally:
            child.signal(signal.SIGTERM)
            if child.proc is not None:
                child.proc.wait(10)
