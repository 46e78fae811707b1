"""Every page of the admin in a real browser: axe-core's verdict, horizontal overflow and tap
targets on a phone, and a screenshot at both sizes (for the browser tests)."""

from __future__ import annotations

import re
import time
from typing import Any

from admin.web.plain import plain
from tests.helpers.browser import screenshot

LAPTOP = (1366, 900)
PHONE = (390, 844)
SIZES = {"laptop": LAPTOP, "phone": PHONE}
TAP = 44  # px: WCAG 2.5.5's target size, Apple's and Google's guidance
SKIPPED = re.compile(r"\.(json|csv|png|svg)$|^/(api|static|media|healthz|login|logout|invite)\b")

# Serious and critical only: moderate findings (say, a region landmark) are advice.
BLOCKING = {"serious", "critical"}

_TAP_TARGETS = """(min) => {
  const small = [];
  const seen = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' ? r : null;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') +
    ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30) + '"';
  const controls = 'a.btn, button, select, textarea, .nav a, [role=option], ' +
    'input:not([type=hidden]):not([type=checkbox]):not([type=radio])';
  for (const el of document.querySelectorAll(controls)) {
    const r = seen(el);
    if (!r) continue;
    const wide = el.matches('input, select, textarea') ? true : r.width >= min;
    if (r.height < min - 0.5 || !wide) small.push(`${name(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  for (const el of document.querySelectorAll('input[type=checkbox], input[type=radio]')) {
    if (!seen(el)) continue;
    const label = el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`));
    const r = label && seen(label);
    if (!r || r.height < min - 0.5) small.push(`${name(el)} (its label is under ${min} px)`);
  }
  return small;
}"""


# WTForms' own words, which name no field ("Field must be between 8 and 1024 characters long.").
_BOILERPLATE = re.compile(r"\b(Field must be|This field is required|Not a valid)\b")


def unplain_errors(page: Any) -> list[str]:
    """The messages shown to the person (flashes, field errors, alerts) that name an API field
    (``contact_ids``) or are WTForms' boilerplate."""
    shown = page.eval_on_selector_all(
        ".flash, .error, [data-field-error], [role=alert]",
        "els => els.map(e => e.innerText.trim()).filter(Boolean)",
    )
    return [t for t in shown if plain(t) != t or _BOILERPLATE.search(t)]


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
        for v in found
        if v.get("impact") in BLOCKING
    ]


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling). Against
    the window's set width, not ``innerWidth``: a phone zooms out to show a page that is too
    wide, and ``innerWidth`` grows with it, so that it would always fit."""
    width = int(page.evaluate("document.scrollingElement.scrollWidth"))
    return width - int(page.viewport_size["width"])


def scrolled_boxes(page: Any) -> list[str]:
    """The boxes (a table's wrapper, say) whose content is wider than they are: the page fits,
    but a person must scroll inside them sideways to see the rest."""
    return list(
        page.eval_on_selector_all(
            ".table-wrap, .card, .toolbar, .bulk-bar",
            """els => els.filter(e => e.scrollWidth > e.clientWidth + 1)
                 .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className} `
                   + `${e.scrollWidth}>${e.clientWidth} px`)""",
        )
    )


def small_tap_targets(page: Any) -> list[str]:
    return list(page.evaluate(_TAP_TARGETS, TAP))


def shot_name(path: str) -> str:
    name = re.sub(r"\d+", "N", path.strip("/")) or "home"
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


class Settled:
    """Waits until a page has loaded and every request it made since has its answer, and
    100 ms went by with none in flight. Playwright's "networkidle" waits for 500 ms without a
    request: on the sweep of every page at two sizes that was 29 s of its 83 s."""

    QUIET_MS = 100

    def __init__(self, page: Any) -> None:
        self.page = page
        self.in_flight: set[Any] = set()
        # (lambdas: Playwright wraps a handler, and cannot wrap a builtin method)
        page.on("request", lambda r: self.in_flight.add(r))
        page.on("requestfinished", lambda r: self.in_flight.discard(r))
        page.on("requestfailed", lambda r: self.in_flight.discard(r))

    def wait(self, timeout_s: float = 10.0) -> None:
        self.page.wait_for_load_state("load")
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(20)  # Playwright's events are delivered meanwhile
            if self.in_flight:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= self.QUIET_MS / 1000:
                return
        raise AssertionError(f"{self.page.url}: requests still in flight: {self.in_flight}")


def check_page(page: Any, size: str, name: str) -> list[str]:
    """Every problem of the page as loaded, at ``size``; saves its screenshot."""
    problems = [f"{name} {size}: {v}" for v in axe_violations(page)]
    problems += [f"{name} {size}: not in plain words: {t!r}" for t in unplain_errors(page)]
    if size == "phone":
        extra = overflow(page)
        if extra > 0:
            problems.append(f"{name} phone: {extra} px wider than the screen")
        problems += [f"{name} phone: small tap target {t}" for t in small_tap_targets(page)]
        problems += [f"{name} phone: scrolls sideways inside {b}" for b in scrolled_boxes(page)]
    screenshot(page, f"{size}-{name}")
    return problems


def check_both(page: Any, name: str) -> list[str]:
    """``check_page`` at both sizes, for a page a walk reached (after a form, with data that
    the sweep of every route does not have): the same tab is narrowed to a phone's width and
    widened back, so the walk goes on where it was."""
    before = page.viewport_size
    problems: list[str] = []
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        problems += check_page(page, size, name)
    page.set_viewport_size(before)
    return problems


def page_paths(app: Any, ids: dict[str, int]) -> list[str]:
    """Every page (a GET route that answers HTML) of the web UI, with ``ids`` filled in."""
    paths = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" not in rule.methods
            or rule.endpoint == "web.static"
            or not rule.endpoint.startswith("web.")
        ):
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        if "<" in path or SKIPPED.search(path) or path == "/":
            continue
        paths.append(path)
    return sorted(set(paths))
