"""The sending pages in a real browser (Playwright, Debian's Chromium) against real admin and
sender processes: the composer's live segment count, a broadcast sent and delivered through
the outbox, and the conversation's paperclip placing a link that becomes the contact's URL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Servers
from tests.helpers.browser import fresh_org, screenshot, sign_in, watched_page
from tests.servers import http_role, smartlinks_process

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL, PASSWORD = "sender@acme.test", "a sending password"


@dataclass
class Stack:
    admin: str
    api: httpx.Client
    link: dict[str, Any]
    ana: dict[str, Any]


@pytest.fixture(scope="module")
def stack(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    org = fresh_org(servers, "Sending Campaign", EMAIL, PASSWORD)
    logs = tmp_path_factory.mktemp("sending-stack")
    env = servers.env()
    with (
        http_role("admin", env, logs, "ADMIN_PORT") as (_admin, admin_url),
        smartlinks_process(["sender"], env, logs),
        httpx.Client(
            base_url=admin_url, headers={"Authorization": f"Bearer {org.api_token}"}
        ) as api,
    ):
        assert api.post("/api/v1/domains", json={"hostname": "go.send.test"}).status_code == 201
        link = api.post(
            "/api/v1/links",
            json={
                "name": "Gala RSVP",
                "destination": "https://example.org/r",
                "domain": "go.send.test",
            },
        ).json()
        ana = api.post(
            "/api/v1/contacts", json={"phone": "+15550107001", "first_name": "Ana"}
        ).json()
        api.post("/api/v1/contacts", json={"phone": "+15550107002", "first_name": "Bob"})
        yield Stack(admin_url, api, link, ana)


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:  # noqa: F811
    with watched_page(browser, stack.admin, 900) as page:
        sign_in(page, EMAIL, PASSWORD)
        yield page


def test_compose_with_live_count_and_send(page: Any, stack: Stack) -> None:
    page.goto("/broadcasts/new")
    page.check("input[name=to][value=contacts]")
    page.select_option("select[name=contact_ids]", [str(stack.ana["id"]), str(stack.ana["id"] + 1)])
    page.select_option("#link_id", str(stack.link["id"]))
    page.fill("#body", "Hi {{first_name}}, RSVP: {{link}}")
    count = page.locator("[data-preview=recipients]")
    count.filter(has_text="2").wait_for()
    assert page.locator("[data-preview=segments]").inner_text() == "1"
    assert page.locator("[data-preview=encoding]").inner_text() == "GSM-7"
    page.fill("#body", "Hi {{first_name}} 🎉 " + "x" * 60 + " {{link}}")
    page.locator("[data-preview=encoding]").filter(has_text="UCS-2").wait_for()
    assert page.locator("[data-preview=segments]").inner_text() == "2"
    assert page.locator("[data-preview=sample]").inner_text().startswith("Hi Ana 🎉")
    screenshot(page, "sending-compose")
    page.fill("#body", "Hi {{first_name}}, RSVP: {{link}}")
    page.click("button[value=send]")
    page.locator("#confirm-panel", has_text="Send to 2 people?").wait_for()
    page.click("button[value=confirm]")
    page.wait_for_url(re.compile(r"/broadcasts/\d+$"))
    # The sender process sends through the outbox: "sent" shows on a reload.
    deadline = time.monotonic() + 15
    while page.locator("#broadcast-messages .badge", has_text="sent").count() < 2:
        assert time.monotonic() < deadline, page.content()
        time.sleep(0.3)
        page.reload()
    assert "Hi Ana, RSVP: https://go.send.test/" in page.inner_text("#broadcast-messages")


def test_paperclip_places_the_link(page: Any, stack: Stack) -> None:
    page.goto(f"/contacts/{stack.ana['id']}/conversation")
    page.fill("#composer-body", "Your seat is ready:")
    page.click("#paperclip")
    page.click("#link-picker [data-link-id]")
    assert page.input_value("#composer-body") == "Your seat is ready: [link: Gala RSVP]"
    assert page.input_value("#composer-link") == str(stack.link["id"])
    page.locator("#composer-count", has_text="1 segment · GSM-7").wait_for()
    screenshot(page, "sending-conversation")
    page.click("#composer button[type=submit]")
    page.wait_for_url(f"**/contacts/{stack.ana['id']}/conversation")
    url = stack.api.post(
        f"/api/v1/links/{stack.link['id']}/issue", json={"contact_ids": [stack.ana["id"]]}
    ).json()["urls"][0]["url"]
    assert f"Your seat is ready: {url}" in page.inner_text("#conversation")
