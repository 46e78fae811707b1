"""For the tests that sweep every route of the admin's URL map: one of each thing through the API
(the ids to put in the routes' ``<int:...>`` parts), and the GET routes with those ids filled in."""

from __future__ import annotations

import re
from typing import Any


def seed(api: Any, host: str = "go.review.test") -> dict[str, int]:
    domain = api.post("/api/v1/domains", {"hostname": host}).get_json()
    link = api.post(
        "/api/v1/links",
        {"destination": "https://example.org/?a={{first_name}}", "domain": host},
    ).get_json()
    contact = api.post("/api/v1/contacts", {"phone": "+15551230000"}).get_json()
    lst = api.post("/api/v1/lists", {"name": "Review"}).get_json()
    return {
        "domain_id": domain["id"],
        "link_id": link["id"],
        "contact_id": contact["id"],
        "list_id": lst.get("id", 1),
        "broadcast_id": 1,
        "job_id": 1,
        "action_id": 1,
        "webhook_id": 1,
        "message_id": 1,
        "org_id": 1,
        "user_id": 1,
        "token_id": 1,
        "invitation_id": 1,
    }


def seed_theirs(other_api: Any) -> dict[str, int]:
    """The other organisation's things, with a message, a library action and an import job; the
    contact's phone and the reply's text are what a leak would show."""
    ids = seed(other_api, "go.rival.test")
    other_api.post(f"/api/v1/links/{ids['link_id']}/issue", {"contact_ids": [ids["contact_id"]]})
    broadcast = other_api.post(
        "/api/v1/broadcasts",
        {"body": "Hi {{link}}", "link_id": ids["link_id"], "contact_ids": [ids["contact_id"]]},
    )
    if broadcast.status_code == 201:
        ids["broadcast_id"] = broadcast.get_json()["id"]
    action = other_api.post("/api/v1/library", {"name": "Lib", "body": "Their reply"})
    if action.status_code == 201:
        ids["action_id"] = action.get_json()["id"]
    job = other_api.post(
        "/api/v1/contacts/import", data=b"phone\n+15551239999\n", content_type="text/csv"
    )
    if job.status_code == 202:
        ids["job_id"] = job.get_json()["id"]
    return ids


def get_routes(app: Any, ids: dict[str, int], prefix: str) -> list[str]:
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith(prefix):
            continue
        if "<path:" in rule.rule or "<token>" in rule.rule or "<public_id>" in rule.rule:
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        found.append(path)
    return found
