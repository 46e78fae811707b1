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
    redis_socket_url: str = ""  # the same Valkey through its Unix socket

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
    rd = EmbeddedRedis(base / "redis", free_port(), durable=False, unix_socket=True)
    rd_proc = rd.start()
    found = Servers(
        database_url=pg.url, redis_url=rd.url, data_dir=base / "data", redis_socket_url=rd.unix_url
    )
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


# One TRUNCATE of every table, on a connection kept for the session (a Flask app made for each
# reset cost 0.08-0.15 s). DELETE was quicker (0.03-0.08 s against 0.11-0.20 s) but leaves the
# planner's statistics of the emptied tables behind, and in the full suite the 60,000-row
# export (whose test guards its plan against stale statistics) then took 130 s, 15 s alone.
_RESET = "TRUNCATE %(tables)s RESTART IDENTITY CASCADE"
_connections: dict[str, psycopg.Connection[Any]] = {}


def _reset(found: Servers) -> None:
    """Empty every table and Redis, identities from 1: each test starts from nothing."""
    statement = _RESET % {"tables": ", ".join(t.name for t in db.metadata.sorted_tables)}
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
