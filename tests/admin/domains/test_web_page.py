"""The domain page: a pasted URL becomes its hostname, the page shows the real CNAME and TXT
records with copy buttons, and "Check DNS now" says what it found."""

from __future__ import annotations

import html
from typing import Any

import pytest

from admin.web.forms import pasted_hostname
from tests.helpers.dns_server import EDGE_NAME, Zone
from tests.helpers.web import Web


@pytest.mark.parametrize(
    ("pasted", "host"),
    [
        ("https://go.example.org/", "go.example.org"),
        ("  http://Go.Example.org:8443/x?y=1#z ", "Go.Example.org"),
        ("go.example.org/", "go.example.org"),
        ("user@go.example.org", "go.example.org"),
        ("go.example.org", "go.example.org"),
    ],
)
def test_a_pasted_url_names_its_host(pasted: str, host: str) -> None:
    assert pasted_hostname(pasted) == host


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_the_page_shows_the_records_and_explains_the_check(web: Web, dns: Zone) -> None:
    added = web.post("/domains", {"hostname": "https://Go.Acme.test/"}, page="/domains")
    assert added.status_code == 302, added.get_data(as_text=True)
    path = added.headers["Location"]
    page = _text(web.get(path))
    assert "<h1>go.acme.test</h1>" in page and "pending: not serving yet" in page
    token = page.split('id="txt-value">', 1)[1].split("<", 1)[0]
    assert token.startswith("smartlinks-verify=")
    for copied in ("go.acme.test", EDGE_NAME, "_smartlinks.go.acme.test", token):
        assert f'data-copy="{copied}"' in page, copied
    assert f'id="cname-value">{EDGE_NAME}<' in page

    # Nothing in DNS: the check says so, and what to do.
    checked = _text(web.post(f"{path}/verify", page=path))
    assert "Not verified yet: DNS shows no record" in checked
    # A CNAME elsewhere: the check names what it found.
    dns.set("go.acme.test", "CNAME", "other.example.test")
    checked = _text(web.post(f"{path}/verify", page=path))
    assert "CNAME other.example.test" in checked and "pending" in checked
    # The TXT record: verified.
    dns.set("_smartlinks.go.acme.test", "TXT", token)
    checked = _text(web.post(f"{path}/verify", page=path))
    assert "Verified: the TXT record" in checked
    assert 'id="domain-status">verified' in checked
    listed = _text(web.get("/domains"))
    assert ">verified</span>" in listed


def test_without_the_edge_name_the_txt_record_still_finishes_the_set_up(
    web: Web, dns: Zone, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "EDGE_CNAME_TARGET", "")
    path = web.post("/domains", {"hostname": "go.acme.test"}, page="/domains").headers["Location"]
    page = _text(web.get(path))
    assert "not configured on this server" in page and "EDGE_CNAME_TARGET" in page
    assert "(the edge's public hostname)" not in page
