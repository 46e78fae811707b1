"""The click stream stays a few batches long under the fastest appends this machine gives: a
real `smartlinks drain` and a pipelined XADD loop for 15 s (loadtest/stream_soak.py is the
2-minute version). Trimming is exact and runs with every acknowledgement."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from flask import Flask

from admin.services.orgs import NewOrg
from core import keys
from loadtest.stream_soak import check_flat, produce
from tests.conftest import Servers
from tests.servers import smartlinks_process
from tests.sync.clicks.helpers import make_contacts, make_domain, make_link, scalar

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial

BATCH = 500
MAX_LAG = 5_000


@pytest.mark.slow
def test_stream_stays_bounded_at_full_rate(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    contacts = make_contacts(org.org_id, 500)
    env = clean.env(DRAIN_BATCH=str(BATCH), LOG_LEVEL="WARNING")
    with smartlinks_process(["drain"], env, tmp_path) as drain:
        deadline = time.monotonic() + 30
        while not rdb.exists(keys.CLICK_STREAM):
            assert time.monotonic() < deadline, drain.log()
            time.sleep(0.05)
        samples = produce(rdb, (link, domain, contacts), 15, MAX_LAG, 0.5)
        assert drain.proc.poll() is None, drain.log()
        appended = samples[-1].appended
        while scalar("SELECT count(*) FROM clicks") < appended:  # what was still unread
            assert time.monotonic() < deadline + 60, drain.log()
            time.sleep(0.1)
        time.sleep(0.3)  # the last acknowledgement, and its trim
    rate = appended / samples[-1].t
    print(f"\n{rate:.0f} clicks/s; worst XLEN {max(s.xlen for s in samples)}, "
          f"worst retained {max(s.retained for s in samples)}")  # fmt: skip
    assert rate > 1_000, "too slow to say anything about trimming"
    assert check_flat(samples, MAX_LAG, BATCH) == []
    # Nothing was trimmed before it was recorded.
    assert scalar("SELECT count(*) FROM clicks") == appended
    assert rdb.xlen(keys.CLICK_STREAM) <= 1  # the last delivered entry is the floor
