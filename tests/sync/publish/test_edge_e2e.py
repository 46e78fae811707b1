"""End to end: a change committed in Postgres serves at a real granian edge within one second,
through a real `smartlinks sync` process."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis
from flask import Flask

from admin.services.orgs import NewOrg
from tests.conftest import Servers
from tests.servers import http_role, smartlinks_process
from tests.sync import factory
from tests.sync.publish.helpers import sync_ready

BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _within_a_second(
    get: Callable[[], httpx.Response], want: Callable[[httpx.Response], bool], what: str
) -> float:
    started = time.perf_counter()
    last = None
    while time.perf_counter() - started < 1.0:
        last = get()
        if want(last):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise AssertionError(
        f"{what} did not serve within 1 s; last answer {last and (last.status_code, last.headers.get('location'))}"
    )


def test_changes_serve_at_the_edge_within_a_second(
    app: Flask, org: NewOrg, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    env = clean.env()
    with (
        smartlinks_process(["sync"], env, tmp_path) as sync_proc,
        http_role("edge", env, tmp_path, "EDGE_PORT") as (_, base),
    ):
        sync_ready(rdb, sync_proc)
        http = httpx.Client(base_url=base, headers={"User-Agent": BROWSER}, timeout=5)

        def visit(host: str, code: str) -> Callable[[], httpx.Response]:
            return lambda: http.get(f"/{code}", headers={"Host": host})

        def redirects_to(url: str) -> Callable[[httpx.Response], bool]:
            return lambda r: r.status_code == 302 and r.headers.get("location") == url

        # A new domain, link, contact and code.
        dom = factory.domain(org.org_id, "edge.example.test")
        lnk = factory.link(org.org_id, dom, "https://example.org/hi?team={{fields.team}}")
        person = factory.contact(org.org_id, "+15556660000", fields={"team": "red"})
        codes = factory.issue(org.org_id, lnk, [person.id])
        code = codes[person.id]
        lags = {
            "new domain, link, contact, code": _within_a_second(
                visit("edge.example.test", code),
                redirects_to("https://example.org/hi?team=red"),
                "a new issued code",
            )
        }
        factory.update(lnk, destination="https://example.org/edited?team={{fields.team}}")
        lags["edit"] = _within_a_second(
            visit("edge.example.test", code),
            redirects_to("https://example.org/edited?team=red"),
            "an edit",
        )
        factory.update(person, fields={"team": "blue"})
        lags["contact field"] = _within_a_second(
            visit("edge.example.test", code),
            redirects_to("https://example.org/edited?team=blue"),
            "a changed contact field",
        )
        factory.update(lnk, archived=True)
        lags["archive"] = _within_a_second(
            visit("edge.example.test", code), lambda r: r.status_code == 410, "an archive"
        )
        other = factory.domain(org.org_id, "second.example.test", "https://example.org/fallback")
        lnk2 = factory.link(org.org_id, other, "https://example.org/second")
        generic = factory.issue(org.org_id, lnk2, [None])[None]
        lags["second domain"] = _within_a_second(
            visit("second.example.test", generic),
            redirects_to("https://example.org/second"),
            "a new domain",
        )
        http.close()
    print(
        "\ncommit -> served at the edge: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in lags.items())
    )
