"""Another organisation's ids on every web route with an id: 404, never its data."""

from __future__ import annotations

import re

from tests.review.test_query_garbage import _seed
from tests.web.conftest import _fresh_request_globals, csrf_from


def _theirs(other_api):
    ids = _seed(other_api, "go.rival.test")
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


def test_other_orgs_ids_are_404_on_the_web(app, api, other_api, web):
    _seed(api)  # ours exist too, with other ids
    ids = _theirs(other_api)
    leaks = []
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or "<int:" not in rule.rule:
            continue
        names = re.findall(r"<int:(\w+)>", rule.rule)
        if not all(n in ids for n in names) or names[0] in ("user_id", "token_id", "invitation_id"):
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            _fresh_request_globals()
            if method == "GET":
                resp = web.get(path)
            else:
                token = csrf_from(web.get("/links").get_data(as_text=True))
                _fresh_request_globals()
                resp = web.client.post(path, data={"csrf_token": token, "name": "x", "body": "x"})
            checked += 1
            body = resp.get_data(as_text=True)
            resp.close()
            if resp.status_code != 404 or "Their reply" in body or "+15551239999" in body:
                leaks.append((method, path, resp.status_code))
    assert not leaks, leaks
    assert checked >= 30, checked  # the routes were reached
