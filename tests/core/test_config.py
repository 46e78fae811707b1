"""core.config.load(): complete, typed, checked settings from one declaration list; the URL
helpers and their fallback to the runtime file of a running `smartlinks up`."""

from __future__ import annotations

import dataclasses
import re
import stat
from pathlib import Path

import pytest

from core import config, cpus, runtime
from core.config import SETTINGS, Settings, SettingsError, load


def test_defaults_are_typed() -> None:
    s = load({})
    assert s.database_url == "" and s.redis_url == ""
    assert s.data_dir == Path("./.smartlinks").resolve() and s.data_dir.is_absolute()
    assert s.short_url_scheme == "https" and s.log_level == "INFO" and s.demo_seed is True
    assert s.trusted_proxies == "127.0.0.1,::1"
    assert (s.edge.host, s.edge.port, s.edge.cname_target) == ("127.0.0.1", 8080, "")
    assert s.edge.workers == cpus.available()  # EDGE_WORKERS=0: one per CPU it may use
    assert (s.admin.host, s.admin.port, s.admin.workers) == ("127.0.0.1", 8000, 1)
    assert s.admin.public_url == "http://127.0.0.1:8000" and s.admin.secret_key == ""
    assert s.drain == config.DrainSection(batch=500, lanes=2, claim_idle_ms=30000, max_deliveries=5)
    assert s.sync == config.SyncSection(
        batch=500, reconcile_seconds=300.0, domain_recheck_seconds=3600.0
    )
    assert s.webhooks == config.WebhooksSection(
        timeout_seconds=5.0, max_attempts=8, retry_base_seconds=10.0, concurrency=8,
        allow_http_loopback=False,
    )  # fmt: skip
    assert s.sender == config.SenderSection(
        batch=500, max_attempts=6, retry_base_seconds=2.0, retry_cap_seconds=600.0,
        stale_seconds=300.0,
    )  # fmt: skip
    assert isinstance(s.webhooks.timeout_seconds, float) and isinstance(s.edge.port, int)


def test_values_from_the_environment(tmp_path: Path) -> None:
    s = load(
        {
            "DATABASE_URL": "postgresql://u:p@db:5432/links",
            "REDIS_URL": "redis://cache:6379/1",
            "SMARTLINKS_DATA_DIR": str(tmp_path / "data"),
            "EDGE_PORT": " 9090 ",
            "EDGE_WORKERS": "3",
            "EDGE_CNAME_TARGET": " edge.example.net. ",
            "ADMIN_HOST": "0.0.0.0",
            "ADMIN_PORT": "9000",
            "PUBLIC_ADMIN_URL": "https://admin.example.org/",
            "SHORT_URL_SCHEME": "HTTP",
            "SECRET_KEY": "s3cret",
            "TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32",
            "DRAIN_LANES": "8",
            "WEBHOOK_TIMEOUT_SECONDS": "2.5",
            "WEBHOOK_ALLOW_HTTP_LOOPBACK": "1",
            "SYNC_RECONCILE_SECONDS": "1",
            "LOG_LEVEL": "debug",
            "DEMO_SEED": "no",
        }
    )
    assert s.database_url == "postgresql://u:p@db:5432/links"
    assert s.redis_url == "redis://cache:6379/1"
    assert s.data_dir == tmp_path / "data"
    assert (s.edge.port, s.edge.workers, s.edge.cname_target) == (9090, 3, "edge.example.net")
    assert (s.admin.host, s.admin.port) == ("0.0.0.0", 9000)  # noqa: S104
    assert s.admin.public_url == "https://admin.example.org"  # no trailing slash
    assert s.admin.secret_key == "s3cret" and "s3cret" not in repr(s)
    assert s.short_url_scheme == "http" and s.log_level == "DEBUG" and s.demo_seed is False
    assert s.trusted_proxies == "10.0.0.0/8, 2001:db8::/32"
    assert s.drain.lanes == 8 and s.webhooks.timeout_seconds == 2.5
    assert s.webhooks.allow_http_loopback is True and s.sync.reconcile_seconds == 1.0


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("EDGE_PORT", "abc", "EDGE_PORT must be an integer, not 'abc'"),
        ("ADMIN_PORT", "8000.5", "ADMIN_PORT must be an integer, not '8000.5'"),
        ("EDGE_PORT", "70000", "EDGE_PORT must be between 1 and 65535, not '70000'"),
        ("EDGE_WORKERS", "-1", "EDGE_WORKERS must be at least 0, not '-1'"),
        ("ADMIN_WORKERS", "0", "ADMIN_WORKERS must be at least 1, not '0'"),
        ("DRAIN_LANES", "9", "DRAIN_LANES must be between 1 and 8, not '9'"),
        ("DRAIN_BATCH", "", "DRAIN_BATCH must be an integer, not ''"),
        ("WEBHOOK_TIMEOUT_SECONDS", "soon", "WEBHOOK_TIMEOUT_SECONDS must be a number, not 'soon'"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "nan", "WEBHOOK_RETRY_BASE_SECONDS must be a number, not 'nan'"),
        ("WEBHOOK_TIMEOUT_SECONDS", "0", "WEBHOOK_TIMEOUT_SECONDS must be at least 0.1, not '0'"),
        ("SENDER_BATCH", "0", "SENDER_BATCH must be at least 1, not '0'"),
        ("WEBHOOK_ALLOW_HTTP_LOOPBACK", "maybe", "WEBHOOK_ALLOW_HTTP_LOOPBACK must be 1 or 0"),
        ("DEMO_SEED", "2", "DEMO_SEED must be 1 or 0"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("SHORT_URL_SCHEME", "ftp", "SHORT_URL_SCHEME must be one of https, http, not 'ftp'"),
        ("TRUSTED_PROXIES", "10.0.0.1, proxy", "TRUSTED_PROXIES must list IP addresses or networks (CIDR), not 'proxy'"),
        ("PUBLIC_ADMIN_URL", "admin.example.org", "PUBLIC_ADMIN_URL must be a http:// or https:// URL, not 'admin.example.org'"),
        ("PUBLIC_ADMIN_URL", "https:///path", "PUBLIC_ADMIN_URL must name a host, not 'https:///path'"),
        ("DATABASE_URL", "mysql://db/links", "DATABASE_URL must be a postgresql:// URL, not 'mysql://db/links'"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a redis://, rediss:// or unix:// URL, not 'localhost:6379'"),
        ("SMARTLINKS_DATA_DIR", " ", "SMARTLINKS_DATA_DIR must name a folder, not ' '"),
        ("ADMIN_JOB_CPUS", "half", "ADMIN_JOB_CPUS must be auto, all or a CPU list such as 1 or 2-3, not 'half'"),
        ("ADMIN_JOB_CPUS", "3-1", "ADMIN_JOB_CPUS must list CPU ranges low to high, not '3-1'"),
    ],
)  # fmt: skip
def test_a_bad_value_names_its_variable(env: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({env: value})
    assert str(caught.value).startswith(message)


def test_socket_urls_are_urls() -> None:
    s = load({"DATABASE_URL": "postgresql:///links?host=/run/postgresql",
              "REDIS_URL": "unix:///run/valkey.sock"})  # fmt: skip
    assert config.libpq_url(s) == "postgresql:///links?host=/run/postgresql"
    assert config.redis_url(s) == "unix:///run/valkey.sock"


def test_settings_are_frozen() -> None:
    s = load({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.edge.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.redis_url = "redis://elsewhere"  # type: ignore[misc]


def test_load_reads_the_mapping_it_is_given_else_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGE_PORT", "9123")
    assert load().edge.port == 9123
    assert load({}).edge.port == 8080


def test_every_setting_fills_one_field_and_every_field_has_one_setting() -> None:
    filled = [s.field for s in SETTINGS]
    assert len(filled) == len(set(filled)), "two settings fill the same field"
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    wanted = {
        f"{section}.{f.name}" for section, cls in config.SECTIONS.items()
        for f in dataclasses.fields(cls)
    } | {f.name for f in dataclasses.fields(Settings) if f.name not in config.SECTIONS}  # fmt: skip
    assert set(filled) == wanted
    assert set(config.SECTIONS) == {"edge", "admin", "redis", "drain", "sync", "webhooks", "sender"}


ROOT = Path(__file__).resolve().parents[2]
READ_THROUGH_LOAD = ("core", "edge", "admin", "sync", "smartlinks", "loadtest")


def test_no_module_reads_a_setting_around_load() -> None:
    """A setting read from os.environ at call time is a second settings path:
    it escapes load()'s checks and can change under a running process."""
    names = "|".join(re.escape(s.env) for s in SETTINGS)
    around = re.compile(
        rf"""(environ\.get\(|environ\[|getenv\()\s*["']({names})["']|config\.env(_int)?\("""
    )
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in READ_THROUGH_LOAD
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "core" / "config.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if around.search(line)
    ]
    assert not found, "read these through core.config.load():\n" + "\n".join(found)


# -- where the servers are ---------------------------------------------------------------


def test_urls_come_from_the_environment_first(tmp_path: Path) -> None:
    runtime.write(tmp_path, database_url="postgresql://up@127.0.0.1:1/up", redis_url="redis://up")
    s = load(
        {
            "SMARTLINKS_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://me@db/links",
            "REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert config.sqlalchemy_url(s) == "postgresql+psycopg://me@db/links"
    assert config.libpq_url(s) == "postgresql://me@db/links"
    assert config.redis_url(s) == "redis://cache:6379/0"


def test_unset_urls_fall_back_to_the_running_up(tmp_path: Path) -> None:
    s = load({"SMARTLINKS_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="DATABASE_URL is not set and no `smartlinks up`"):
        config.libpq_url(s)
    with pytest.raises(SettingsError, match=str(tmp_path)):
        config.sqlalchemy_url(s)
    assert config.redis_url(s) == ""  # the admin runs without its limiter then

    from smartlinks.embedded import write_runtime  # the launcher writes, core reads

    write_runtime(tmp_path, database_url="postgresql://up@127.0.0.1:5999/smartlinks",
                  redis_url="redis://127.0.0.1:6999/0")  # fmt: skip
    assert stat.S_IMODE((tmp_path / "runtime.json").stat().st_mode) == 0o600
    assert config.libpq_url(s) == "postgresql://up@127.0.0.1:5999/smartlinks"
    assert config.sqlalchemy_url(s) == "postgresql+psycopg://up@127.0.0.1:5999/smartlinks"
    assert config.redis_url(s) == "redis://127.0.0.1:6999/0"
    runtime.remove(tmp_path)
    assert config.redis_url(s) == "" and runtime.read(tmp_path) == {}
    runtime.remove(tmp_path)  # already gone: no error


@pytest.mark.parametrize("text", ["{not json", '["a list"]', '{"redis_url": 5}'])
def test_a_damaged_runtime_file_counts_as_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "runtime.json").write_text(text)
    assert runtime.read(tmp_path) == {}


@pytest.mark.parametrize(
    ("url", "libpq", "sqlalchemy"),
    [
        ("postgresql://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("host=h dbname=db", "host=h dbname=db", "host=h dbname=db"),  # not a URL: untouched
    ],
)
def test_url_dialects(url: str, libpq: str, sqlalchemy: str) -> None:
    assert config.to_libpq(url) == libpq
    assert config.to_sqlalchemy(url) == sqlalchemy
