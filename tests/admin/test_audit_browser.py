"""The audit log page in a real browser, against a real admin process: axe-clean, the kind
filter, the older pages, and the retention form above it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from admin import create_app
from admin.extensions import db
from admin.services import audit
from tests.conftest import Api, Servers, _app_config
from tests.helpers.browser import fresh_org, sign_in
from tests.helpers.pages import SIZES, check_page
from tests.servers import http_role

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL = "audit@acme.test"
PASSWORD = "an audit password"
DOMAINS = 55  # more than a page (50)


@pytest.fixture(scope="module")
def admin_url(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    org = fresh_org(servers, "Audit Campaign", EMAIL, PASSWORD)
    with create_app(_app_config(servers)).app_context() as ctx:
        api = Api(ctx.app.test_client(), org.api_token)
        api.post("/api/v1/domains", {"hostname": "d0.audit.test"})
        for n in range(1, DOMAINS):  # the rest written straight, in one transaction
            audit.record(org.org_id, "domain.create", f"d{n}.audit.test", after={"n": n})
        db.session.commit()
        api.post(
            "/api/v1/links",
            {"name": "A long one", "domain": "d0.audit.test",
             "destination": "https://example.org/" + "very-long-path/" * 12 + "?q={{first_name}}"},
        )  # fmt: skip
        db.engine.dispose()
    logs = tmp_path_factory.mktemp("audit")
    with http_role("admin", servers.env(), logs, "ADMIN_PORT") as (_admin, url):
        yield url


def test_the_audit_log_in_a_browser(browser: Any, admin_url: str) -> None:
    """At a laptop's size; the sweep of every page (web/test_pages_browser.py) checks this
    one at a phone's size too."""
    from playwright.sync_api import expect

    width, height = SIZES["laptop"]
    context = browser.new_context(base_url=admin_url, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, EMAIL, PASSWORD)
    page.goto("/audit")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(50)
    assert check_page(page, "laptop", "audit") == []

    page.select_option("select[name=kind]", "link")  # submits itself (data-autosubmit)
    page.wait_for_url("**/audit?kind=link")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-action", "link.create")
    page.select_option("select[name=kind]", "domain")
    page.wait_for_url("**/audit?kind=domain")
    page.click("text=Older →")
    expect(rows).to_have_count(DOMAINS - 50)
    expect(rows.last).to_contain_text("d0.audit.test")
    expect(rows.last).to_contain_text("audit@acme.test (API token")

    days = "45"
    page.fill("#click_retention_days", days)
    page.click("#retention-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text(f"{days} days")
    expect(rows.first).to_have_attribute("data-action", "settings.click_retention")
    context.close()
