"""Safe sending and results in a real browser against real admin and sender processes: the
outbox banner, a test send to one's own phone, a scheduled broadcast with quiet hours through
the confirmation, cancel, and a follow-up to those who did not click."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.admin.sending.test_browser import Stack, page, stack
from tests.helpers.browser import screenshot
from tests.sync.clicks.helpers import click_fields, record_clicks

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["page", "stack"]  # the fixtures, shared with the composer's browser tests


def contact(stack: Stack, phone: str, name: str, **extra: Any) -> dict[str, Any]:
    resp = stack.api.post("/api/v1/contacts", json={"phone": phone, "first_name": name, **extra})
    if resp.status_code == 409:  # made by an earlier test of the module
        found = stack.api.get("/api/v1/contacts", params={"phone": phone}).json()["contacts"]
        return dict(found[0])
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_confirm_test_send_schedule_quiet_hours_and_cancel(page: Any, stack: Stack) -> None:
    tokyo = contact(stack, "+15550107101", "Kenji", fields={"time_zone": "Asia/Tokyo"})
    new_york = contact(stack, "+12125550147", "Nia")
    page.goto("/broadcasts/new")
    assert "nothing leaves the building" in page.inner_text("#outbox-banner")
    page.check("input[name=to][value=contacts]")
    page.select_option("select[name=contact_ids]", [str(tokyo["id"]), str(new_york["id"])])
    page.fill("#body", "Rally on Sunday, {{first_name}}")
    # A test send to one's own phone goes now, rendered as the broadcast will be.
    page.fill("#test_phone", "+15550109999")
    page.click("button[value=test]")
    page.locator(".flash", has_text="Test sent to +15550109999: Rally on Sunday, Test send").wait_for()
    # Scheduled in two days at 14:00 UTC: 23:00 in Tokyo (held until 8:00), 9:00 in New York.
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    offset = page.evaluate("-new Date().getTimezoneOffset()")
    local = datetime(day.year, day.month, day.day, 14, 0) + timedelta(minutes=offset)
    page.fill("#send_at", local.strftime("%Y-%m-%dT%H:%M"))
    assert page.is_checked("#quiet_hours")
    page.locator("[data-preview=held_by_quiet_hours]", has_text="1").wait_for()
    page.click("button[value=send]")
    panel = page.locator("#confirm-panel")
    panel.wait_for()
    text = panel.inner_text()
    assert "Send to 2 people?" in text and "0 opted out and 0 unreachable" in text
    assert f"Scheduled for {day:%Y-%m-%d} 14:00 UTC" in text
    assert "Quiet hours hold 1 until 8:00" in text and "twilio $0.0166" in text
    screenshot(page, "sending-confirm")
    page.click("button[value=confirm]")
    page.wait_for_url(re.compile(r"/broadcasts/\d+$"))
    broadcast_id = int(page.url.rsplit("/", 1)[1])
    shown = stack.api.get(f"/api/v1/broadcasts/{broadcast_id}").json()
    assert shown["status"] == "scheduled" and shown["quiet_hours"] is True
    assert shown["send_at"].startswith(f"{day:%Y-%m-%d}T14:00:00")
    assert page.inner_text("[data-result=pending]") == "2"
    page.click("#cancel-broadcast")
    page.locator(".flash", has_text="Broadcast canceled: 2 messages will not be sent").wait_for()
    messages = stack.api.get(f"/api/v1/broadcasts/{broadcast_id}/messages").json()["messages"]
    assert {m["status"] for m in messages} == {"canceled"}


def test_follow_up_to_those_who_did_not_click(page: Any, stack: Stack, servers: Any) -> None:
    bob = contact(stack, "+15550107002", "Bob")
    first = stack.api.post(
        "/api/v1/broadcasts",
        json={"body": "Hi {{first_name}}: {{link}}", "link_id": stack.link["id"],
              "contact_ids": [stack.ana["id"], bob["id"]]},
    ).json()  # fmt: skip
    deadline = time.monotonic() + 20
    while {m["status"] for m in stack.api.get(
            f"/api/v1/broadcasts/{first['id']}/messages").json()["messages"]} != {"sent"}:  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # Ana clicks her link: the edge's stream entry, recorded by the drain.
    domain = stack.api.get("/api/v1/domains").json()["domains"][0]
    clicks = [click_fields(stack.link["id"], stack.ana["id"], domain["id"])]
    record_clicks(servers.redis_url, servers.database_url, clicks)
    page.goto(f"/broadcasts/{first['id']}")
    assert page.inner_text("[data-result=clicked]") == "1"
    assert page.inner_text("[data-result=click_rate]") == "50.0%"
    page.click("[data-follow-up=did_not_click]")
    page.wait_for_url("**/broadcasts/new?**")
    assert page.is_checked("input[name=to][value=follow_up]")
    page.fill("#body", "Still time to RSVP, {{first_name}}: {{link}}")
    page.select_option("#link_id", str(stack.link["id"]))
    page.locator("[data-preview=recipients]", has_text="1").wait_for()
    page.click("button[value=send]")
    page.locator("#confirm-panel", has_text="Send to 1 person?").wait_for()
    screenshot(page, "sending-follow-up")
    page.click("button[value=confirm]")
    page.wait_for_url(re.compile(r"/broadcasts/\d+$"))
    second = int(page.url.rsplit("/", 1)[1])
    to = stack.api.get(f"/api/v1/broadcasts/{second}/messages").json()["messages"]
    assert [m["contact_id"] for m in to] == [bob["id"]]
    assert to[0]["body"].startswith("Still time to RSVP, Bob: https://go.send.test/")
    results = stack.api.get(f"/api/v1/broadcasts/{first['id']}/results").json()
    assert (results["clicked"], results["click_rate"]) == (1, 0.5)
