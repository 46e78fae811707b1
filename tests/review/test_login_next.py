"""The login's ``next`` never sends the browser to another host."""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

import pytest

from tests.web.conftest import OWNER_EMAIL, OWNER_PASSWORD, Web, csrf_from

NEXTS = [
    "//evil.test/",
    "/\\evil.test",
    "\\\\evil.test",
    "https://evil.test/",
    "/\t/evil.test",
    "/\n/evil.test",
    "/\r\n/evil.test",
    "\t//evil.test",
    " //evil.test",
    "/ /evil.test",
    "/\x0b/evil.test",
    "/\x00/evil.test",
    "http:evil.test",
    "https:/evil.test",
    "/%2F/evil.test",
    "/%5Cevil.test",
    "/\u3002/evil.test",
    "/\uff0f/evil.test",
    "/@evil.test",
    "javascript:alert(1)",
    "/links\r\nSet-Cookie: x=1",
]


def _browser_target(location: str) -> str:
    """Where a browser goes: it drops tabs and newlines anywhere, and leading/trailing C0 and
    spaces, then resolves against the page's URL."""
    cleaned = "".join(ch for ch in location if ch not in "\t\n\r").strip("\x00\x01\x02 ")
    return urlsplit(urljoin("http://localhost/login", cleaned.replace("\\", "/"))).netloc


@pytest.mark.parametrize("target", NEXTS)
def test_login_next_stays_on_this_site(client, org, target):
    web = Web(client)
    page = web.get("/login?next=" + quote(target, safe=""))
    token = csrf_from(page.get_data(as_text=True))
    resp = web.client.post(
        "/login?next=" + quote(target, safe=""),
        data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": token},
    )
    assert resp.status_code in (302, 303), resp.status_code
    location = resp.headers["Location"]
    assert _browser_target(location) in ("", "localhost"), location
    assert "\n" not in location and "\r" not in location
    # Logged in: the same with a GET goes straight to the target.
    again = web.get("/login?next=" + quote(target, safe=""))
    assert _browser_target(again.headers.get("Location", "")) in ("", "localhost")
