"""A domain's fallback URL through the web form: http or https only (the API's own tests are in
api/test_domains.py)."""

from __future__ import annotations

import pytest

from tests.helpers.odd import BAD_FALLBACK_URLS


@pytest.mark.parametrize("url", BAD_FALLBACK_URLS[:4])
def test_web_form_refuses_a_fallback_that_is_not_http(api, web, url):
    domain = api.post("/api/v1/domains", {"hostname": "go.fallback.test"}).get_json()
    resp = web.post(
        f"/domains/{domain['id']}/fallback", {"fallback_url": url}, page=f"/domains/{domain['id']}"
    )
    assert resp.status_code < 500
    assert api.get(f"/api/v1/domains/{domain['id']}").get_json().get("fallback_url") in (None, "")
