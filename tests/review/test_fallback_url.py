"""A domain's fallback URL is http or https only, at save, through the API and the web form."""

from __future__ import annotations

import pytest

BAD = [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://example.org/",
    "//evil.test/",
    "/relative",
    "https:///nohost",
    "http://",
    "vbscript:msgbox",
    " javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "https://example.org/\x00",
    "https://exa mple.org/",
]


@pytest.mark.parametrize("url", BAD)
def test_api_refuses_a_fallback_that_is_not_http(api, url):
    resp = api.post("/api/v1/domains", {"hostname": "go.fallback.test", "fallback_url": url})
    assert resp.status_code == 422, (url, resp.get_json())
    assert resp.get_json()["error"]["field"] == "fallback_url"
    domain = api.post("/api/v1/domains", {"hostname": "go.fallback.test"}).get_json()
    resp = api.patch(f"/api/v1/domains/{domain['id']}", {"fallback_url": url})
    assert resp.status_code == 422, (url, resp.get_json())
    assert api.get(f"/api/v1/domains/{domain['id']}").get_json().get("fallback_url") in (None, "")


@pytest.mark.parametrize("url", BAD[:4])
def test_web_form_refuses_a_fallback_that_is_not_http(api, web, url):
    domain = api.post("/api/v1/domains", {"hostname": "go.fallback.test"}).get_json()
    resp = web.post(
        f"/domains/{domain['id']}/fallback", {"fallback_url": url}, page=f"/domains/{domain['id']}"
    )
    assert resp.status_code < 500
    assert api.get(f"/api/v1/domains/{domain['id']}").get_json().get("fallback_url") in (None, "")
