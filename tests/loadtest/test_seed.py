"""`python -m loadtest.seed` as a newcomer runs it: no DATABASE_URL, a running `smartlinks up`
found through its runtime file, an API token that the admin's API accepts, and the files the
Locust run reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskClient

from core import runtime
from loadtest.traffic import read_targets
from tests.conftest import Servers

ROOT = Path(__file__).resolve().parents[2]


def test_seed_finds_the_running_up_and_prints_a_working_token(
    clean: Servers, client: FlaskClient, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    runtime.write(data_dir, database_url=clean.database_url, redis_url=clean.redis_url)
    env = {
        k: v
        for k, v in clean.env(SMARTLINKS_DATA_DIR=str(data_dir)).items()
        if k not in ("DATABASE_URL", "REDIS_URL")
    }
    seed_file, codes = tmp_path / "results" / "seed.json", tmp_path / "results" / "codes.txt"
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.seed", "--contacts", "30",
         "--seed-file", str(seed_file), "--export", str(codes)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seeded = json.loads(seed_file.read_text())
    assert f"API token for org {seeded['org_id']}: {seeded['api_token']}" in result.stdout
    assert seeded["edge_url"].startswith("http://") and seeded["admin_url"].startswith("http://")
    assert seed_file.stat().st_mode & 0o077 == 0  # the token is a credential
    targets = read_targets(Path(seeded["codes_file"]))
    assert len(targets) == 31 and {t.host for t in targets} == {seeded["host"]}
    answer = client.get(
        f"/api/v1/links/{seeded['link_id']}/metrics",
        headers={"Authorization": f"Bearer {seeded['api_token']}"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_seed_without_a_database_says_how_to_get_one(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SMARTLINKS_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.seed", "--contacts", "5"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "smartlinks up" in result.stderr
