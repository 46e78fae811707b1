"""Click webhooks: registration through the API, signed delivery to a real local HTTP server,
retries with backoff, and a slow endpoint that holds up nobody else."""

from __future__ import annotations

import re
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
from sync.webhooks.signature import SIGNATURE_HEADER, sign, verify
from tests.conftest import Api, Servers
from tests.sync.clicks.helpers import click_fields, make_contacts, make_domain, make_link, run_burst
from tests.sync.clicks.helpers import xadd_all as xadd
from tests.sync.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_deliverer(clean: Servers) -> Iterator[Callable[..., Deliverer]]:
    made: list[Deliverer] = []

    def make(**overrides: float) -> Deliverer:
        base = {"timeout": 2.0, "max_attempts": 5, "retry_base": 0.05, "concurrency": 4}
        base.update(overrides)
        # The receiver is local: the operator's allow-list lets deliveries reach loopback.
        policy = outbound.Policy(allow=outbound.LOOPBACK, read_timeout=base["timeout"])
        d = Deliverer(clean.database_url, WebhookSettings(**base, policy=policy))  # type: ignore[arg-type]
        made.append(d)
        return d

    yield make
    for d in made:
        d.drain_in_flight()
        d.close()


def run_until(deliverer: Deliverer, done: Callable[[], bool], timeout: float = 10) -> float:
    started = time.monotonic()
    while not done():
        assert time.monotonic() - started < timeout, "deliveries did not finish in time"
        deliverer.step()
        deliverer.wait(0.02)
    return time.monotonic() - started


def _register(api: Api, url: str) -> dict[str, str]:
    r = api.post("/api/v1/webhooks", json={"url": url, "description": "CRM"})
    assert r.status_code == 201, r.get_json()
    body: dict[str, str] = r.get_json()
    return body


def _endpoints(app: Flask, api: Api, receiver: Receiver, *paths: str) -> None:
    """Register one loopback webhook per receiver path, the receiver knowing each secret."""
    app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"] = True
    for path in paths:
        receiver.secrets[path] = _register(api, receiver.url(path))["secret"]


def _clicks(org: NewOrg, rdb: redis.Redis, count: int) -> None:
    """``count`` generic clicks on a new link of ``org``, in the stream."""
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain)
    xadd(rdb, [click_fields(link, None, domain) for _ in range(count)])


def _statuses() -> list[tuple[str, int]]:
    db.session.rollback()
    rows = db.session.execute(
        text("SELECT status, attempts FROM webhook_deliveries ORDER BY id")
    ).all()
    return [(r.status, r.attempts) for r in rows]


def test_register_list_and_delete(app: Flask, api: Api, other_api: Api) -> None:
    created = _register(api, "https://hooks.example.org/clicks")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    listed = api.get("/api/v1/webhooks").get_json()["webhooks"]
    assert [w["url"] for w in listed] == ["https://hooks.example.org/clicks"]
    assert "secret" not in listed[0]  # shown once, at creation
    assert "secret" not in api.get(f"/api/v1/webhooks/{created['id']}").get_json()
    for url in (
        "http://hooks.example.org/clicks",  # not https
        "https://10.0.0.8/hook",  # a private address
        "https://127.0.0.1/hook",
        "http://127.0.0.1:9/hook",  # loopback http only with the flag
        "ftp://hooks.example.org/",
        "not a url",
        "https:///no-host",
        "https://hooks.example.org:99999/",
    ):
        r = api.post("/api/v1/webhooks", json={"url": url})
        assert r.status_code == 422, url
        assert r.get_json()["error"]["field"] == "url"
    assert api.post("/api/v1/webhooks", json={}).status_code == 422
    app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"] = True
    assert api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}).status_code == 201
    # Another organisation sees none of them.
    assert other_api.get("/api/v1/webhooks").get_json()["webhooks"] == []
    assert other_api.get(f"/api/v1/webhooks/{created['id']}").status_code == 404
    assert other_api.delete(f"/api/v1/webhooks/{created['id']}").status_code == 404
    assert api.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert api.get(f"/api/v1/webhooks/{created['id']}").status_code == 404
    assert len(api.get("/api/v1/webhooks").get_json()["webhooks"]) == 1


def test_signature_scheme() -> None:
    body = b'{"click_id":"x"}'
    header = sign("whsec_test", body, 1_700_000_000)
    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", header)
    assert verify("whsec_test", body, header, now=1_700_000_010)
    assert not verify("whsec_other", body, header, now=1_700_000_010)
    assert not verify("whsec_test", body + b" ", header, now=1_700_000_010)
    assert not verify("whsec_test", body, header, now=1_700_001_000)  # too old: a replay


def test_human_clicks_are_posted_signed_to_every_endpoint(
    app: Flask,
    org: NewOrg,
    api: Api,
    other_org: NewOrg,
    rdb: redis.Redis,
    receiver: Receiver,
    make_drain: Callable[..., Drain],
    make_deliverer: Callable[..., Deliverer],
) -> None:
    _endpoints(app, api, receiver, "/one", "/two")
    domain = make_domain(org.org_id)
    link = make_link(org.org_id, domain, name="Gala RSVP")
    (a,) = make_contacts(org.org_id, 1)
    other_link = make_link(other_org.org_id, make_domain(other_org.org_id, "go.rival.test"))
    xadd(
        rdb,
        [
            click_fields(link, a, domain, click_id="human-1"),
            click_fields(link, None, domain, click_id="generic-1"),
            click_fields(link, a, domain, kind="preview", click_id="preview-1"),
            click_fields(other_link, None, domain, click_id="other-org-1"),
        ],
    )
    drain = make_drain()
    run_burst(drain)
    run_burst(drain)  # a second pass (as after a redelivery) enqueues nothing more
    assert _statuses() == [("pending", 0)] * 4  # 2 human clicks x 2 endpoints

    run_until(make_deliverer(), lambda: _statuses() == [("delivered", 1)] * 4)
    assert all(r.signature_ok for r in receiver.received)
    for r in receiver.received:
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", r.headers[SIGNATURE_HEADER])
        assert r.headers["Content-Type"] == "application/json"
    bodies = {(r.path, r.json()["click_id"]): r.json() for r in receiver.received}
    assert set(bodies) == {
        ("/one", "human-1"),
        ("/one", "generic-1"),
        ("/two", "human-1"),
        ("/two", "generic-1"),
    }
    human = bodies[("/one", "human-1")]
    assert human["type"] == "click"
    assert human["link"] == {
        "id": link,
        "name": "Gala RSVP",
        "url": "https://go.example.test/Ab3dE6g",
    }
    assert human["contact"]["id"] == a and human["contact"]["phone"].startswith("+1555")
    assert human["os"] == "iOS"
    assert bodies[("/one", "generic-1")]["contact"] is None
    assert len(receiver.received) == 4  # each delivered once
    # Kept for a week for the deliveries list, then forgotten.
    deliverer = make_deliverer()
    assert deliverer.forget_old() == 0
    db.session.execute(text("UPDATE webhook_deliveries SET created_at = now() - interval '8 days'"))
    db.session.commit()
    assert deliverer.forget_old() == 4


def test_failures_are_retried_with_backoff_then_given_up(
    app: Flask,
    org: NewOrg,
    api: Api,
    rdb: redis.Redis,
    receiver: Receiver,
    make_drain: Callable[..., Drain],
    make_deliverer: Callable[..., Deliverer],
) -> None:
    _endpoints(app, api, receiver, "/flaky", "/broken")
    receiver.fail_first.update({"/flaky": 2, "/broken": 1000})
    _clicks(org, rdb, 1)
    run_burst(make_drain())
    deliverer = make_deliverer(max_attempts=3, retry_base=0.1)
    run_until(deliverer, lambda: {s for s, _ in _statuses()} == {"delivered", "failed"})
    db.session.rollback()
    rows: dict[str, str] = dict(
        db.session.execute(
            text(
                "SELECT w.url, d.status || ':' || d.attempts || ':' || coalesce(d.last_status, 0)"
                " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            )
        ).all()
    )
    assert rows == {
        receiver.url("/flaky"): "delivered:3:200",
        receiver.url("/broken"): "failed:3:500",
    }
    times = [r.at for r in receiver.at("/flaky")]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.07 and gaps[1] > gaps[0]  # 0.1 s, then 0.2 s (with jitter)


def test_a_slow_endpoint_holds_up_no_other(
    app: Flask,
    org: NewOrg,
    api: Api,
    rdb: redis.Redis,
    receiver: Receiver,
    make_drain: Callable[..., Drain],
    make_deliverer: Callable[..., Deliverer],
) -> None:
    _endpoints(app, api, receiver, "/slow", "/fast")
    receiver.delay["/slow"] = 3.0
    _clicks(org, rdb, 5)
    started = time.monotonic()
    run_burst(make_drain())
    assert time.monotonic() - started < 2  # the drain never waits for an endpoint
    deliverer = make_deliverer(timeout=2.0, concurrency=8)
    took = run_until(deliverer, lambda: len(receiver.at("/fast")) >= 5)
    # while the slow endpoint's requests still hang, before their 2 s timeout frees anything
    # (a bound of 0.9 s against a 1 s timeout took 1.12 s on a loaded machine)
    assert took < 1.8
    run_until(deliverer, lambda: not deliverer.in_flight)
    db.session.rollback()
    slow_rows = db.session.execute(
        text(
            "SELECT d.status, d.last_error FROM webhook_deliveries d"
            " JOIN webhooks w ON w.id = d.webhook_id WHERE w.url LIKE '%/slow'"
        )
    ).all()
    assert len(slow_rows) == 5
    # A timeout reads like any network error to the tenant (no port scanning through it).
    assert all(
        r.status == "pending" and r.last_error == outbound.NETWORK_ERROR for r in slow_rows
    )
