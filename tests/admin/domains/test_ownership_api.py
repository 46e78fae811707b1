"""Ownership before service, through the JSON API: a domain is pending until DNS proves the
claim, the first to prove it wins, and a second organisation learns nothing of the first."""

from __future__ import annotations

import json

from admin.services.orgs import NewOrg
from tests.helpers.dns_server import EDGE_NAME, Zone

HOST = "go.acme.test"


def _verify(api, domain_id: int) -> dict:
    resp = api.post(f"/api/v1/domains/{domain_id}/verify")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_a_new_domain_is_pending_with_the_records_to_add(api, dns: Zone) -> None:
    resp = api.post("/api/v1/domains", {"hostname": "Go.Acme.TEST."})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "pending" and body["verified"] is False
    token_value = body["verification"]["value"]
    assert body["verification"]["type"] == "TXT"
    assert body["verification"]["name"] == f"_smartlinks.{HOST}"
    assert token_value.startswith("smartlinks-verify=") and len(token_value) > 30
    assert body["routing"] == {"type": "CNAME", "name": HOST, "value": EDGE_NAME}
    # Nothing in DNS yet: still pending, and the answer says what it found.
    checked = _verify(api, body["id"])
    assert checked["status"] == "pending"
    assert checked["check"]["verified"] is False
    assert "no record" in checked["check"]["message"]
    assert api.get(f"/api/v1/domains/{body['id']}").get_json()["status"] == "pending"


def test_the_claims_txt_token_verifies_it(api, dns: Zone) -> None:
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    dns.set(body["verification"]["name"], "TXT", "smartlinks-verify=someone-elses-token")
    assert _verify(api, body["id"])["status"] == "pending"
    dns.set(body["verification"]["name"], "TXT", body["verification"]["value"])
    checked = _verify(api, body["id"])
    assert checked["status"] == "verified" and checked["check"]["verified"] is True
    assert checked["verified_at"]


def test_a_cname_to_the_edge_verifies_a_sole_claim(api, dns: Zone) -> None:
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    dns.set(HOST, "CNAME", "elsewhere.example.test")
    assert _verify(api, body["id"])["status"] == "pending"
    dns.set(HOST, "CNAME", EDGE_NAME + ".")
    assert _verify(api, body["id"])["status"] == "verified"


def test_an_apex_with_the_edges_address_verifies(api, dns: Zone) -> None:
    body = api.post("/api/v1/domains", {"hostname": "acme.test"}).get_json()
    dns.set("acme.test", "A", "192.0.2.10")
    assert _verify(api, body["id"])["status"] == "verified"


def test_two_claims_the_token_decides_and_the_first_to_verify_wins(
    api, other_api, dns: Zone
) -> None:
    mine = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    theirs = other_api.post("/api/v1/domains", {"hostname": HOST})
    assert theirs.status_code == 201  # no 409: a claim reveals nothing
    theirs = theirs.get_json()
    assert theirs["verification"]["value"] != mine["verification"]["value"]
    # The CNAME is the same for every claimant: with two claims it proves nothing.
    dns.set(HOST, "CNAME", EDGE_NAME)
    first = _verify(other_api, theirs["id"])
    assert first["status"] == "pending" and "TXT" in first["check"]["message"]
    # The DNS owner adds their claim's token: that claim wins.
    dns.set(f"_smartlinks.{HOST}", "TXT", mine["verification"]["value"])
    assert _verify(api, mine["id"])["status"] == "verified"
    # Later, the other claim's token appears too (say the hostname changed hands): refused.
    dns.set(f"_smartlinks.{HOST}", "TXT", theirs["verification"]["value"])
    late = _verify(other_api, theirs["id"])
    assert late["status"] == "pending"
    assert "contact support" in late["check"]["message"]
    assert _verify(api, mine["id"])["status"] in ("verified", "lost")


def test_a_second_org_cannot_take_over_or_discover_a_verified_hostname(
    api, other_api, org: NewOrg, dns: Zone
) -> None:
    first = api.post(
        "/api/v1/domains", {"hostname": HOST, "fallback_url": "https://secret-fallback.test/"}
    ).get_json()
    dns.set(f"_smartlinks.{HOST}", "TXT", first["verification"]["value"])
    dns.set(HOST, "CNAME", EDGE_NAME)
    assert _verify(api, first["id"])["status"] == "verified"

    # The second organisation's claim looks exactly like a claim of an unused hostname.
    taken = other_api.post("/api/v1/domains", {"hostname": HOST})
    unused = other_api.post("/api/v1/domains", {"hostname": "go.unused.test"})
    assert taken.status_code == unused.status_code == 201
    taken_body, unused_body = taken.get_json(), unused.get_json()
    assert sorted(taken_body) == sorted(unused_body)
    assert taken_body["status"] == unused_body["status"] == "pending"
    # With the CNAME in place (public), it is still never verified for them...
    for _ in range(2):
        answer = _verify(other_api, taken_body["id"])
        assert answer["status"] == "pending"
    # ...and nothing they can read names the first organisation or its settings.
    seen = json.dumps(
        [
            taken_body,
            answer,
            other_api.get("/api/v1/domains").get_json(),
            other_api.get(f"/api/v1/domains/{first['id']}").get_json(),
        ]
    )
    for secret in (first["verification"]["value"], "secret-fallback", "Acme Campaign"):
        assert secret not in seen
    assert f'"id": {first["id"]},' not in seen
    assert other_api.get(f"/api/v1/domains/{first['id']}").status_code == 404
    # The first organisation still holds it.
    held = api.get(f"/api/v1/domains/{first['id']}").get_json()
    assert held["status"] == "verified" and held["fallback_url"] == "https://secret-fallback.test/"


def test_the_same_org_adding_a_hostname_twice_is_told_so(api, dns: Zone) -> None:
    assert api.post("/api/v1/domains", {"hostname": HOST}).status_code == 201
    again = api.post("/api/v1/domains", {"hostname": HOST.upper()})
    assert again.status_code == 409
    assert "already one of your domains" in again.get_json()["error"]["message"]


def test_a_dns_server_that_does_not_answer_changes_nothing(
    api, app, dns: Zone, monkeypatch
) -> None:
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    monkeypatch.setitem(app.config, "DNS_SERVERS", "127.0.0.1:9")  # nothing listens there
    answer = _verify(api, body["id"])
    assert answer["status"] == "pending"
    assert "DNS did not answer" in answer["check"]["message"]


def test_verify_of_another_orgs_domain_is_404(api, other_api, dns: Zone) -> None:
    body = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    assert other_api.post(f"/api/v1/domains/{body['id']}/verify").status_code == 404
