#!/usr/bin/env python3
"""The images' lock files: every dependency pinned with its hashes, from pyproject.toml.

    .venv/bin/python deploy/lock.py           # resolve again and rewrite requirements/*.lock
    .venv/bin/python deploy/lock.py --check   # exit 1 if a lock is older than pyproject.toml

Each image installs its lock with ``pip install --require-hashes`` and then the project with
``--no-deps``, so two builds of one commit install the same bytes. The resolution (uv) targets
the images' platform: CPython 3.11 on x86-64 Linux. A lock's first line holds the SHA-256 of
the requirements it was resolved from (the project's dependencies, the image's extras and the
build backend): ``--check`` compares that offline, and tests/deploy/test_images.py runs it, so
a changed dependency without a new lock fails CI.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_DIR = ROOT / "requirements"
# image -> the extras it installs besides the project's dependencies.
IMAGES: dict[str, tuple[str, ...]] = {"edge": ("edge",), "admin": ("admin",)}
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"  # python:3.11-slim (Debian, glibc 2.36)
HEADER = "# input-sha256: "


def inputs(extras: tuple[str, ...]) -> list[str]:
    """The requirements an image's lock is resolved from, in a stable order."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    optional = project["project"].get("optional-dependencies", {})
    found = list(project["project"]["dependencies"])
    for extra in extras:
        found += optional[extra]
    # The build backend too: the image builds the project without build isolation, so that
    # nothing is fetched unpinned at build time.
    found += project["build-system"]["requires"]
    return sorted(set(found))


def digest(requirements: list[str]) -> str:
    return hashlib.sha256("\n".join(requirements).encode()).hexdigest()


def lock_path(image: str) -> Path:
    return LOCK_DIR / f"{image}.lock"


def recorded(image: str) -> str:
    path = lock_path(image)
    if not path.exists():
        return ""
    first = path.read_text().splitlines()[0]
    return first.removeprefix(HEADER) if first.startswith(HEADER) else ""


def compile_lock(image: str) -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    requirements = inputs(IMAGES[image])
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text("\n".join(requirements) + "\n")
        out = Path(tmp) / "out.txt"
        subprocess.run(
            [
                uv, "pip", "compile", str(source), "--output-file", str(out),
                "--generate-hashes", "--no-header", "--no-annotate",
                "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM,
            ],
            check=True,
        )  # fmt: skip
        body = out.read_text()
    LOCK_DIR.mkdir(exist_ok=True)
    lock_path(image).write_text(
        f"{HEADER}{digest(requirements)}\n"
        f"# The {image} image's dependencies, pinned with hashes: python deploy/lock.py\n"
        f"{body}"
    )


def stale() -> list[str]:
    return [image for image, extras in IMAGES.items() if recorded(image) != digest(inputs(extras))]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        old = stale()
        for image in old:
            print(f"{lock_path(image).relative_to(LOCK_DIR.parent)} is out of date: python deploy/lock.py")
        return 1 if old else 0
    for image in IMAGES:
        compile_lock(image)
        print(f"{lock_path(image).relative_to(LOCK_DIR.parent)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
