"""The metrics benchmark in its quick mode: it seeds a small link through COPY, times every
metrics call the API serves for it and streams the CSV export, against the session's Postgres."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Servers

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_quick_metrics_bench_times_every_call_and_the_export(
    clean: Servers, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "loadtest.metrics_bench", "--quick",
            "--database-url", clean.database_url, "--results-dir", str(tmp_path),
        ],
        cwd=ROOT,
        env=clean.env(),
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for figure in ("counters", "series minute, 3 days", "series hour, 90 days", "breakdown",
                   "contacts clicks, deep page", "contacts previews, first page", "CSV export"):
        assert figure in result.stdout, figure
    (saved,) = tmp_path.glob("metrics_bench-*.json")
    report = json.loads(saved.read_text())
    assert report["clicks"] == 20_000 and report["rounds"] == 3
    assert all(c["p95_ms"] > 0 for c in report["calls"])
    # Every contact with a human click is one CSV row (the quick seed's 2,000 all clicked).
    assert 1_900 <= report["export"]["rows"] <= 2_000
    assert report["export"]["rss_peak_mb"] >= report["export"]["rss_start_mb"] > 0
