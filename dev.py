#!/usr/bin/env python3
# Smart Links needs Python 3.11 or newer (pyproject.toml says so too).
"""Set up and run Smart Links on a machine that has nothing but Python 3.11+.

    python3 dev.py up      # virtual environment, install, then `smartlinks up`
    python3 dev.py test    # virtual environment, install with test extras, lint, type-check, pytest

Everything is installed from pyproject.toml into ./.venv; the browser tests also need a
Chromium, which the test command installs from the system's packages when it is missing.
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


def _run(*args: str | Path, **kw: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kw)  # type: ignore[call-overload]


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    # Reinstall only when pyproject.toml or the extras changed.
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> None:
    """The browser tests drive the system's Chromium (Playwright's own download is not used)."""
    if find_chromium():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run("apt-get", "update", "-qq", env=env)
        _run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
            "fonts-dejavu-core",
            env=env,
        )
    else:
        print("note: no Chromium found; the browser tests will be skipped", flush=True)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "up":
        ensure_venv("")
        os.execv(BIN / "smartlinks", [str(BIN / "smartlinks"), "up", *argv[1:]])
    if command == "test":
        ensure_venv("test")
        ensure_chromium()
        _run(BIN / "ruff", "check", ".")
        _run(BIN / "mypy", "core", "edge", "admin", "sync", "smartlinks")
        return subprocess.run([str(BIN / "pytest"), *argv[1:]], cwd=ROOT).returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
