"""Webhooks cannot reach our own network by hostname: registration refuses a name that resolves
to a private address (through a real DNS server started here), and a name that turns private
after registration (DNS rebinding) is refused at delivery, with no request reaching the local
server. A failure's last_error is one generic line, whatever the network said."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.services.orgs import NewOrg
from sync import outbound
from sync.clicks.drain import Drain
from sync.webhooks.delivery import Deliverer, WebhookSettings
from tests.conftest import Api, Servers
from tests.helpers.dns_server import Zone, dns_server
from tests.helpers.trap import Trap, trap
from tests.sync.clicks.helpers import click_fields, make_domain, make_link, run_burst
from tests.sync.clicks.helpers import xadd_all as xadd

PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zone]:
    names = {
        "loopback.attacker.test": ["127.0.0.1"],
        "nat64.attacker.test": ["64:ff9b::7f00:1"],
        "private.attacker.test": ["10.0.0.8"],
        "rebind.attacker.test": [PUBLIC],
    }
    with dns_server(names) as (zone, address):
        monkeypatch.setenv("DNS_SERVERS", address)
        monkeypatch.delenv("WEBHOOK_ALLOW_HTTP_LOOPBACK", raising=False)
        monkeypatch.delenv("OUTBOUND_ALLOW_NETWORKS", raising=False)
        yield zone


@pytest.fixture
def deliverer(clean: Servers) -> Iterator[Deliverer]:
    settings = WebhookSettings(timeout=2.0, max_attempts=1, retry_base=0.05, concurrency=2)
    d = Deliverer(clean.database_url, settings)  # the policy from the environment
    yield d
    d.drain_in_flight()
    d.close()


def _deliver_all(d: Deliverer) -> list[tuple[str, str]]:
    started = time.monotonic()
    while True:
        d.step()
        d.wait(0.02)
        db.session.rollback()
        rows = db.session.execute(
            text("SELECT status, last_error FROM webhook_deliveries ORDER BY id")
        ).all()
        if rows and all(r.status != "pending" for r in rows):
            return [(r.status, r.last_error) for r in rows]
        assert time.monotonic() - started < 10, rows


def _click(org: NewOrg, rdb: redis.Redis, make_drain: Callable[..., Drain]) -> None:
    domain = make_domain(org.org_id)
    xadd(rdb, [click_fields(make_link(org.org_id, domain), None, domain)])
    run_burst(make_drain())


def test_registration_refuses_names_of_private_addresses(
    app: Flask, api: Api, dns: Zone, trap: Trap
) -> None:
    for name in ("loopback.attacker.test", "nat64.attacker.test", "private.attacker.test"):
        r = api.post("/api/v1/webhooks", json={"url": f"https://{name}:{trap.port}/hook"})
        assert r.status_code == 422, name
        assert r.get_json()["error"]["field"] == "url"
    for literal in ("[64:ff9b::7f00:1]", "[2002:7f00:1::]"):
        r = api.post("/api/v1/webhooks", json={"url": f"https://{literal}/hook"})
        assert r.status_code == 422, literal
    assert api.post("/api/v1/webhooks", json={"url": "https://rebind.attacker.test/h"}).status_code == 201
    assert trap.hits == []


def test_a_name_that_turns_private_is_refused_at_delivery(
    app: Flask,
    org: NewOrg,
    api: Api,
    rdb: redis.Redis,
    dns: Zone,
    trap: Trap,
    make_drain: Callable[..., Drain],
    deliverer: Deliverer,
) -> None:
    url = f"https://rebind.attacker.test:{trap.port}/hook"
    assert api.post("/api/v1/webhooks", json={"url": url}).status_code == 201
    dns.set_addresses({"rebind.attacker.test": ["127.0.0.1"]})  # after the check at registration
    _click(org, rdb, make_drain)
    assert _deliver_all(deliverer) == [("failed", outbound.BLOCKED_ERROR)]
    assert trap.hits == []


def test_last_error_does_not_tell_closed_from_open_ports(
    app: Flask,
    org: NewOrg,
    api: Api,
    rdb: redis.Redis,
    trap: Trap,
    make_drain: Callable[..., Drain],
    monkeypatch: pytest.MonkeyPatch,
    clean: Servers,
) -> None:
    """Before, a closed port read "ConnectError: [Errno 111] Connection refused" and an open
    one a TLS error: a port scanner. Both now read the same generic line."""
    monkeypatch.setenv("OUTBOUND_ALLOW_NETWORKS", "127.0.0.1")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    for port in (closed_port, trap.port):
        db.session.execute(
            text(
                "INSERT INTO webhooks (org_id, url, secret, description, active)"
                " VALUES (:org, :url, 'whsec_x', '', true)"
            ),
            {"org": org.org_id, "url": f"https://127.0.0.1:{port}/hook"},
        )
    db.session.commit()
    _click(org, rdb, make_drain)
    settings = WebhookSettings(timeout=2.0, max_attempts=1, retry_base=0.05, concurrency=2)
    d = Deliverer(clean.database_url, settings)
    try:
        assert _deliver_all(d) == [("failed", outbound.NETWORK_ERROR)] * 2
    finally:
        d.drain_in_flight()
        d.close()


__all__ = ["trap"]  # fixtures
