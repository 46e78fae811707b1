"""Background jobs of the admin (contact imports), run in worker processes of their own, taken
in turn across organisations.

Why processes and not threads: an import is Python work (CSV, phone numbers) for seconds; in a
thread of the admin process it held the GIL against the request threads, and another
organisation's requests waited on it (issue 15: its p99 grew 4 to 14 times while one tenant's
imports ran). A worker process runs niced and in the idle scheduling class, so the request
threads' CPU comes first too, and it runs on the upper half of the cores only (with its
database backend): a request always finds a core that no job holds (``ADMIN_JOB_CPUS``).

Why a queue of our own in front of the pool: the pool alone is first come, first served, so
one organisation's jobs could take every worker. Here each organisation has its queue; a free
worker takes the next organisation's job in turn, and one organisation runs on all but one of
the workers at most, so another's job starts without waiting for the first one's to end.

Pace: a job rests between its chunks (``Pace``), so that it works ``ADMIN_JOB_SHARE`` of its
time (half, by default). A chunk's time includes the database's work on it (the job waits for
its queries), so the rest leaves the cores to the requests wherever the database runs; the
niceness of the worker (and of its database backend, on this machine) only orders what runs
while both want a core. Why: docs/decisions/0010-tenant-limits.md ("The flood, measured").

Liveness: a job counts as alive while some process holds its advisory lock. The admin process
that accepted it holds that lock, queued and running, on one connection of its own
(``LockHolder``, outside the request pool), and lets go when its worker is done; a process
that dies takes its locks with it, and its jobs are marked failed when next read.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from admin.extensions import db
from core import cpus

log = logging.getLogger(__name__)

NICENESS = 10  # a worker's CPU comes after the request threads'
# What a worker needs of the accepting app to make its own (the rest comes from settings).
APP_KEYS = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "REDIS_URL")

Work = Callable[..., None]
Done = Callable[["Future[None]"], None]


# Where create_app leaves itself and its settings: (factory, settings).
FACTORY_EXTENSION = "smartlinks.factory"


@dataclass(frozen=True)
class AppRecipe:
    """How a worker process makes an app like the one that accepted the job."""

    factory: Callable[..., Flask]  # admin.create_app (pickled by name)
    overrides: dict[str, Any]
    settings: Any  # core.config.Settings

    @staticmethod
    def of(app: Flask) -> AppRecipe:
        factory, settings = app.extensions[FACTORY_EXTENSION]
        return AppRecipe(factory, {key: app.config.get(key) for key in APP_KEYS}, settings)


# -- in a worker process ---------------------------------------------------------------------

_apps: dict[str, Flask] = {}  # one app per database this worker served


_cpus: frozenset[int] = frozenset()  # in a worker: the CPUs it and its backends run on


def _start_worker(cores: frozenset[int] = frozenset()) -> None:
    global _cpus
    os.nice(NICENESS)
    _idle_class()
    _cpus = cores
    _pin(0)


def _pin(pid: int) -> None:
    """``pid`` (0: this worker) on the jobs' CPUs (core.cpus.job_cpus): with every core open to
    them, a job's worker or backend was on the core that another organisation's request woke
    on often enough to show in that organisation's p99; kept to half the cores, it is not.
    Measured: docs/decisions/0010-tenant-limits.md, "Jobs on their own cores"."""
    if _cpus:
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or not ours to move
            os.sched_setaffinity(pid, _cpus)


def _idle_class() -> None:
    """This worker in Linux's idle scheduling class (SCHED_IDLE): a request thread that wakes
    on a core the worker holds takes it at once (a niced task of the normal class may keep it
    for the rest of its slice, and another organisation's read is woken a dozen times by its
    queries). Measured: docs/decisions/0010-tenant-limits.md, "The job worker in the idle
    class". Its database backend stays niced only: a backend holds locks that every other
    backend may need (WAL insertion, buffers), and one starved in the idle class while it
    holds one would stall them all."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: niced is what it gets
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _renice_backend(dbapi_connection: Any, _record: Any) -> None:
    """The Postgres backend that serves this worker runs niced and on the jobs' CPUs too, where
    it can: on this machine and as our user (the embedded Postgres of `smartlinks up`, the
    tests). A job's queries are most of its CPU, and they must not be what another
    organisation waits for. A database elsewhere is left as it is."""
    try:
        pid = dbapi_connection.info.backend_pid
        os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), NICENESS))
    except (OSError, AttributeError):
        return
    _pin(pid)


def _call(recipe: AppRecipe, work: Work, args: tuple[Any, ...]) -> None:
    key = str(recipe.overrides["SQLALCHEMY_DATABASE_URI"])
    app = _apps.get(key)
    if app is None:
        app = _apps[key] = recipe.factory(recipe.overrides, recipe.settings)
        with app.app_context():
            event.listen(db.engine, "connect", _renice_backend)
    with app.app_context():
        try:
            work(*args)
        finally:
            db.session.remove()


class Pace:
    """A background job's duty cycle: ``rest()`` between two chunks of work sleeps so that
    working takes ``share`` of the job's time: as long as the chunk took at a share of a half.
    The share is the accepting app's ``JOB_SHARE`` (ADMIN_JOB_SHARE), passed with the job."""

    def __init__(self, share: float) -> None:
        self.share = min(1.0, share)
        self._since = time.monotonic()

    def rest(self) -> None:
        worked = time.monotonic() - self._since
        if self.share > 0:
            time.sleep(worked * (1 - self.share) / self.share)
        self._since = time.monotonic()


# -- in the admin process --------------------------------------------------------------------


@dataclass
class _Pending:
    recipe: AppRecipe
    work: Work
    args: tuple[Any, ...]
    done: Done


class Runner:
    """At most ``workers`` jobs at once, in worker processes. A free worker goes to the
    organisation with the fewest jobs running (the longest waiting among equals), and one
    organisation runs ``workers - 1`` jobs at most, so another's starts at once."""

    def __init__(self, workers: int, cores: frozenset[int] = frozenset()) -> None:
        self.workers = workers
        self.cores = cores  # the CPUs its workers run on (none given: any)
        self.per_org = max(1, workers - 1)
        self._queues: OrderedDict[int, deque[_Pending]] = OrderedDict()
        self._running: Counter[int] = Counter()
        self._lock = threading.RLock()  # a done callback may run in the submitting thread
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, org_id: int, recipe: AppRecipe, work: Work, args: tuple[Any, ...], done: Done) -> None:
        """Queue ``work(*args)`` for a worker (in an app made from ``recipe``); ``done`` is
        called with its future when it ends, in this process."""
        with self._lock:
            self._queues.setdefault(org_id, deque()).append(_Pending(recipe, work, args, done))
            self._start_what_fits()

    def queued(self, org_id: int) -> int:
        with self._lock:
            return len(self._queues.get(org_id, ()))

    def running(self, org_id: int) -> int:
        with self._lock:
            return self._running[org_id]

    def _start_what_fits(self) -> None:
        while self._running.total() < self.workers:
            # The organisation with the fewest jobs running, the longest waiting first.
            waiting = [o for o, q in self._queues.items() if q and self._running[o] < self.per_org]
            if not waiting:
                return
            org_id = min(waiting, key=lambda o: self._running[o])
            pending = self._queues[org_id].popleft()
            self._queues.move_to_end(org_id)  # its turn is taken: the others' come first
            if not self._queues[org_id]:
                del self._queues[org_id]
            self._running[org_id] += 1
            try:
                future = self._submit(pending)
            except RuntimeError:  # the interpreter is exiting: nothing more starts
                log.warning("a background job was not started: the process is exiting")
                return
            future.add_done_callback(functools.partial(self._finished, org_id, pending))

    def close(self) -> None:
        """Stop the workers once their jobs are done (tests; a process's runner lives on)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _submit(self, pending: _Pending) -> Future[None]:
        try:
            return self._executor().submit(_call, pending.recipe, pending.work, pending.args)
        except BrokenProcessPool:  # a worker died: the next pool is a new one
            self._pool = None
            return self._executor().submit(_call, pending.recipe, pending.work, pending.args)

    def _finished(self, org_id: int, pending: _Pending, future: Future[None]) -> None:
        try:
            pending.done(future)
        except Exception:
            log.exception("a background job's ending failed")
        with self._lock:
            self._running[org_id] -= 1
            if isinstance(future.exception(), BrokenProcessPool):
                self._pool = None
            self._start_what_fits()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fork of a process with threads (granian's, the request threads) may
            # copy a lock that some other thread held.
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.cores,),
            )
        return self._pool


_runner: Runner | None = None
_runner_lock = threading.Lock()


def runner(app: Flask) -> Runner:
    """This process's runner, of ``JOB_WORKERS`` workers (the first app's setting)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            cores = cpus.job_cpus(str(app.config["JOB_CPUS"]))
            _runner = Runner(int(app.config["JOB_WORKERS"]), cores)
        return _runner


class LockHolder:
    """One connection of this process, outside the request pool, that holds the advisory
    locks of the jobs it accepted until they end."""

    def __init__(self, url: URL) -> None:
        self._engine = create_engine(url, poolclass=NullPool)
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def hold(self, space: int, key: int) -> None:
        with self._lock:
            for attempt in (1, 2):
                try:
                    taken = self._run("SELECT pg_try_advisory_lock(:a, :b)", space, key)
                except DBAPIError:
                    self._drop()  # broken (a restarted database): once more on a new one
                    if attempt == 2:
                        raise
                    continue
                if not taken:  # a new job's id: nobody else can hold it
                    raise RuntimeError(f"the lock ({space}, {key}) is held already")
                return

    def let_go(self, space: int, key: int) -> None:
        with self._lock:
            try:
                self._run("SELECT pg_advisory_unlock(:a, :b)", space, key)
            except Exception:
                self._drop()  # its session and all its locks are gone with it

    def _run(self, sql: str, space: int, key: int) -> object:
        if self._conn is None:
            self._conn = self._engine.connect()
        result = self._conn.scalar(text(sql), {"a": space, "b": key})
        self._conn.commit()
        return result

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None


_holders: dict[str, LockHolder] = {}


def holder(url: URL) -> LockHolder:
    """This process's lock holder for the database at ``url``."""
    key = url.render_as_string(hide_password=False)
    with _runner_lock:
        found = _holders.get(key)
        if found is None:
            found = _holders[key] = LockHolder(url)
        return found
