"""Debian's Chromium for the Playwright tests, where their screenshots go, and the one
organisation a stack of real processes serves."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from flask import Flask

from admin import create_app
from admin.extensions import db
from admin.services.orgs import NewOrg, create_org
from tests.conftest import Api, Servers, _app_config, _reset

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# An import runs in a niced job process: on a loaded machine it may wait its turn for a core.
IMPORT_DONE_MS = 30_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(path).exists():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# A person's phone, as the edge sees it: a click by a human.
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@contextmanager
def org_app(servers: Servers, name: str, email: str, password: str) -> Iterator[tuple[Flask, NewOrg, Api]]:
    """Empty ``servers`` and create one organisation (its owner signs in with ``email``); inside,
    the app's context and the organisation's API client, to seed what the test needs."""
    _reset(servers)
    app = create_app(_app_config(servers))
    with app.app_context():
        org = create_org(name, email, password)
        yield app, org, Api(app.test_client(), org.api_token)
        db.engine.dispose()  # the processes under test connect on their own


def fresh_org(servers: Servers, name: str, email: str, password: str) -> NewOrg:
    """Empty ``servers`` and create one organisation, for tests that drive real admin, edge and
    worker processes."""
    with org_app(servers, name, email, password) as (_app, org, _api):
        return org


def sign_in(page: Any, email: str, password: str, lands: str = "**/links") -> None:
    """Sign in on the login page; the links list greets the person (or ``lands``: the
    two-factor step)."""
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lands)


def edge_get(edge_url: str, url: str) -> httpx.Response:
    """GET a short URL at the edge from a phone (plain HTTP, routed on the Host header)."""
    host, _, path = url.split("://", 1)[1].partition("/")
    return httpx.get(f"{edge_url}/{path}", headers={"Host": host, "User-Agent": IPHONE}, timeout=5)


@contextmanager
def watched_page(browser: Any, base_url: str, height: int) -> Iterator[Any]:
    """A page in a new browser context (1280 wide), closed after; an error in its console (a
    CSP violation or a script error shows up there) fails the test."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, errors
