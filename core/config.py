"""The one list of environment settings, and the one place that reads them.

Each ``Setting`` names its variable, its default, what it is for and the field of ``Settings``
it fills. The README's table is generated from ``SETTINGS`` and ``load()`` builds the typed
``Settings`` from the same list (the field's annotation says how the text is parsed), so the
three cannot drift apart. Adding a setting is one ``Setting`` line plus its field.

A process calls ``load()`` once at start and passes the values (or the sections) down; a bad
value stops it there with a ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

from core import cpus, runtime


class SettingsError(ValueError):
    """A setting that cannot be used as given; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str
    # Where load() puts the value: "edge.port" (section.attribute) or "log_level" (top level).
    field: str = ""
    least: float | None = None
    most: float | None = None
    choices: tuple[str, ...] = ()
    # Checks (and may normalise) a text value; raises ValueError("must ..., not '...'").
    check: Callable[[str], str] | None = None

    def read(self, environ: Mapping[str, str]) -> str:
        """The raw text in effect: the environment's value, else the default."""
        return environ.get(self.env, self.default)


# -- checks of text values -------------------------------------------------------------------


def _networks(value: str) -> str:
    for item in value.split(","):
        if item.strip():
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"must list IP addresses or networks (CIDR), not {item.strip()!r}"
                ) from None
    return value


def parse_dns_servers(text: str) -> tuple[tuple[str, int], ...]:
    """The DNS_SERVERS setting (``"127.0.0.1:5353, [::1]:53, 10.0.0.2"``) as (address, port)
    pairs; () for the system's resolver. ValueError for an item that is not ip[:port]."""
    out: list[tuple[str, int]] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        host, port = item, "53"
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else "53"
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        out.append((str(ipaddress.ip_address(host)), int(port)))
    return tuple(out)


def _dns_servers(value: str) -> str:
    parse_dns_servers(value)
    return value


def _url(schemes: tuple[str, ...], label: str) -> Callable[[str], str]:
    """A URL of one of ``schemes``, or "" (unset). No host is required: a Unix socket's URL
    (``postgresql:///db?host=/run/postgresql``, ``unix:///run/redis.sock``) has none."""

    def check(value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if value and (not sep or scheme.lower() not in schemes):
            raise ValueError(f"must be a {label} URL, not {value!r}")
        return value

    return check


def _job_cpus(value: str) -> str:
    value = value.strip().lower()
    if value not in ("auto", "all"):
        cpus.parse_cpu_list(value)
    return value


def _public_url(value: str) -> str:
    value = _url(("http", "https"), "http:// or https://")(value.strip())
    if value and not urlsplit(value).netloc:
        raise ValueError(f"must name a host, not {value!r}")
    return value.rstrip("/")


def _hostname(value: str) -> str:
    return value.strip().rstrip(".")


_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
MAX_PARTITIONS = 1024
# Request threads of each admin worker process (smartlinks/serve.py). Its database pool holds
# twice as many connections, and one organisation is served fewer requests at once
# (API_CONCURRENT_PER_ORG), so that one tenant can take neither every thread nor the pool.
ADMIN_THREADS = 16
CLUSTER_PARTITIONS = 64  # REDIS_PARTITIONS=0 on a cluster: 21-22 per master of 3

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL", "", "PostgreSQL URL. Unset: `smartlinks up` starts an embedded server.",
        "database_url", check=_url(_POSTGRES_SCHEMES, "postgresql://"),
    ),
    Setting(
        "REDIS_URL", "", "Redis/Valkey URL. Unset: `smartlinks up` starts an embedded server.",
        "redis_url", check=_url(_REDIS_SCHEMES, "redis://, rediss:// or unix://"),
    ),
    Setting(
        "REDIS_CLUSTER", "0",
        "1: REDIS_URL names any node of a Redis/Valkey Cluster (every role uses a cluster client).",
        "redis.cluster",
    ),
    Setting(
        "REDIS_PARTITIONS", "0",
        "Key partitions (one hash tag, one click stream each; 1-1024). 0: 1 on a single Redis, 64 on a cluster (REDIS_CLUSTER=1, or `up`'s local one).",
        "redis.partitions", least=0, most=MAX_PARTITIONS,
    ),
    Setting(
        "EMBEDDED_REDIS_SHARDS", "1",
        "Masters of the Valkey `smartlinks up` starts when REDIS_URL is unset: 1, or 3-16 for a local cluster.",
        "redis.embedded_shards", least=1, most=16,
    ),
    Setting(
        "EMBEDDED_REDIS_REPLICAS", "0",
        "Replicas per master of that local cluster (0-2; needs EMBEDDED_REDIS_SHARDS of 3 or more).",
        "redis.embedded_replicas", least=0, most=2,
    ),
    Setting(
        "SMARTLINKS_DATA_DIR", "./.smartlinks", "Data folder of the embedded servers and uploads.",
        "data_dir",
    ),
    Setting("EDGE_HOST", "127.0.0.1", "Address the edge binds to.", "edge.host"),
    Setting(
        "EDGE_PORT", "8080", "Port of the edge (redirects, previews).", "edge.port",
        least=1, most=65535,
    ),
    Setting(
        "EDGE_WORKERS", "0",
        "Edge worker processes; 0 means one per CPU this process may use (affinity and the cgroup's cpu.max quota, e.g. a container's limit).",
        "edge.workers", least=0,
    ),
    Setting(
        "TLS_ASK_PER_SECOND", "20",
        "Caddy's certificate asks (GET /tls/ask) each edge worker answers a second.",
        "edge.tls_ask_per_second", least=1,
    ),
    Setting(
        "EDGE_MEMORY_ENTRIES", "50000",
        "Answers an edge server remembers (shared by its workers) to keep redirecting while Redis is away (0: none).",
        "edge.memory_entries", least=0,
    ),
    Setting(
        "EDGE_MEMORY_MAX_AGE_SECONDS", "3600",
        "Oldest remembered answer (since Redis last gave it) the edge uses while Redis is away.",
        "edge.memory_max_age_seconds", least=0,
    ),
    Setting(
        "EDGE_SPOOL_DIR", "",
        "Where edge workers spool clicks answered while Redis is away. Default: SMARTLINKS_DATA_DIR/edge-spool.",
        "edge.spool_dir",
    ),
    Setting("ADMIN_HOST", "127.0.0.1", "Address the admin binds to.", "admin.host"),
    Setting(
        "ADMIN_PORT", "8000", "Port of the admin (web UI and JSON API).", "admin.port",
        least=1, most=65535,
    ),
    Setting("ADMIN_WORKERS", "1", "Admin worker processes.", "admin.workers", least=1),
    Setting(
        "PUBLIC_ADMIN_URL",
        "",
        "Absolute URL of the admin as people and fetchers reach it (for og:image). Default: http://ADMIN_HOST:ADMIN_PORT.",
        "admin.public_url", check=_public_url,
    ),
    Setting(
        "SHORT_URL_SCHEME", "https", "Scheme of issued short URLs (TLS ends in front of the edge).",
        "short_url_scheme", choices=("https", "http"),
    ),
    Setting(
        "EDGE_CNAME_TARGET",
        "",
        "Public hostname of the edge that organisations' domains point to (CNAME), shown in the DNS instructions.",
        "edge.cname_target", check=_hostname,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Flask session and CSRF key. Unset: generated once and kept in the data folder.",
        "admin.secret_key",
    ),
    Setting("SECRETS_KEY", "", "Fernet keys (comma-separated, newest first) encrypting stored provider tokens and webhook secrets. Unset: generated once in the data folder.", "secrets_key"),
    Setting(
        "TRUSTED_PROXIES",
        "127.0.0.1,::1",
        "Peers whose X-Forwarded-For the edge believes (comma-separated IPs or CIDRs).",
        "trusted_proxies", check=_networks,
    ),
    Setting("PASSWORD_HASH_MEMORY_MIB", "64", "Memory of one password hash (argon2id, 3 passes, 4 lanes: RFC 9106's low-memory profile at 64). Lower it only where a sign-in cannot have 64 MiB; a password hashed otherwise is hashed again at its next sign-in. The test suite uses 1.", "admin.password_hash_memory_mib", least=1, most=4096),
    Setting("ADMIN_TRUSTED_PROXIES", "", "Peers whose X-Forwarded-For the admin believes (login rate limit), e.g. 127.0.0.1 behind a local proxy; unset: none.", "admin.trusted_proxies", check=_networks),
    Setting("METRICS_ALLOW", "127.0.0.1,::1", "Peers (IPs or CIDRs) that may read the edge's /metrics, directly (a request through a proxy is refused); 403 otherwise.", "edge.metrics_allow", check=_networks),
    # CLICK_STREAM_MAXLEN was listed here but read nowhere: the stream is trimmed only below
    # acknowledged entries, which is not a length. It comes back with the trimming that uses it.
    Setting("DRAIN_BATCH", "500", "Click events the drain reads per batch.", "drain.batch", least=1),
    Setting(
        "DRAIN_LANES", "2", "Batches one drain process records at once (threads, 1-8).",
        "drain.lanes", least=1, most=8,
    ),
    Setting(
        "DRAIN_CLAIM_IDLE_MS",
        "30000",
        "Idle time after which another consumer reclaims a pending click.",
        "drain.claim_idle_ms", least=1,
    ),
    Setting(
        "DRAIN_MAX_DELIVERIES",
        "5",
        "Deliveries after which a click event goes to the dead-letter stream.",
        "drain.max_deliveries", least=1,
    ),
    Setting(
        "WEBHOOK_TIMEOUT_SECONDS", "5", "Timeout of one click webhook POST.",
        "webhooks.timeout_seconds", least=0.1,
    ),
    Setting(
        "WEBHOOK_MAX_ATTEMPTS", "8", "Attempts before a click webhook delivery fails.",
        "webhooks.max_attempts", least=1,
    ),
    Setting(
        "WEBHOOK_RETRY_BASE_SECONDS",
        "10",
        "First retry delay of a failed webhook delivery; doubles with each attempt.",
        "webhooks.retry_base_seconds", least=0,
    ),
    Setting(
        "WEBHOOK_CONCURRENCY", "8", "Parallel webhook deliveries per `smartlinks webhooks`.",
        "webhooks.concurrency", least=1,
    ),
    Setting(
        "WEBHOOK_ALLOW_HTTP_LOOPBACK",
        "0",
        "1 accepts http://127.0.0.1 / localhost webhook URLs (tests, local receivers); else https only.",
        "webhooks.allow_http_loopback",
    ),
    Setting(
        "SENDER_BATCH", "500", "Messages `smartlinks sender` claims at once for an unpaced provider.",
        "sender.batch", least=1,
    ),
    Setting(
        "SENDER_MAX_ATTEMPTS", "6", "Attempts before a message a provider refuses for now fails.",
        "sender.max_attempts", least=1,
    ),
    Setting(
        "SENDER_RETRY_BASE_SECONDS", "2", "First retry delay of a deferred message; doubles with each attempt.",
        "sender.retry_base_seconds", least=0,
    ),
    Setting(
        "SENDER_RETRY_CAP_SECONDS", "600", "Longest retry delay of a deferred message.",
        "sender.retry_cap_seconds", least=0,
    ),
    Setting(
        "SENDER_STALE_SECONDS", "300", "A message left in `sending` this long (a sender died) is reconciled with its provider: recorded if it got it, else queued again.",
        "sender.stale_seconds", least=1,
    ),
    Setting("OUTBOUND_ALLOW_NETWORKS", "", "Non-public IPs/CIDRs (comma-separated) that webhooks and SMS providers may reach anyway: local receivers, tests.", "outbound_allow_networks", check=_networks),
    Setting("SMS_PROVIDER_BASE_URLS", "", "Extra base URLs organisations may give their SMS provider (comma-separated; * any); else only the provider's own.", "sms_provider_base_urls"),
    # Limits per organisation (admin/api/limits.py, admin/services/imports.py); 0 turns one off.
    Setting("API_REQUESTS_PER_MINUTE", "1200", "API requests one token may make per minute (fixed window, counted in Redis across admin processes); more answer 429 with Retry-After. 0: no limit.", "admin.api_requests_per_minute", least=0),
    Setting("API_CONCURRENT_PER_ORG", "8", "API requests of one organisation the admin serves at once (all its processes); more answer 429 with Retry-After, so one tenant cannot take every thread and database connection (at most 15: an admin worker has 16 threads). 0: no limit.", "admin.api_concurrent_per_org", least=0, most=ADMIN_THREADS - 1),
    Setting("IMPORTS_PER_ORG", "2", "Contact imports of one organisation running at once; another answers 429 with Retry-After until one ends. 0: no limit.", "admin.imports_per_org", least=0),
    Setting("IMPORT_MAX_MB", "50", "Largest CSV file an import takes, in MiB (at most 64, the admin's upload limit).", "admin.import_max_mb", least=0.001, most=64),
    Setting("ADMIN_JOB_SHARE", "0.5", "Share of its time a background job (a contact import) works: after each chunk it rests (1 - share) / share as long as the chunk took, so that with its database work it leaves the cores to the requests. 1: no rest.", "admin.job_share", least=0.05, most=1),
    Setting("ADMIN_JOB_WORKERS", "2", "Worker processes of each admin process for background jobs (contact imports), taken in turn across organisations; one organisation runs on all but one of them at most. They run niced, outside the request threads.", "admin.job_workers", least=1, most=32),
    Setting("ADMIN_JOB_CPUS", "auto", "CPUs the background jobs (and their PostgreSQL backends, where on this machine and of our user) run on: auto (the upper half of the CPUs the admin may use: on 2 CPUs the second, so that a request always finds a core no job holds; on one CPU, that one), all, or a list such as 1 or 2-3.", "admin.job_cpus", check=_job_cpus),
    Setting(
        "SYNC_RECONCILE_SECONDS",
        "300",
        "How often sync compares Redis with Postgres and repairs drift.",
        "sync.reconcile_seconds", least=1,
    ),
    Setting(
        "SYNC_BATCH", "500", "Outbox rows the sync worker publishes per batch.", "sync.batch",
        least=1,
    ),
    Setting(
        "LOG_LEVEL", "INFO", "Log level of every process.", "log_level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    ),
    Setting(
        "DNS_SERVERS", "",
        "DNS servers (ip, ip:port or [v6]:port, comma-separated) that domain checks and outbound requests ask. Unset: the system's.",
        "dns_servers", check=_dns_servers,
    ),
    Setting(
        "DOMAIN_RECHECK_SECONDS", "3600", "How often sync re-checks each verified domain's DNS.",
        "sync.domain_recheck_seconds", least=1,
    ),
    Setting(
        "DEMO_SEED",
        "1",
        "`smartlinks up` seeds a demo organisation on its first start; 0 turns that off.",
        "demo_seed",
    ),
)  # fmt: skip


# -- the typed settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeSection:
    host: str
    port: int
    workers: int  # EDGE_WORKERS=0 is resolved here to one per core
    cname_target: str  # without a trailing dot; "" when unset
    tls_ask_per_second: int  # Caddy's on-demand TLS asks each worker answers a second
    memory_entries: int  # answers an edge server remembers for a Redis outage; 0: none
    memory_max_age_seconds: float
    spool_dir: str  # "": SMARTLINKS_DATA_DIR/edge-spool (see spool_dir())
    metrics_allow: str  # peers that may read /metrics (IPs or CIDRs)


@dataclass(frozen=True)
class AdminSection:
    host: str
    port: int
    workers: int
    public_url: str  # PUBLIC_ADMIN_URL, else http://ADMIN_HOST:ADMIN_PORT; no trailing slash
    # What one organisation (or one API token) may use of a shared admin; 0: no limit.
    api_requests_per_minute: int
    api_concurrent_per_org: int
    imports_per_org: int
    import_max_mb: float
    job_workers: int
    job_share: float  # of a background job's time spent working, not resting
    job_cpus: str  # ADMIN_JOB_CPUS: auto, all or a CPU list (core.cpus.job_cpus)
    password_hash_memory_mib: int
    # "" when unset: admin.settings.secret_key keeps one in the data folder. Not in repr(),
    # so that logging the settings does not log the key.
    secret_key: str = dataclasses.field(repr=False)
    trusted_proxies: str = ""  # whose X-Forwarded-For the login limiter believes


@dataclass(frozen=True)
class RedisSection:
    cluster: bool  # REDIS_URL names a node of a cluster
    partitions: int  # REDIS_PARTITIONS=0 is resolved by load(): 1, or CLUSTER_PARTITIONS on a cluster
    embedded_shards: int  # masters of `up`'s embedded Valkey: 1 (no cluster) or 3-16
    embedded_replicas: int


@dataclass(frozen=True)
class DrainSection:
    batch: int
    lanes: int
    claim_idle_ms: int
    max_deliveries: int


@dataclass(frozen=True)
class SyncSection:
    batch: int
    reconcile_seconds: float
    domain_recheck_seconds: float


@dataclass(frozen=True)
class WebhooksSection:
    timeout_seconds: float
    max_attempts: int
    retry_base_seconds: float
    concurrency: int
    allow_http_loopback: bool


@dataclass(frozen=True)
class SenderSection:
    batch: int
    max_attempts: int
    retry_base_seconds: float
    retry_cap_seconds: float
    stale_seconds: float


@dataclass(frozen=True)
class Settings:
    """Everything a process is configured with. ``database_url`` / ``redis_url`` are "" when
    unset (``up`` then starts embedded servers): ask ``sqlalchemy_url()``, ``libpq_url()`` and
    ``redis_url()`` below for the servers to connect to."""

    database_url: str
    redis_url: str
    data_dir: Path  # absolute
    short_url_scheme: str
    trusted_proxies: str  # comma-separated IPs or CIDRs, each checked
    log_level: str  # upper case
    demo_seed: bool
    dns_servers: str  # DNS_SERVERS (parse_dns_servers()): domain checks, outbound; "": the system's
    edge: EdgeSection
    admin: AdminSection
    redis: RedisSection
    drain: DrainSection
    sync: SyncSection
    webhooks: WebhooksSection
    sender: SenderSection
    # Requests to URLs tenants chose (sync/outbound.py, admin/providers).
    outbound_allow_networks: str  # non-public networks the operator allows anyway
    sms_provider_base_urls: str  # "*": any
    # "" when unset: sync.crypto keeps one in the data folder. Not in repr(), as secret_key.
    secrets_key: str = dataclasses.field(repr=False, default="")


# The sections of Settings by attribute name ("edge" -> EdgeSection).
SECTIONS: dict[str, type] = {
    name: kind
    for name, kind in get_type_hints(Settings).items()
    if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__")
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@cache
def _kinds(cls: type) -> dict[str, type]:
    return get_type_hints(cls)


def _parse(setting: Setting, raw: str, kind: type) -> Any:
    name, text = setting.env, raw.strip()
    value: Any
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be 1 or 0 (or true/false), not {raw!r}")
    if kind is int:
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    elif kind is float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SettingsError(f"{name} must be a number, not {raw!r}")
    elif kind is Path:
        if not text:
            raise SettingsError(f"{name} must name a folder, not {raw!r}")
        return Path(text).expanduser().resolve()
    elif setting.choices:
        for choice in setting.choices:
            if text.lower() == choice.lower():
                return choice
        raise SettingsError(f"{name} must be one of {', '.join(setting.choices)}, not {raw!r}")
    else:
        value = raw
    if setting.check is not None:
        try:
            value = setting.check(value)
        except ValueError as exc:
            raise SettingsError(f"{name} {exc}") from None
    low, high = setting.least, setting.most
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise SettingsError(f"{name} must be {span}, not {raw!r}")
    return value


def load(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings in ``environ`` (the process's environment): complete, typed, checked."""
    values: dict[str, dict[str, Any]] = {"": {}, **{name: {} for name in SECTIONS}}
    for s in SETTINGS:
        section, _, attr = s.field.rpartition(".")
        kind = _kinds(SECTIONS[section] if section else Settings)[attr]
        values[section][attr] = _parse(s, s.read(environ), kind)
    # The defaults that depend on other settings or on the machine.
    edge, admin = values["edge"], values["admin"]
    edge["workers"] = edge["workers"] or cpus.available()
    admin["public_url"] = admin["public_url"] or f"http://{admin['host']}:{admin['port']}"
    rd = values["redis"]
    # A cluster: REDIS_URL names one, or `up` starts one (no REDIS_URL, several shards).
    clustered = rd["cluster"] or (rd["embedded_shards"] > 1 and not values[""]["redis_url"])
    rd["partitions"] = rd["partitions"] or (CLUSTER_PARTITIONS if clustered else 1)
    if rd["embedded_shards"] == 2:
        # valkey-cli --cluster create wants 3 masters at least.
        raise SettingsError("EMBEDDED_REDIS_SHARDS must be 1, or between 3 and 16, not '2'")
    if rd["cluster"] and values[""]["redis_url"].startswith("unix:"):
        # A cluster's nodes name each other by host and port (CLUSTER SLOTS, MOVED).
        raise SettingsError("REDIS_CLUSTER needs a redis:// or rediss:// REDIS_URL, not unix://")
    if rd["embedded_replicas"] and rd["embedded_shards"] == 1:
        raise SettingsError(
            "EMBEDDED_REDIS_REPLICAS needs a local cluster: set EMBEDDED_REDIS_SHARDS to 3 or more"
        )
    return Settings(
        **values[""], **{name: cls(**values[name]) for name, cls in SECTIONS.items()}
    )


# -- where the servers are -------------------------------------------------------------------

_DRIVER = re.compile(r"^(?:postgres|postgresql)(?:\+\w+)?://", re.IGNORECASE)


def database_url(settings: Settings) -> str:
    """DATABASE_URL, else the database of the `smartlinks up` running in the data folder;
    "" when neither."""
    return settings.database_url or runtime.read(settings.data_dir).get("database_url", "")


def redis_url(settings: Settings) -> str:
    """REDIS_URL, else the Redis of the `smartlinks up` running in the data folder; "" when
    neither (the admin then runs without its login limiter)."""
    return settings.redis_url or runtime.read(settings.data_dir).get("redis_url", "")


def redis_cluster(settings: Settings) -> bool:
    """Is the Redis of ``redis_url()`` a cluster: REDIS_CLUSTER when REDIS_URL is set, else
    what the running `smartlinks up` started (its runtime file says)."""
    if settings.redis_url:
        return settings.redis.cluster
    return runtime.read(settings.data_dir).get("redis_cluster", "0") == "1"


def redis_partitions(settings: Settings) -> int:
    """The key partitions of ``redis_url()``'s Redis: REDIS_PARTITIONS (resolved) when REDIS_URL
    is set, else those of the running `smartlinks up` (every process must agree)."""
    if settings.redis_url:
        return settings.redis.partitions
    found = runtime.read(settings.data_dir).get("redis_partitions", "")
    return int(found) if found.isdigit() and int(found) >= 1 else settings.redis.partitions


def _required_database_url(settings: Settings) -> str:
    url = database_url(settings)
    if not url:
        raise SettingsError(
            "DATABASE_URL is not set and no `smartlinks up` is running in "
            f"{settings.data_dir}: set DATABASE_URL or start `smartlinks up`"
        )
    return url


def to_sqlalchemy(url: str) -> str:
    """A PostgreSQL URL with SQLAlchemy's psycopg (3) driver."""
    return _DRIVER.sub("postgresql+psycopg://", url, count=1)


def to_libpq(url: str) -> str:
    """A PostgreSQL URL as libpq (psycopg.connect) reads it: without a driver."""
    return _DRIVER.sub("postgresql://", url, count=1)


def sqlalchemy_url(settings: Settings) -> str:
    """The database for SQLAlchemy; SettingsError when there is none."""
    return to_sqlalchemy(_required_database_url(settings))


def libpq_url(settings: Settings) -> str:
    """The database for psycopg; SettingsError when there is none."""
    return to_libpq(_required_database_url(settings))


def spool_dir(settings: Settings) -> Path:
    """Where edge workers spool the clicks they answered while Redis was away."""
    if settings.edge.spool_dir:
        return Path(settings.edge.spool_dir).expanduser().resolve()
    return settings.data_dir / "edge-spool"
