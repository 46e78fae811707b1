"""Webhooks through the API: the URL is checked at save (a 422 naming ``url``): no NUL, and no
loopback or private address in a form that the resolver reads as one (legacy IPv4 spellings,
localhost with a trailing dot or as a parent domain)."""

from __future__ import annotations

import pytest

PRIVATE = [
    "https://2130706433/",
    "https://0x7f000001/",
    "https://127.1/",
    "https://0177.0.0.1/",
    "https://10.1/",
    "https://0/",
    "https://localhost./",
    "https://hooks.localhost/",
    "https://[::ffff:127.0.0.1]/",
    "https://169.254.169.254/",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_webhook_hosts_are_refused(api, url, monkeypatch):
    monkeypatch.delenv("WEBHOOK_ALLOW_HTTP_LOOPBACK", raising=False)
    resp = api.post("/api/v1/webhooks", {"url": url})
    assert resp.status_code == 422, (url, resp.status_code)
    assert resp.get_json()["error"]["field"] == "url"


def test_a_public_host_is_still_accepted(api):
    resp = api.post("/api/v1/webhooks", {"url": "https://hooks.example.org/clicks"})
    assert resp.status_code == 201


def test_webhook_url_with_nul_is_422_naming_url(api):
    resp = api.post("/api/v1/webhooks", {"url": "https://example.org/\x00"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "url"
