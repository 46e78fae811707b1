"""The one list of environment settings. Every process reads its configuration here.

Each setting names its variable, its default and what it is for; the README's table is
generated from ``SETTINGS`` so the two cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL", "", "PostgreSQL URL. Unset: `smartlinks up` starts an embedded server."
    ),
    Setting("REDIS_URL", "", "Redis/Valkey URL. Unset: `smartlinks up` starts an embedded server."),
    Setting(
        "SMARTLINKS_DATA_DIR", "./.smartlinks", "Data folder of the embedded servers and uploads."
    ),
    Setting("EDGE_HOST", "127.0.0.1", "Address the edge binds to."),
    Setting("EDGE_PORT", "8080", "Port of the edge (redirects, previews)."),
    Setting("EDGE_WORKERS", "0", "Edge worker processes; 0 means one per core."),
    Setting("ADMIN_HOST", "127.0.0.1", "Address the admin binds to."),
    Setting("ADMIN_PORT", "8000", "Port of the admin (web UI and JSON API)."),
    Setting("ADMIN_WORKERS", "1", "Admin worker processes."),
    Setting(
        "PUBLIC_ADMIN_URL",
        "",
        "Absolute URL of the admin as people and fetchers reach it (for og:image). Default: http://ADMIN_HOST:ADMIN_PORT.",
    ),
    Setting(
        "SHORT_URL_SCHEME", "https", "Scheme of issued short URLs (TLS ends in front of the edge)."
    ),
    Setting(
        "EDGE_CNAME_TARGET",
        "",
        "Public hostname of the edge that organisations' domains point to (CNAME), shown in the DNS instructions.",
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Flask session and CSRF key. Unset: generated once and kept in the data folder.",
    ),
    Setting("SECRETS_KEY", "", "Fernet keys (comma-separated, newest first) encrypting stored provider tokens and webhook secrets. Unset: generated once in the data folder."),
    Setting(
        "TRUSTED_PROXIES",
        "127.0.0.1,::1",
        "Peers whose X-Forwarded-For the edge believes (comma-separated IPs or CIDRs).",
    ),
    Setting("ADMIN_TRUSTED_PROXIES", "", "Peers whose X-Forwarded-For the admin believes (login rate limit), e.g. 127.0.0.1 behind a local proxy; unset: none."),
    Setting("METRICS_ALLOW", "127.0.0.1,::1", "Peers (IPs or CIDRs) that may read the edge's /metrics, directly (a request through a proxy is refused); 403 otherwise."),
    Setting(
        "CLICK_STREAM_MAXLEN",
        "0",
        "Reserved: the stream is trimmed only below acknowledged entries.",
    ),
    Setting("DRAIN_BATCH", "500", "Click events the drain reads per batch."),
    Setting("DRAIN_LANES", "2", "Batches one drain process records at once (threads, 1-8)."),
    Setting(
        "DRAIN_CLAIM_IDLE_MS",
        "30000",
        "Idle time after which another consumer reclaims a pending click.",
    ),
    Setting(
        "DRAIN_MAX_DELIVERIES",
        "5",
        "Deliveries after which a click event goes to the dead-letter stream.",
    ),
    Setting("WEBHOOK_TIMEOUT_SECONDS", "5", "Timeout of one click webhook POST."),
    Setting("WEBHOOK_MAX_ATTEMPTS", "8", "Attempts before a click webhook delivery fails."),
    Setting(
        "WEBHOOK_RETRY_BASE_SECONDS",
        "10",
        "First retry delay of a failed webhook delivery; doubles with each attempt.",
    ),
    Setting("WEBHOOK_CONCURRENCY", "8", "Parallel webhook deliveries per `smartlinks webhooks`."),
    Setting(
        "WEBHOOK_ALLOW_HTTP_LOOPBACK",
        "0",
        "1 accepts http://127.0.0.1 / localhost webhook URLs (tests, local receivers); else https only.",
    ),
    Setting("OUTBOUND_ALLOW_NETWORKS", "", "Non-public IPs/CIDRs (comma-separated) that webhooks and SMS providers may reach anyway: local receivers, tests."),
    Setting("OUTBOUND_DNS_SERVERS", "", "DNS servers (ip or ip:port, comma-separated) for outbound requests; empty: the system resolver."),
    Setting("SMS_PROVIDER_BASE_URLS", "", "Extra base URLs organisations may give their SMS provider (comma-separated; * any); else only the provider's own."),
    Setting(
        "SYNC_RECONCILE_SECONDS",
        "300",
        "How often sync compares Redis with Postgres and repairs drift.",
    ),
    Setting("SYNC_BATCH", "500", "Outbox rows the sync worker publishes per batch."),
    Setting("LOG_LEVEL", "INFO", "Log level of every process."),
    Setting(
        "DEMO_SEED",
        "1",
        "`smartlinks up` seeds a demo organisation on its first start; 0 turns that off.",
    ),
)


def env(name: str) -> str:
    """The value of a setting, or its default."""
    for s in SETTINGS:
        if s.env == name:
            return os.environ.get(name, s.default)
    raise KeyError(f"{name} is not a Smart Links setting")


def env_int(name: str) -> int:
    return int(env(name))


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: env("DATABASE_URL"))
    redis_url: str = field(default_factory=lambda: env("REDIS_URL"))
    data_dir: Path = field(default_factory=lambda: Path(env("SMARTLINKS_DATA_DIR")).resolve())
    edge_host: str = field(default_factory=lambda: env("EDGE_HOST"))
    edge_port: int = field(default_factory=lambda: env_int("EDGE_PORT"))
    edge_workers: int = field(
        default_factory=lambda: env_int("EDGE_WORKERS") or (os.cpu_count() or 1)
    )
    admin_host: str = field(default_factory=lambda: env("ADMIN_HOST"))
    admin_port: int = field(default_factory=lambda: env_int("ADMIN_PORT"))
    admin_workers: int = field(default_factory=lambda: env_int("ADMIN_WORKERS"))
    short_url_scheme: str = field(default_factory=lambda: env("SHORT_URL_SCHEME"))
    trusted_proxies: str = field(default_factory=lambda: env("TRUSTED_PROXIES"))
    log_level: str = field(default_factory=lambda: env("LOG_LEVEL"))

    @property
    def public_admin_url(self) -> str:
        explicit = env("PUBLIC_ADMIN_URL")
        if explicit:
            return explicit.rstrip("/")
        return f"http://{self.admin_host}:{self.admin_port}"


def load() -> Settings:
    return Settings()
