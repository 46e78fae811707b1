"""The runtime file of a running `smartlinks up`: where its embedded servers listen.

`up` writes ``runtime.json`` in the data folder once its servers are ready and removes it when
it stops, so that a command run from another shell (`smartlinks org create`, a single role)
finds the same servers without DATABASE_URL / REDIS_URL. The format is one JSON object of
URLs: ``{"database_url": "postgresql://...", "redis_url": "redis://..."}``.
"""

from __future__ import annotations

import json
from pathlib import Path

FILE_NAME = "runtime.json"


def path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write(data_dir: Path, **urls: str) -> None:
    """Record where the servers listen (the URLs carry passwords: owner-only)."""
    target = path(data_dir)
    target.write_text(json.dumps(urls))
    target.chmod(0o600)


def read(data_dir: Path) -> dict[str, str]:
    """The URLs of the running `up` in ``data_dir``; empty when none runs there (or the file is
    unreadable: the caller then asks for DATABASE_URL / REDIS_URL)."""
    try:
        found = json.loads(path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}


def remove(data_dir: Path) -> None:
    path(data_dir).unlink(missing_ok=True)
