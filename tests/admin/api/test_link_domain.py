"""Moving a link to another domain: refused once contacts' short URLs were issued (they were
texted with the old hostname in them); allowed before, when only the generic code moves, and
then a real edge serves that code on the new hostname and no longer on the old one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from admin.services.ownership import operator_verify
from tests.conftest import Servers
from tests.helpers.publish import publish
from tests.servers import http_role

OLD, NEW = "go.old.test", "go.new.test"
OLD_FALLBACK = "https://old.example.org/unknown"
DESTINATION = "https://example.org/landing"
BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def link(api):
    api.post("/api/v1/domains", {"hostname": OLD, "fallback_url": OLD_FALLBACK})
    api.post("/api/v1/domains", {"hostname": NEW})
    for host in (OLD, NEW):
        operator_verify(host)  # only verified domains serve
    resp = api.post("/api/v1/links", {"destination": DESTINATION, "domain": OLD})
    assert resp.status_code == 201
    return resp.get_json()


def test_domain_change_is_refused_once_contacts_urls_were_issued(api, link):
    contact = api.post("/api/v1/contacts", {"phone": "+15550100002"}).get_json()
    issued = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [contact["id"]]})
    assert issued.status_code == 200
    sent_url = issued.get_json()["urls"][0]["url"]

    resp = api.patch(f"/api/v1/links/{link['id']}", {"domain": NEW})
    assert resp.status_code == 409, resp.get_json()
    error = resp.get_json()["error"]
    assert error["field"] == "domain"
    assert OLD in error["message"]
    after = api.get(f"/api/v1/links/{link['id']}").get_json()
    assert after["domain"] == OLD and after["url"].startswith(f"https://{OLD}/")
    # The same hostname again is no change, and other fields still change.
    same = api.patch(f"/api/v1/links/{link['id']}", {"domain": OLD, "name": "renamed"})
    assert same.status_code == 200 and same.get_json()["name"] == "renamed"
    # Issuing again gives the URL that was sent.
    again = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [contact["id"]]})
    assert again.get_json()["urls"][0]["url"] == sent_url


def test_refused_change_leaves_nothing_half_done(api, link):
    contact = api.post("/api/v1/contacts", {"phone": "+15550100003"}).get_json()
    api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [contact["id"]]})
    resp = api.patch(
        f"/api/v1/links/{link['id']}", {"domain": NEW, "destination": "https://example.org/new"}
    )
    assert resp.status_code == 409
    assert api.get(f"/api/v1/links/{link['id']}").get_json()["destination"] == DESTINATION


def test_generic_code_moves_to_the_new_domain_at_the_edge(
    api, link, publish, clean: Servers, tmp_path: Path
):
    code = urlsplit(link["url"]).path.strip("/")
    with (
        http_role("edge", clean.env(), tmp_path, "EDGE_PORT") as (_, base),
        httpx.Client(base_url=base, headers={"User-Agent": BROWSER}, timeout=5) as http,
    ):

        def visit(host: str) -> httpx.Response:
            return http.get(f"/{code}", headers={"Host": host})

        publish()
        assert visit(OLD).headers.get("location") == DESTINATION

        moved = api.patch(f"/api/v1/links/{link['id']}", {"domain": NEW})
        assert moved.status_code == 200, moved.get_json()
        assert moved.get_json()["url"] == f"https://{NEW}/{code}"
        publish()

        on_new = visit(NEW)
        assert (on_new.status_code, on_new.headers.get("location")) == (302, DESTINATION)
        # The old URL is now an unknown code on the old domain: its fallback.
        on_old = visit(OLD)
        assert (on_old.status_code, on_old.headers.get("location")) == (302, OLD_FALLBACK)


__all__ = ["publish"]  # fixtures
