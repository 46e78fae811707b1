"""Waiting for a contact import to end (it runs in a worker process of the admin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for_import(
    read: Callable[[str], dict[str, Any]], url: str, deadline: float = 30.0
) -> dict[str, Any]:
    """The job at ``url`` (read as JSON by ``read``) once it is done or failed."""
    end = time.monotonic() + deadline
    while True:
        job = read(url)
        if job["status"] in ("done", "failed"):
            return job
        if time.monotonic() > end:
            raise AssertionError(f"import did not finish: {job}")
        time.sleep(0.05)
