"""The processes a bench run starts: Postgres and Valkey (embedded, unless URLs are given), the
edge (`smartlinks edge`, one worker) and nginx, each pinned where the bench says."""

from __future__ import annotations

import grp
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from loadtest import machine
from smartlinks.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SMARTLINKS = [sys.executable, "-m", "smartlinks.cli"]
NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf")


class Child:
    """A process of ours in its own session (so its workers stop with it), output to a log."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_fn,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with suppress(ProcessLookupError):  # workers left behind in the group
            os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Stores:
    database_url: str
    redis_url: str
    redis_pid: int | None  # None when REDIS_URL points at a server we did not start
    embedded: bool


@contextmanager
def stores(
    work_dir: Path, database_url: str, redis_url: str, redis_cpu: int | None
) -> Iterator[Stores]:
    """The given servers, or real embedded ones on free ports in ``work_dir`` (durable, as a
    deployment runs them: Postgres with fsync, Valkey with its append-only file)."""
    with ExitStack() as stack:
        if not database_url:
            pg = EmbeddedPostgres(work_dir / "postgres", free_port())
            pg.prepare()
            pg_proc = pg.start()
            stack.callback(_stop_postgres, pg_proc)
            database_url = pg.url
        redis_pid = None
        embedded = not redis_url
        if not redis_url:
            rd = EmbeddedRedis(work_dir / "valkey", free_port())
            pin = machine.pin(redis_cpu) if redis_cpu is not None else None
            rd_proc = rd.launch(preexec_fn=pin)
            stack.callback(_stop, rd_proc)
            rd.wait_ready(rd_proc)
            redis_url, redis_pid = rd.url, rd_proc.pid
        yield Stores(database_url, redis_url, redis_pid, embedded)


@contextmanager
def migrated_stores(prefix: str) -> Iterator[Stores]:
    """Embedded durable servers of the bench's own in a temporary folder, migrated."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, stores(Path(tmp), "", "", None) as st:
        env = role_env(st, Path(tmp) / "data")
        run_role(["migrate"], env, Path(tmp) / "migrate.log")
        yield st


def _stop_postgres(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # fast shutdown: does not wait for clients
    _wait_or_kill(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    _wait_or_kill(proc)


def _wait_or_kill(proc: subprocess.Popen) -> None:
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def role_env(stores: Stores, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `smartlinks` child pointed at the bench's servers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "EDGE_", "ADMIN_", "SMARTLINKS_"))
    }
    env.update(
        DATABASE_URL=stores.database_url,
        REDIS_URL=stores.redis_url,
        SMARTLINKS_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def run_role(args: list[str], env: dict[str, str], log_path: Path) -> float:
    """Run `smartlinks ARGS` to the end; its wall time in seconds. Raises on failure."""
    started = time.perf_counter()
    with log_path.open("ab") as log:
        result = subprocess.run([*SMARTLINKS, *args], env=env, cwd=ROOT, stdout=log, stderr=log)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"smartlinks {' '.join(args)} exited {result.returncode}:\n{tail}")
    return seconds


@contextmanager
def edge(env: dict[str, str], log_dir: Path, cpu: int) -> Iterator[tuple[Child, str]]:
    """`smartlinks edge` with one worker, pinned to ``cpu``; yields it and its base URL."""
    port = free_port()
    env = {**env, "EDGE_PORT": str(port), "EDGE_HOST": "127.0.0.1", "EDGE_WORKERS": "1"}
    child = Child([*SMARTLINKS, "edge"], log_dir / "edge.log", env, machine.pin(cpu))
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_port("127.0.0.1", port, 60, child.proc)
            _wait_healthy(base + "/healthz", 30)
        except Exception as exc:
            raise RuntimeError(f"the edge did not start:\n{child.tail()}") from exc
        yield child, base
    finally:
        child.stop()


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} never answered 200")
        time.sleep(0.1)


def _nginx_user() -> str:
    if os.geteuid() != 0:
        return ""  # workers run as we do
    try:
        grp.getgrnam("nogroup")
        return "user nobody nogroup;"
    except KeyError:
        return "user nobody;"


@contextmanager
def nginx(binary: str, run_dir: Path, cpu: int) -> Iterator[tuple[Child, str]]:
    """nginx `return 302` with one worker, pinned to ``cpu``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = run_dir / "nginx.conf"
    conf.write_text(
        NGINX_TEMPLATE.read_text().format(port=port, run_dir=run_dir, user=_nginx_user())
    )
    args = [binary, "-c", str(conf), "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log")]
    child = Child(args, run_dir / "nginx.out", None, machine.pin(cpu))
    try:
        try:
            wait_for_port("127.0.0.1", port, 15, child.proc)
        except Exception as exc:
            raise RuntimeError(f"nginx did not start:\n{child.tail()}") from exc
        yield child, f"http://127.0.0.1:{port}"
    finally:
        child.stop(signal.SIGQUIT)  # graceful: workers finish, master exits


def process_tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def busiest_worker(pid: int) -> int:
    """The process of the tree that has used the most CPU: granian's worker under load (its
    main process, and multiprocessing's helpers, only wait)."""
    best, most = pid, -1.0
    for candidate in process_tree(pid):
        try:
            t = psutil.Process(candidate).cpu_times()
        except psutil.NoSuchProcess:
            continue
        if t.user + t.system > most:
            best, most = candidate, t.user + t.system
    return best
