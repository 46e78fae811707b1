"""The scheduled re-check: a verified domain whose DNS moved away is flagged "lost" (and keeps
serving); when its DNS points here again the flag goes. Operator-verified domains are trusted."""

from __future__ import annotations

from admin.extensions import db
from admin.models import Domain
from admin.services.ownership import operator_verify
from sync.domaincheck import check_round
from sync.publisher import psycopg_url
from tests.conftest import Servers
from tests.dns_server import Zone
from tests.domains.conftest import EDGE_NAME

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
    assert check_round(url, 3600)["checked"] == 0
    dns.set(HOST, "CNAME", "another-shortener.example.test")
    counts = check_round(url, 0)
    assert counts == {"checked": 1, "lost": 1, "back": 0, "unknown": 0}
    shown = api.get(f"/api/v1/domains/{body['id']}").get_json()
    assert shown["status"] == "lost" and shown["verified"] is True
    lost_at = _domain(body["id"]).dns_lost_at
    assert lost_at is not None
    # Still lost a round later: the flag keeps its first time.
    check_round(url, 0)
    assert _domain(body["id"]).dns_lost_at == lost_at

    dns.set(HOST, "CNAME", EDGE_NAME)
    assert check_round(url, 0)["back"] == 1
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
    monkeypatch.setenv("DNS_RESOLVER", "127.0.0.1:9")
    counts = check_round(url, 0)
    assert counts == {"checked": 1, "lost": 0, "back": 0, "unknown": 1}
    assert api.get(f"/api/v1/domains/{body['id']}").get_json()["status"] == "verified"
