"""Fixtures: real PostgreSQL and Valkey servers on free ports for the whole session, the Flask
app and its client (flaskr style), and a clean database and Redis for every test."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from admin import MIGRATIONS_DIR, create_app
from admin.extensions import db
from admin.services.orgs import NewOrg, create_org
from core import config
from smartlinks.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

# The Valkey Cluster fixtures (valkey_cluster, valkey_cluster_replicas), for every test folder.
pytest_plugins = ["tests.helpers.cluster"]

# One key for stored secrets (sync.crypto) in the test process and the processes it starts,
# so that what one encrypts the other reads (rather than a key made in ./.smartlinks).
TEST_SECRETS_KEY = "VrnyzXzAdMJlNikUcWwdqx6tc_1u155QZwrlx7NSMxA="
os.environ.setdefault("SECRETS_KEY", TEST_SECRETS_KEY)
# Passwords hashed with 1 MiB of memory, not 64, in the tests and the processes they start: a
# hash took 0.3 s of the two cores, and each new organisation and each sign-in makes one.
# tests/admin/web/test_auth.py shows the default (RFC 9106's low-memory profile) and the rehash.
TEST_PASSWORD_HASH_MEMORY_MIB = "1"
os.environ.setdefault("PASSWORD_HASH_MEMORY_MIB", TEST_PASSWORD_HASH_MEMORY_MIB)


@dataclass(frozen=True)
class Servers:
    database_url: str
    redis_url: str
    data_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a `smartlinks` child process pointed at these servers."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "REDIS_", "EDGE_", "ADMIN_"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            SMARTLINKS_DATA_DIR=str(self.data_dir),
            SECRET_KEY="test-secret-key",
            EDGE_WORKERS="1",
            LOG_LEVEL="INFO",
        )
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    base = tmp_path_factory.mktemp("servers")
    pg = EmbeddedPostgres(base / "postgres", free_port(), durable=False)
    pg.prepare()
    pg_proc = pg.start()
    rd = EmbeddedRedis(base / "redis", free_port(), durable=False)
    rd_proc = rd.start()
    found = Servers(database_url=pg.url, redis_url=rd.url, data_dir=base / "data")
    found.data_dir.mkdir()
    app = create_app(_app_config(found))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=MIGRATIONS_DIR)
    try:
        yield found
    finally:
        pg_proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        rd_proc.terminate()
        for proc in (pg_proc, rd_proc):
            proc.wait(15)


def _app_config(found: Servers) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": found.database_url,
        "REDIS_URL": found.redis_url,
        "WTF_CSRF_ENABLED": True,
    }


# Emptying the tables one DELETE at a time took 0.03-0.08 s where one TRUNCATE of them all
# took 0.11-0.20 s (a TRUNCATE makes new files for every table and index), before every test.
# After a test that filled a table with more than BLOATED rows, all are truncated as before:
# deleting many rows checks each against the tables that refer to it, and leaves dead rows
# for the next tests to scan. DELETE fires the parents' cascade triggers (0011_broadcast_bulk),
# which only delete.
BLOATED = 10_000
_RESET = """
DO $$
DECLARE t text; n bigint; big boolean := false; s regclass; tables text[] := %(tables)s;
BEGIN
  FOREACH t IN ARRAY tables LOOP
    EXECUTE format('SELECT count(*) FROM (SELECT FROM %%I LIMIT %(bloated)s + 1) r', t) INTO n;
    big := big OR n > %(bloated)s;
  END LOOP;
  IF big THEN
    EXECUTE 'TRUNCATE ' || array_to_string(tables, ', ') || ' RESTART IDENTITY CASCADE';
    RETURN;
  END IF;
  FOREACH t IN ARRAY tables LOOP
    EXECUTE format('DELETE FROM %%I', t);
  END LOOP;
  -- the tables' own sequences (serial and identity columns), as RESTART IDENTITY does
  FOR s IN SELECT d.objid FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'S'
           WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.deptype IN ('a', 'i')
             AND d.refobjid IN (SELECT x::regclass FROM unnest(tables) x) LOOP
    PERFORM setval(s, 1, false);
  END LOOP;
END $$
"""
_connections: dict[str, psycopg.Connection[Any]] = {}


def _reset(found: Servers) -> None:
    """Empty every table (children first) and Redis, identities from 1: each test starts
    from nothing."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    array = "ARRAY[" + ", ".join(f"'{name}'" for name in tables) + "]::text[]"
    statement = _RESET % {"tables": array, "bloated": BLOATED}
    conn = _connections.get(found.database_url)
    try:
        if conn is None or conn.closed:
            raise psycopg.OperationalError("not connected")
        conn.execute(statement)  # type: ignore[call-overload]
    except psycopg.OperationalError:  # first use, or a test restarted the server
        conn = _connections[found.database_url] = psycopg.connect(
            config.to_libpq(found.database_url), autocommit=True
        )
        conn.execute(statement)  # type: ignore[call-overload]
    redis.Redis.from_url(found.redis_url).flushall()


@pytest.fixture
def clean(servers: Servers) -> Iterator[Servers]:
    _reset(servers)
    yield servers


@pytest.fixture
def app(clean: Servers) -> Iterator[Flask]:
    app = create_app(_app_config(clean))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def rdb(clean: Servers) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(clean.redis_url)
    yield client
    client.close()


@pytest.fixture
def org(app: Flask) -> NewOrg:
    return create_org("Acme Campaign", "owner@acme.test", "correct horse battery")


@pytest.fixture
def other_org(app: Flask) -> NewOrg:
    return create_org("Rival Org", "owner@rival.test", "another long password")


class Api:
    """The JSON API through the Flask test client, as one organisation's token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(path, json=json, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self.headers, **kw)


@pytest.fixture
def api(client: FlaskClient, org: NewOrg) -> Api:
    return Api(client, org.api_token)


@pytest.fixture
def other_api(client: FlaskClient, other_org: NewOrg) -> Api:
    return Api(client, other_org.api_token)


# One browser for the whole session, shared by every browser test (two Playwright instances
# at once clash over the event loop).
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from tests.helpers.browser import CHROMIUM_ARGS, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found at /usr/bin/chromium (python3 dev.py test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last in a plain run. The session's browser (above) keeps Playwright's
    event loop running in the main thread from the first browser test on, and asyncio.run() in
    any test after it fails ("cannot be called from a running event loop"), so tests run their
    coroutines with tests.helpers.threads.run_coroutine; `dev.py test`'s two processes take
    whole files largest first, where this order does not hold."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
