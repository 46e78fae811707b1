"""Folders the workers of one edge server share: named after granian's main process.

granian starts every worker of a server from one main process, and respawns a worker that dies
from it too; so ``<tmp>/<prefix><main pid>`` is the same folder for all the workers of one
server, for as long as it runs, and a new server starts with a new one. The metrics snapshots
(edge/metrics.py) and the memory of recent answers (edge/memory.py) live in such folders; the
folders of servers that are gone are removed when a worker starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def server_folder(prefix: str) -> Path:
    """This worker's server's folder for ``prefix`` (not created here)."""
    return Path(tempfile.gettempdir()) / f"{prefix}{os.getppid()}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_stale(folder: Path, prefix: str) -> None:
    """Remove the ``prefix`` folders beside ``folder`` of edge servers that are gone."""
    with contextlib.suppress(OSError):
        for other in folder.parent.glob(f"{prefix}*"):
            pid = other.name.removeprefix(prefix)
            if pid.isdigit() and other != folder and not alive(int(pid)):
                shutil.rmtree(other, ignore_errors=True)
