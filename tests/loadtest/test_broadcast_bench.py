"""`python -m loadtest.broadcast_bench` at a small size: the broadcast is queued through admin's
own service, its codes reach Redis, and the time per stage is reported (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis

from tests.conftest import Servers

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"recipients", "codes", "render", "copy", "other"}  # no history events any more


def test_bench_reports_each_stage_and_publishes_every_code(clean: Servers, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.broadcast_bench", "--contacts", "120",
         "--results-dir", str(tmp_path)],
        cwd=ROOT, env=clean.env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["broadcast"]["messages"] == 120
    assert set(report["broadcast"]["stages"]) == STAGES
    assert report["sync"]["code"] == 0
    for name in ("recipients", "codes", "render", "copy", "sync to Redis"):
        assert f"  {name} " in result.stderr, result.stderr
    cpu = report["broadcast"]["cpu_seconds"]  # whose CPU the wall time was
    assert set(cpu) == {"python", "postgres"} and cpu["python"] > 0, cpu  # 120: Postgres ~0 s
    assert "its Postgres backend" in result.stderr
    assert len(list(tmp_path.glob("broadcast_bench-*.json"))) == 1
    rdb = redis.Redis.from_url(clean.redis_url)
    try:
        published = sum(rdb.hlen(key) for key in rdb.scan_iter("sl:c:*"))
    finally:
        rdb.close()
    assert published == 120  # the broadcast's codes (the seed issues none)
