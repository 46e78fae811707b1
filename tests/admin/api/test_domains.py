"""Domains through the API: normalised hostnames, one organisation per hostname, fallbacks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin.extensions import db
from admin.models import Domain, SyncOutbox
from tests.helpers.odd import BAD_FALLBACK_URLS


def test_create_normalises_and_writes_the_outbox(api):
    resp = api.post(
        "/api/v1/domains", {"hostname": " Go.Example.TEST. ", "fallback_url": "https://ex.org/"}
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["hostname"] == "go.example.test"
    assert body["fallback_url"] == "https://ex.org/"
    row = db.session.get(Domain, body["id"])
    outbox = db.session.scalars(select(SyncOutbox).where(SyncOutbox.entity == "domain")).one()
    assert (outbox.entity_id, outbox.version) == (row.id, row.version)
    assert api.get(f"/api/v1/domains/{body['id']}").get_json() == body
    assert api.get("/api/v1/domains").get_json() == {"domains": [body]}


def test_idn_hostname_is_stored_as_a_label(api):
    resp = api.post("/api/v1/domains", {"hostname": "bücher.example"})
    assert resp.status_code == 201
    assert resp.get_json()["hostname"] == "xn--bcher-kva.example"


def test_bad_hostnames_name_the_field(api):
    for bad in ["", "nodot", "https://go.example.test/", "go.example.test:8080", "pаypal.com", 7]:
        resp = api.post("/api/v1/domains", {"hostname": bad})
        assert resp.status_code == 422, bad
        assert resp.get_json()["error"]["field"] == "hostname", bad


def test_a_hostname_belongs_to_one_organisation(api, other_api):
    assert api.post("/api/v1/domains", {"hostname": "go.acme.test"}).status_code == 201
    for client in (api, other_api):
        resp = client.post("/api/v1/domains", {"hostname": "GO.acme.test"})
        assert resp.status_code == 409
        assert resp.get_json()["error"]["field"] == "hostname"


def test_patch_fallback_url(api):
    domain = api.post("/api/v1/domains", {"hostname": "go.acme.test"}).get_json()
    before = db.session.get(Domain, domain["id"]).version
    resp = api.patch(f"/api/v1/domains/{domain['id']}", {"fallback_url": "https://acme.test/"})
    assert resp.status_code == 200
    assert resp.get_json()["fallback_url"] == "https://acme.test/"
    db.session.expire_all()
    assert db.session.get(Domain, domain["id"]).version > before
    cleared = api.patch(f"/api/v1/domains/{domain['id']}", {"fallback_url": None})
    assert cleared.get_json()["fallback_url"] is None
    bad = api.patch(f"/api/v1/domains/{domain['id']}", {"fallback_url": "ftp://x.test/"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "fallback_url"
    templated = api.patch(
        f"/api/v1/domains/{domain['id']}", {"fallback_url": "https://x.test/{{first_name}}"}
    )
    assert templated.get_json()["error"]["field"] == "fallback_url"


def test_unknown_domain_is_404(api):
    assert api.get("/api/v1/domains/999").status_code == 404
    assert api.get("/api/v1/domains/99999999999999999999999").status_code == 404


@pytest.mark.parametrize("url", BAD_FALLBACK_URLS)
def test_api_refuses_a_fallback_that_is_not_http(api, url):
    resp = api.post("/api/v1/domains", {"hostname": "go.fallback.test", "fallback_url": url})
    assert resp.status_code == 422, (url, resp.get_json())
    assert resp.get_json()["error"]["field"] == "fallback_url"
    domain = api.post("/api/v1/domains", {"hostname": "go.fallback.test"}).get_json()
    resp = api.patch(f"/api/v1/domains/{domain['id']}", {"fallback_url": url})
    assert resp.status_code == 422, (url, resp.get_json())
    assert api.get(f"/api/v1/domains/{domain['id']}").get_json().get("fallback_url") in (None, "")
