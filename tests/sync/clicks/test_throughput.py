"""Drain throughput with actions running (the figure goes in the closing note)."""

from __future__ import annotations

import pytest

from loadtest.drain_throughput import measure
from tests.conftest import Servers

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial


@pytest.mark.slow
def test_drain_throughput_with_actions(clean: Servers) -> None:
    result = measure(clean.database_url, clean.redis_url, events=20_000, contacts=2_000, batch=500)
    print(f"\ndrain throughput: {result}")
    assert result["recorded"] == 20_000
    # 90% of events are human clicks by contacts, each whispers once.
    assert result["whispers"] == 18_000
    assert result["clicks_per_second"] > 1_000
