"""Background jobs in worker processes (admin/services/jobs.py): one organisation's jobs cannot
take every worker, and another organisation's job starts without waiting for them."""

from __future__ import annotations

import os
import time
from concurrent.futures import Future

import psycopg
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.services import jobs
from core import config, cpus
from tests.conftest import Servers

GATE = 0x70B5  # an advisory lock the test holds: every job waits on it
# The cores the jobs run on: on 2 cores (CI's) the second only (core.cpus.job_cpus)
JOB_CORES = cpus.job_cpus("auto")


def wait_for_the_test(label: str) -> None:
    """A job (run in a worker process): waits until the test lets go of GATE. The worker and
    the Postgres backend serving it (on this machine, as our user) run niced and on the jobs'
    cores only, and the worker in the idle scheduling class (a request thread that wakes takes
    the core at once)."""
    backend = db.session.scalar(text("SELECT pg_backend_pid()"))
    assert os.getpriority(os.PRIO_PROCESS, 0) >= jobs.NICENESS
    assert os.sched_getscheduler(0) == os.SCHED_IDLE
    assert os.sched_getscheduler(int(backend)) == os.SCHED_OTHER  # locks others wait on
    assert os.getpriority(os.PRIO_PROCESS, int(backend)) >= jobs.NICENESS
    assert os.sched_getaffinity(0) == os.sched_getaffinity(int(backend)) == JOB_CORES
    db.session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": GATE})
    db.session.commit()


def test_organisations_take_turns_and_none_takes_every_worker(app: Flask, clean: Servers) -> None:
    assert len(JOB_CORES) < len(os.sched_getaffinity(0)) or os.cpu_count() == 1
    runner = jobs.Runner(2, JOB_CORES)
    recipe = jobs.AppRecipe.of(app)
    ended: list[str] = []

    def submit(org_id: int, label: str) -> None:
        def done(future: Future[None]) -> None:
            ended.append(label if future.exception() is None else repr(future.exception()))

        runner.submit(org_id, recipe, wait_for_the_test, (label,), done)

    try:
        with psycopg.connect(config.to_libpq(clean.database_url), autocommit=True) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
            for label in ("a1", "a2", "a3"):
                submit(1, label)
            # Two workers, but the flooding organisation runs on one of them at most.
            assert (runner.running(1), runner.queued(1)) == (1, 2)
            submit(2, "b1")
            assert (runner.running(2), runner.queued(2)) == (1, 0)  # at once, not after a3
            assert ended == []
        deadline = time.monotonic() + 60  # the gate is open: everything ends
        while len(ended) < 4 and time.monotonic() < deadline:
            assert runner.running(1) <= 1 and runner.running(1) + runner.running(2) <= 2
            time.sleep(0.05)
        assert sorted(ended) == ["a1", "a2", "a3", "b1"]
        assert ended.index("a1") < ended.index("a2") < ended.index("a3")
    finally:
        runner.close()


def test_a_job_rests_between_its_chunks_to_work_its_share() -> None:
    """A job works ADMIN_JOB_SHARE of its time: after a chunk it rests (1 - share) / share
    as long as the chunk took (the chunk here: a sleep, as a job waiting on its queries)."""

    def rested(pace: jobs.Pace, chunk: float) -> float:
        time.sleep(chunk)
        began = time.monotonic()
        pace.rest()
        return time.monotonic() - began

    assert config.load({}).admin.job_share == 0.5  # the default
    assert 0.04 <= rested(jobs.Pace(0.5), 0.04) < 0.5
    assert 0.06 <= rested(jobs.Pace(0.25), 0.02) < 0.5
    assert rested(jobs.Pace(1), 0.02) < 0.01  # 1: no rest
    pace = jobs.Pace(0.5)
    rested(pace, 0.03)
    assert 0.03 <= rested(pace, 0.03) < 0.5  # each chunk from the end of the last rest
