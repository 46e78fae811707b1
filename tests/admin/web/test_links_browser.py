"""The organiser's walks in a real browser, with real admin, sync, drain and edge processes:
the list's shared URL and QR download, bulk archive, an expiry set in the form that the edge
obeys (410, nothing recorded), partial issuing with its CSV, bulk add-to-list from a drill-down
and bulk tagging from the Lists & tags page, and an import with duplicates and the rejected
rows' download. Each state a walk reaches is checked (axe, and on a phone overflow and tap
targets) and shot at both sizes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from admin import create_app
from admin.extensions import db
from admin.services.orgs import create_org
from admin.services.ownership import operator_verify
from core import keys
from tests.conftest import Api, Servers, _app_config, _reset
from tests.helpers.browser import IMPORT_DONE_MS, screenshot
from tests.helpers.pages import check_both
from tests.servers import http_role, smartlinks_process

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL = "glance@acme.test"
PASSWORD = "a glance password"
HOST = "go.glance.test"
PERSON = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@dataclass
class Stack:
    admin: str
    edge: str
    redis_url: str
    links: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def stack(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _reset(servers)
    app = create_app(_app_config(servers))
    with app.app_context():
        org = create_org("Glance Campaign", EMAIL, PASSWORD)
        api = Api(app.test_client(), org.api_token)
        api.post("/api/v1/domains", {"hostname": HOST})
        operator_verify(HOST)  # only a verified domain serves (docs/decisions/0007)
        made = {}
        api.post("/api/v1/contacts", {"phone": "+15550100001", "first_name": "Ada"})
        api.post("/api/v1/contacts", {"phone": "+15550100002", "first_name": "Grace"})
        for name in ("Poster", "Old flyer", "Older flyer", "Issue me"):
            answer = api.post(
                "/api/v1/links",
                {"name": name, "destination": "https://example.org/" + name[:3], "domain": HOST},
            )
            made[name] = answer.get_json()
        db.engine.dispose()
    logs = tmp_path_factory.mktemp("glance")
    env = servers.env()
    with (
        http_role("admin", env, logs, "ADMIN_PORT") as (_admin, admin_url),
        http_role("edge", env, logs, "EDGE_PORT") as (_edge, edge_url),
        smartlinks_process(["sync"], env, logs),
        smartlinks_process(["drain"], env, logs),
    ):
        yield Stack(admin_url, edge_url, servers.redis_url, made)


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(
        base_url=stack.admin, viewport={"width": 1366, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/links")
    yield page
    context.close()


def _edge_get(stack: Stack, url: str) -> httpx.Response:
    host, _, path = url.split("://", 1)[1].partition("/")
    return httpx.get(f"{stack.edge}/{path}", headers={"Host": host, "User-Agent": PERSON})


def _until(check: Any, what: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_qr_download_from_the_list(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    poster = stack.links["Poster"]
    row = page.locator(f'tr[data-link-id="{poster["id"]}"]')
    expect(row.locator("[data-shared-url]")).to_have_text(poster["url"])
    expect(page.locator("#links-table thead")).to_contain_text("Shared URL")
    with page.expect_download() as info:
        row.get_by_role("link", name="QR code of Poster (PNG)").click()
    download = info.value
    assert download.suggested_filename == f"link-{poster['id']}-qr.png"
    assert Path(download.path()).read_bytes().startswith(b"\x89PNG")
    page.goto(f"/links/{poster['id']}")
    with page.expect_download() as info:
        page.click("#qr-svg")
    assert b"<svg" in Path(info.value.path()).read_bytes()
    assert not check_both(page, "glance-link-qr")


def test_bulk_archive_from_the_list(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    old, older = stack.links["Old flyer"], stack.links["Older flyer"]
    for link in (old, older):
        page.check(f'tr[data-link-id="{link["id"]}"] input[name=link_ids]')
    expect(page.locator("[data-selected-count]")).to_have_text("2 ticked")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#links-bulk button[value=archive]")
    expect(page.locator(".flash-success")).to_have_text("2 links archived.")
    expect(page.locator("tr[data-link-id]")).to_have_count(2)  # Poster and Issue me
    screenshot(page, "glance-links-after-bulk-archive")
    # Sync publishes the archive: the edge answers 410 for both.
    for link in (old, older):
        _until(lambda link=link: _edge_get(stack, link["url"]).status_code == 410, "archived")


def test_an_expiry_set_in_the_form_holds_at_the_edge(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    poster = stack.links["Poster"]
    rdb = redis.Redis.from_url(stack.redis_url)
    _until(lambda: _edge_get(stack, poster["url"]).status_code == 302, "the edge serves it")
    recorded = rdb.xlen(keys.CLICK_STREAM)
    assert recorded >= 1  # a person's click before the expiry is recorded
    page.goto(f"/links/{poster['id']}/edit")
    page.fill("#expires_at", "2024-01-01T09:00")
    page.click("#save-link")
    expect(page.locator("#link-expiry")).to_contain_text("2024-01-01 09:00")
    expect(page.locator("#link-expiry .badge")).to_have_text("expired")
    answer = _until(
        lambda: (r := _edge_get(stack, poster["url"])).status_code == 410 and r, "the expiry"
    )
    assert answer.status_code == 410
    _edge_get(stack, poster["url"])
    assert rdb.xlen(keys.CLICK_STREAM) == recorded  # no click after the expiry
    page.goto("/links?show=all")
    expect(page.locator(f'tr[data-link-id="{poster["id"]}"] [data-expired]')).to_be_visible()
    rdb.close()


def test_partial_issuing_and_the_csv_download(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    link = stack.links["Issue me"]
    page.goto(f"/links/{link['id']}")
    # Nobody known: the error stands beside the field, what was typed is kept.
    page.fill("#issue-contacts", "+15559999999")
    page.click("#issue-form button[type=submit]")
    expect(page.locator("#issue-error")).to_contain_text("none of these is one of your contacts")
    expect(page.locator("#issue-contacts")).to_have_value("+15559999999")
    expect(page.locator("#issue-contacts")).to_be_focused()
    expect(page.locator("#issue-error")).to_be_in_viewport()
    assert not check_both(page, "issue-error-beside-the-form")
    # Two known and one unknown: the known get their URLs, the unknown is listed.
    page.fill("#issue-contacts", "+15550100001\n+15559999999\n+15550100002")
    page.click("#issue-form button[type=submit]")
    expect(page.locator("[data-issued-url]")).to_have_count(2)
    expect(page.locator("#unknown-contacts li")).to_have_text(["+15559999999"])
    assert not check_both(page, "issue-partial")
    shown = page.locator("[data-issued-url]").all_inner_texts()
    with page.expect_download() as info:
        page.click("#issued-csv button")
    rows = Path(info.value.path()).read_text().splitlines()
    assert rows[0] == "contact_id,first_name,last_name,phone,url"
    assert [r.split(",")[3:] for r in rows[1:]] == [
        ["+15550100001", shown[0]],
        ["+15550100002", shown[1]],
    ]
    stack.links["Issue me"]["issued"] = shown


def test_bulk_add_to_list_from_a_drill_down(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    link = stack.links["Issue me"]
    ada_url = link["issued"][0]  # Ada's URL, issued by the test above
    _until(lambda: _edge_get(stack, ada_url).status_code == 302, "the edge serves Ada's URL")
    page.goto(f"/links/{link['id']}")
    expect(page.locator('[data-stat="clicks"] [data-value]')).not_to_have_text("0")
    page.click('[data-stat="clicks"]')
    row = page.locator("#drilldown tr[data-contact-id]")
    expect(row).to_have_count(1)
    expect(row.locator("[data-contact-row]")).to_have_text("Ada")
    _bulk(
        page, row.locator("input[name=contact_ids]"), "add_to_list", "Clicked the gala",
        "bulk-drill-down", "1 person added to the list 'Clicked the gala'.",
    )  # fmt: skip
    page.click("#drilldown [data-contact-row]")
    expect(page.locator("#contact-lists")).to_contain_text("Clicked the gala")
    contact_page = page.url
    # The list's own page of bulk work: tick the list, and its people are who the action reaches.
    page.goto("/lists")
    _bulk(
        page, page.locator('#lists tr:has-text("Clicked the gala") input[name=list_ids]'), "tag",
        "gala-people", "bulk-lists-and-tags", "1 person tagged 'gala-people'.",
    )  # fmt: skip
    expect(page.locator('#tags tr[data-tag="gala-people"] td[data-label=Contacts]')).to_have_text(
        "1 contact"
    )
    page.goto(contact_page)
    expect(page.locator("#contact-tags")).to_contain_text("gala-people")


def _bulk(page: Any, box: Any, action: str, name: str, shot: str, done: str) -> None:
    """Tick ``box``, choose the bulk bar's ``action`` on ``name``, check the page (both sizes),
    apply, and see the flash ``done``."""
    from playwright.sync_api import expect

    box.check()
    expect(page.locator("[data-selected-count]")).to_have_text("1 ticked")
    page.select_option("#bulk-action", action)
    page.fill("#bulk-name", name)
    assert not check_both(page, shot)
    page.click("#bulk-apply")
    expect(page.locator(".flash-success")).to_have_text(done)


def test_import_with_duplicates_and_the_rejected_rows(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    page.goto("/contacts/import")
    page.set_input_files(
        "#file",
        files=[{
            "name": "more.csv",
            "mimeType": "text/csv",
            "buffer": (
                b"phone,first_name,email\n"
                b"+15550100001,Not Ada,ada@example.org\n"  # Ada's phone: a duplicate
                b"+15550100009,Hedy,hedy@\n"  # a bad email: kept without it
                b"12,Nobody,\n"  # no phone: rejected
            ),
        }],
    )  # fmt: skip
    page.select_option("#duplicates", "skip")
    page.fill("#list_name", "Imported in spring")
    page.fill("#tags", "spring")
    screenshot(page, "import-form")
    page.click("text=Upload and import")
    expect(page.locator("#import-status")).to_have_text("Done", timeout=IMPORT_DONE_MS)
    expect(page.locator("#import-summary")).to_have_text("2 imported, 1 rejected.")
    expect(page.locator("#import-errors tr")).to_have_count(2)
    assert not check_both(page, "import-with-rejected-rows")
    with page.expect_download() as info:
        page.click("#rejected-csv")
    rows = Path(info.value.path()).read_text().splitlines()
    assert rows[0] == "line,reason,phone,first_name,email"
    assert len(rows) == 2 and rows[1].startswith("4,") and rows[1].endswith(",12,Nobody,")
    # The duplicate was skipped: Ada keeps her name; both are on the list.
    page.goto("/contacts?list=Imported+in+spring")
    names = page.locator("#contacts-table [data-contact-id] a.cell-title").all_inner_texts()
    assert sorted(names) == ["Ada", "Hedy"], names


def test_a_custom_date_range(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    link = stack.links["Issue me"]  # Ada clicked it in the drill-down walk
    page.goto(f"/links/{link['id']}")
    expect(page.locator("#live-label")).to_contain_text("live")
    page.click("#custom-range")
    today = page.locator("#to").input_value()
    page.fill("#from", "2020-01-01")
    page.fill("#to", "2020-01-31")
    page.click("#range-form button[type=submit]")
    expect(page.locator('[data-range-stat="clicks"] .stat-value')).to_have_text("0")
    page.fill("#from", today)
    page.fill("#to", today)
    page.click("#range-form button[type=submit]")
    expect(page.locator('[data-range-stat="clicks"] .stat-value')).to_have_text("1")
    expect(page.locator('[data-range-stat="people"] .stat-value')).to_have_text("1")
    expect(page.locator(f'#range-chart rect.bar[data-day="{today}"]')).to_have_count(1)
    expect(page.locator("#range-zone")).to_contain_text("Days in UTC")
    assert not check_both(page, "custom-date-range")
