"""Real servers and processes for tests: Postgres, Valkey, and our own roles on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from smartlinks.embedded import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SMARTLINKS = [sys.executable, "-m", "smartlinks.cli"]


class Process:
    """A child process of ours, with its output in a log file for when a test fails."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (granian's workers too)."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10) -> int | None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait(5)
        self.kill(signal.SIGKILL)  # stragglers in the group
        self._log.close()
        return self.proc.returncode


@contextmanager
def smartlinks_process(
    role_args: list[str], env: dict[str, str], log_dir: Path, command: list[str] = SMARTLINKS
) -> Iterator[Process]:
    log_dir.mkdir(parents=True, exist_ok=True)
    proc = Process(
        [*command, *role_args], env, log_dir / f"{role_args[0]}-{time.monotonic_ns()}.log"
    )
    try:
        yield proc
    finally:
        proc.stop()


@contextmanager
def http_role(
    role: str, env: dict[str, str], log_dir: Path, port_var: str, command: list[str] = SMARTLINKS
) -> Iterator[tuple[Process, str]]:
    """Start `smartlinks edge` or `smartlinks admin` on a free port; yield it and its base URL."""
    port = free_port()
    env = {**env, port_var: str(port)}
    with smartlinks_process([role], env, log_dir, command) as proc:
        try:
            wait_for_port("127.0.0.1", port, 30, proc.proc)
        except Exception as exc:
            raise RuntimeError(f"{role} did not start:\n{proc.log()}") from exc
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while httpx.get(base + "/healthz").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{role} /healthz never answered 200:\n{proc.log()}")
            time.sleep(0.05)
        yield proc, base
