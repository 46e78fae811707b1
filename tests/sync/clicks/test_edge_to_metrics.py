"""End to end: a contact's click at a real edge is in the link's metrics within one second,
through real `smartlinks sync`, `smartlinks edge` and `smartlinks drain` processes; a preview
fetcher counts under previews and runs no action; HEAD counts nothing."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis
from flask import Flask

from admin.extensions import db
from admin.services.orgs import NewOrg
from tests.conftest import Api, Servers
from tests.servers import http_role, smartlinks_process
from tests.sync import factory
from tests.sync.clicks.helpers import IPHONE, scalar
from tests.sync.publish.helpers import sync_ready


def test_edge_click_shows_in_metrics_within_a_second(
    app: Flask, org: NewOrg, api: Api, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    dom = factory.domain(org.org_id, "go.e2e.test")
    lnk = factory.link(
        org.org_id,
        dom,
        "https://example.org/rsvp?first={{first_name}}",
        name="Gala RSVP",
        actions=[{"type": "whisper"}, {"type": "add_tag", "tag": "gala-clicked"}],
    )
    person = factory.contact(org.org_id, "+15556667777", first_name="Ann")
    code = factory.issue(org.org_id, lnk, [person.id])[person.id]
    link_id, contact_id = lnk.id, person.id
    db.session.commit()
    env = clean.env()

    def metrics() -> dict[str, int]:
        db.session.rollback()
        body: dict[str, int] = api.get(f"/api/v1/links/{link_id}/metrics").get_json()
        return body

    with (
        smartlinks_process(["sync"], env, tmp_path) as sync_proc,
        smartlinks_process(["drain"], env, tmp_path) as drain_proc,
        http_role("edge", env, tmp_path, "EDGE_PORT") as (_, base),
    ):
        sync_ready(rdb, sync_proc)
        http = httpx.Client(base_url=base, headers={"Host": "go.e2e.test"}, timeout=5)
        deadline = time.monotonic() + 20
        while http.head(f"/{code}", headers={"User-Agent": IPHONE}).status_code != 302:
            assert time.monotonic() < deadline, "the code never reached the edge"
            time.sleep(0.05)
        assert metrics()["clicks"] == 0  # HEAD counts nothing

        r = http.get(f"/{code}", headers={"User-Agent": IPHONE})
        clicked = time.monotonic()
        assert r.status_code == 302
        while metrics()["clicks"] != 1:
            assert time.monotonic() - clicked < 1.0, f"not in metrics after 1 s\n{drain_proc.log()}"
            time.sleep(0.01)
        lag = time.monotonic() - clicked

        preview = http.get(f"/{code}", headers={"User-Agent": "facebookexternalhit/1.1"})
        assert preview.status_code == 200
        fetched = time.monotonic()
        while metrics()["previews"] != 1:
            assert time.monotonic() - fetched < 1.0, "preview not counted within 1 s"
            time.sleep(0.01)
    print(f"\nedge click to metrics: {lag * 1000:.0f} ms")
    m = metrics()
    assert (m["clicks"], m["unique_clicks"], m["previews"]) == (1, 1, 1)
    # One whisper and one tag, for the person's click only.
    assert scalar("SELECT count(*) FROM history_events WHERE contact_id = :c", c=contact_id) == 1
    body = scalar("SELECT body FROM history_events WHERE contact_id = :c", c=contact_id)
    assert body.startswith(f"Clicked Gala RSVP: https://go.e2e.test/{code} at ")
    assert scalar("SELECT count(*) FROM contact_tags WHERE contact_id = :c", c=contact_id) == 1
    assert scalar("SELECT device || '/' || os FROM clicks WHERE kind = 'human'") == "iPhone/iOS"
