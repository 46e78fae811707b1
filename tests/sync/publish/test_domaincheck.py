"""The scheduled re-check: a verified domain whose DNS moved away is flagged "lost" (and keeps
serving); when its DNS points here again the flag goes. Operator-verified domains are trusted."""

from __future__ import annotations

import time

from admin.extensions import db
from admin.models import Domain
from admin.services.ownership import operator_verify
from core.config import to_libpq as psycopg_url
from sync.publish.domaincheck import check_round
from tests.conftest import Servers
from tests.helpers.dns_server import EDGE_NAME, Zone, dns, dns_session
from tests.servers import smartlinks_process
from tests.sync.publish.helpers import sync_ready

HOST = "go.acme.test"


def _domain(domain_id: int) -> Domain:
    db.session.expire_all()
    found = db.session.get(Domain, domain_id)
    assert found is not None
    return found


def test_dns_moving_away_flags_the_domain_and_coming_back_clears_it(
    api, dns: Zone, clean: Servers
) -> None:
    url = psycopg_url(clean.database_url)
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    dns.set(HOST, "CNAME", EDGE_NAME)
    assert api.post(f"/api/v1/domains/{body['id']}/verify").get_json()["status"] == "verified"

    # Not due yet: checked at verification.
    assert check_round(url, 3600, EDGE_NAME, dns.address)["checked"] == 0
    dns.set(HOST, "CNAME", "another-shortener.example.test")
    counts = check_round(url, 0, EDGE_NAME, dns.address)
    assert counts == {"checked": 1, "lost": 1, "back": 0, "unknown": 0}
    shown = api.get(f"/api/v1/domains/{body['id']}").get_json()
    assert shown["status"] == "lost" and shown["verified"] is True
    lost_at = _domain(body["id"]).dns_lost_at
    assert lost_at is not None
    # Still lost a round later: the flag keeps its first time.
    check_round(url, 0, EDGE_NAME, dns.address)
    assert _domain(body["id"]).dns_lost_at == lost_at

    dns.set(HOST, "CNAME", EDGE_NAME)
    assert check_round(url, 0, EDGE_NAME, dns.address)["back"] == 1
    assert api.get(f"/api/v1/domains/{body['id']}").get_json()["status"] == "verified"


def test_a_dns_failure_flags_nothing_and_operator_domains_are_not_rechecked(
    api, dns: Zone, clean: Servers, monkeypatch
) -> None:
    url = psycopg_url(clean.database_url)
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    dns.set(HOST, "CNAME", EDGE_NAME)
    api.post(f"/api/v1/domains/{body['id']}/verify")
    api.post("/api/v1/domains", {"hostname": "trial.acme.test"})
    operator_verify("trial.acme.test")
    counts = check_round(url, 0, EDGE_NAME, "127.0.0.1:9")  # nothing listens there
    assert counts == {"checked": 1, "lost": 0, "back": 0, "unknown": 1}
    assert api.get(f"/api/v1/domains/{body['id']}").get_json()["status"] == "verified"


def test_the_sync_worker_rechecks_on_its_schedule(
    api, dns: Zone, clean: Servers, rdb, tmp_path, dns_session
) -> None:
    """A real `smartlinks sync` (DOMAIN_RECHECK_SECONDS=1) flags a domain whose DNS moved."""
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    dns.set(HOST, "CNAME", EDGE_NAME)
    assert api.post(f"/api/v1/domains/{body['id']}/verify").get_json()["status"] == "verified"
    dns.set(HOST, "CNAME", "another-shortener.example.test")
    env = clean.env(
        DNS_SERVERS=dns_session[1], EDGE_CNAME_TARGET=EDGE_NAME, DOMAIN_RECHECK_SECONDS="1"
    )
    with smartlinks_process(["sync"], env, tmp_path) as proc:
        sync_ready(rdb, proc)
        deadline = time.monotonic() + 20
        while api.get(f"/api/v1/domains/{body['id']}").get_json()["status"] != "lost":
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.2)
    assert "domain DNS moved away" in proc.log()

__all__ = ["dns", "dns_session"]  # fixtures
