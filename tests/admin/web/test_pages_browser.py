"""Every page in a real browser at 1366x900 and 390x844: no serious or critical axe-core
finding, no horizontal scrolling and 44 px tap targets on a phone, a menu that fits, the
conversation's link picker by keyboard, and a screenshot of each page at both sizes.

"Every page" is every GET route of the web UI (from the app's URL map, so a new page is swept
without a change here), the pages a person sees signed out (the login, its two-factor step,
an invitation), the "not found" page, and the pages a form answers with (an invitation link,
a new API token)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from admin.extensions import db
from admin.models import User
from admin.services import team, totp
from admin.services.orgs import create_org
from tests.conftest import Servers
from tests.helpers.browser import org_app, sign_in
from tests.helpers.pages import SIZES, Settled, check_page, overflow, page_paths, shot_name
from tests.helpers.routes import seed_theirs
from tests.servers import http_role

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL = "pages@acme.test"
PASSWORD = "a pages password"
TOTP_EMAIL = "twofactor@acme.test"


@dataclass
class Site:
    admin: str
    paths: list[str]
    ids: dict[str, int]
    logs: Path
    invite_token: str


@pytest.fixture(scope="module")
def site(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The admin on real processes, with one of everything each page shows."""
    with org_app(servers, "Pages Campaign", EMAIL, PASSWORD) as (app, org, api):
        ids = seed_theirs(api)
        contact = api.post(
            "/api/v1/contacts",
            {"phone": "+15551230001", "first_name": "Ada", "last_name": "Lovelace"},
        ).get_json()
        second = api.post(
            "/api/v1/links",
            {
                "name": "Second link",
                "destination": "https://example.org/2",
                "domain": "go.rival.test",
            },
        )
        assert second.status_code == 201, second.get_json()
        ids["contact_id"] = contact["id"]
        api.post(f"/api/v1/contacts/{contact['id']}/tags", {"tag": "volunteer"})
        owner = db.session.get(User, org.user_id)
        invite_token = team.invite(org.org_id, owner, "invited@acme.test", "member").token
        # Someone with two-factor sign-in on: their login stops at its second step.
        second = create_org("Two-factor Campaign", TOTP_EMAIL, PASSWORD)
        secret = totp.new_secret()
        assert totp.enable(db.session.get(User, second.user_id), secret, pyotp.TOTP(secret).now())
        db.session.commit()
        ids.update(user_id=org.user_id, org_id=org.org_id)
        paths = page_paths(app, ids)
    logs = tmp_path_factory.mktemp("pages")
    with http_role("admin", servers.env(), logs, "ADMIN_PORT") as (_admin, url):
        yield Site(url, paths, ids, logs, invite_token)


def _context(browser: Any, site: Site, size: str) -> Any:
    width, height = SIZES[size]
    return browser.new_context(
        base_url=site.admin,
        viewport={"width": width, "height": height},
        is_mobile=size == "phone",
        has_touch=size == "phone",
    )


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_page_is_accessible_and_fits(browser: Any, site: Site, size: str) -> None:
    context = _context(browser, site, size)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    settled = Settled(page)
    problems: list[str] = []
    # Signed out: the login, an invitation, and the login's two-factor step.
    page.goto("/login")
    problems += check_page(page, size, "login")
    page.goto(f"/invite/{site.invite_token}")
    problems += check_page(page, size, "invite")
    sign_in(page, TOTP_EMAIL, PASSWORD, lands="**/login/totp")
    problems += check_page(page, size, "login-totp")
    context.clear_cookies()
    sign_in(page, EMAIL, PASSWORD)
    assert len(site.paths) >= 15, site.paths  # the sweep found the pages
    for path in site.paths:
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        assert answer.headers["x-frame-options"] == "DENY", path
        settled.wait()
        problems += check_page(page, size, shot_name(path))
    answer = page.goto("/links/999999999")
    assert answer is not None and answer.status == 404
    problems += check_page(page, size, "not-found")
    # The pages a form answers with.
    page.goto("/team")
    page.fill("#email", f"{size}@acme.test")
    page.click("text=Create invitation link")
    page.wait_for_url("**/team/invite")
    problems += check_page(page, size, "team-invited")
    page.goto("/tokens")
    page.fill("#name", f"CRM sync {size} {time.time()}")
    page.click("text=Create token")
    page.wait_for_selector("text=Copy token")
    problems += check_page(page, size, "token-created")
    context.close()
    assert not errors, errors
    assert not problems, "\n".join(problems)


def test_the_menu_fits_a_phone_and_folds(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    context = _context(browser, site, "phone")
    page = context.new_page()
    sign_in(page, EMAIL, PASSWORD)
    nav = page.locator("#main-nav a")
    toggle = page.locator("#menu-toggle")
    expect(toggle).to_be_visible()
    expect(nav.first).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert nav.count() >= 6
    for i in range(nav.count()):
        box = nav.nth(i).bounding_box()
        assert box is not None, nav.nth(i).inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (nav.nth(i).inner_text(), box)
        assert box["height"] >= 44, (nav.nth(i).inner_text(), box)
    assert overflow(page) <= 0
    page.keyboard.press("Escape")
    expect(nav.first).to_be_hidden()
    expect(toggle).to_be_focused()
    # Every item leads somewhere.
    toggle.click()
    nav.filter(has_text="Contacts").click()
    page.wait_for_url("**/contacts")
    context.close()


def test_skip_link_reaches_the_content(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    context = _context(browser, site, "laptop")
    page = context.new_page()
    sign_in(page, EMAIL, PASSWORD)
    # On a laptop the whole menu shows, and no Menu button.
    expect(page.locator("#menu-toggle")).to_be_hidden()
    expect(page.locator("#main-nav a").last).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    context.close()


def test_the_link_picker_by_keyboard(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    context = _context(browser, site, "laptop")
    page = context.new_page()
    sign_in(page, EMAIL, PASSWORD)
    page.goto(f"/contacts/{site.ids['contact_id']}/conversation")
    body = page.locator("#composer-body")
    counter = page.locator("#composer-count")
    body.fill("Hi")
    expect(counter).to_contain_text("2 characters")
    clip = page.locator("#paperclip")
    clip.focus()
    page.keyboard.press("ArrowDown")
    options = page.locator("#link-picker [role=option]")
    expect(options.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps round to the last
    expect(options.last).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#link-picker")).to_be_hidden()
    expect(clip).to_be_focused()
    page.keyboard.press("Enter")  # the paperclip opens the picker on its first link
    expect(options.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    name = options.nth(1).get_attribute("data-name")
    page.keyboard.press("Enter")
    expect(page.locator("#link-picker")).to_be_hidden()
    expect(body).to_have_value(f"Hi [link: {name}]")
    expect(body).to_be_focused()
    # The counter follows the keyboard pick (the short URL replaces the placeholder).
    expect(counter).not_to_have_text(re.compile(r"· 2 characters$"))
    expect(counter).to_have_text(re.compile(r"^1 segment · \S+ · \d\d+ characters$"))
    context.close()
