"""`smartlinks health`: which role a process runs, read from its command line, and the check
without a role on a host that runs none."""

from __future__ import annotations

import subprocess

from smartlinks.health import _role_of
from tests.servers import ROOT, SMARTLINKS


def test_the_role_is_read_from_the_command_line() -> None:
    assert _role_of(["/usr/local/bin/python", "/usr/local/bin/smartlinks", "sync"]) == "sync"
    assert _role_of(["python3", "-m", "smartlinks.cli", "drain", "--burst"]) == "drain"
    assert _role_of(["smartlinks edge"]) == "edge"  # granian's process name
    assert _role_of(["smartlinks", "health", "sync"]) is None
    assert _role_of(["smartlinks", "migrate"]) is None
    assert _role_of(["python", "app.py", "sync"]) is None


def test_an_unknown_role_is_refused() -> None:
    done = subprocess.run(
        [*SMARTLINKS, "health", "nonsense"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr
