"""The bench in its quick mode, end to end on its own embedded servers: it must still run, print
its figures, and find every click the edge served recorded in Postgres."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import logs
from loadtest import machine
from loadtest.bench import drain_duplicates

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_quick_bench_prints_figures_and_counts_every_served_click(tmp_path: Path) -> None:
    missing = [t for t in machine.TOOLS if machine.find_tool(t) is None]
    if missing and os.geteuid() != 0:
        pytest.skip(f"{', '.join(missing)} missing and not root to install them")
    # On a fresh machine (CI) as root: apt-get installs nginx and wrk once, before the clock.
    machine.ensure_tools()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.bench", "--quick", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for figure in (
        "edge full",
        "nginx full",
        "edge half",
        "nginx half",
        "edge / nginx at full load",
        "CPU per request at full load: edge",
        "load generator",
        "Valkey's own pauses of 1 ms or more during the full-load runs",
        "Valkey's own pauses of 1 ms or more during the half-load runs",
        "commands of 2 ms or more (full load)",
        "commands of 2 ms or more (half load)",
        "codes/s",
        "bytes in code buckets",
        "clicks/s",
        "every served click recorded: yes",
    ):
        assert figure in out, f"{figure!r} missing from:\n{out}"

    [path] = tmp_path.glob("bench-*.json")
    data = json.loads(path.read_text())
    summary, clicks = data["summary"], data["clicks"]
    assert summary["edge_full"]["req_per_s"] > 0
    assert summary["nginx_full"]["req_per_s"] > summary["edge_full"]["req_per_s"]
    assert 0 < summary["ratio"] < 1
    for load in ("full", "half"):  # Valkey's pauses and forks, apart for each load
        assert data["valkey"][load]["forks"] >= 0
        for name, slow in data["valkey"][load]["slow_commands"].items():  # which, how often
            assert slow["count"] > 0 and slow["max_ms"] >= 2, (name, slow)
    # The traffic mix reached the edge: people's clicks, previews and unknown codes.
    assert clicks["served_human"] > 0
    assert clicks["served_preview"] > 0
    assert clicks["unknown_404"] > 0
    assert clicks["recorded_human"] >= clicks["served_human"]
    assert clicks["recorded_preview"] >= clicks["served_preview"]
    assert clicks["ok"], clicks["problems"]
    assert clicks["appended_twice"] == data["drain"]["duplicates"] >= 0
    # Drain ran the link's actions: a whisper for each person's click on a contact's code.
    assert data["drain"]["whispers"] > 0
    assert data["sync"]["codes"] == 1_001
    assert data["sync"]["redis_bytes_per_code_buckets"] > 0


def test_the_drains_second_appends_are_read_from_its_last_stop_line(tmp_path: Path) -> None:
    """The bench's click check allows an event appended twice (a click spooled by the edge and
    replayed although its script had appended it) when the drain found it already recorded:
    the count comes from the last "drain stopped" line, written by our JSON log formatter."""
    path = tmp_path / "drain.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logs.JsonFormatter("drain"))
    log = logging.getLogger("test.drain-stopped")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        logs.event(log, "drain stopped", consumer="a", recorded=5, duplicates=0)
        log.info("not an event")
        logs.event(log, "drain stopped", consumer="b", recorded=9, duplicates=146)
    finally:
        log.removeHandler(handler)
        handler.close()
    with path.open("a") as f:
        f.write("a line that is not JSON\n")
    assert drain_duplicates(path) == 146
