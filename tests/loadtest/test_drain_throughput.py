"""The drain-throughput script, small, against the session's servers: every event recorded by
two drain processes, and the CPU figures there."""

from __future__ import annotations

import pytest

from loadtest.drain_throughput import measure
from tests.conftest import Servers

# Starts drain processes and times them: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial


@pytest.mark.timeout(120)
def test_two_drain_processes_record_every_event_and_count_postgres_cpu(clean: Servers) -> None:
    figures = measure(
        clean.database_url, clean.redis_url, events=400, contacts=40, batch=50, lanes=2,
        processes=2,
    )
    assert figures["processes"] == 2
    assert figures["read"] == figures["recorded"] == 400
    assert figures["whispers"] > 0
    assert figures["clicks_per_second"] > 0
    # The session's Postgres is local: its CPU per click is measured, and is not nothing.
    assert figures["postgres_cpu_us_per_click"] and figures["postgres_cpu_us_per_click"] > 0
    assert figures["drain_cpu_us_per_click"] > 0
