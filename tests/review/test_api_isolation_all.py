"""Another organisation's ids on every API route with an id: 404, and nothing of theirs."""

from __future__ import annotations

import json
import re

from tests.review.test_web_isolation import _theirs


def test_other_orgs_ids_are_404_on_every_api_route(app, api, other_api):
    ids = _theirs(other_api)
    webhook = other_api.post("/api/v1/webhooks", {"url": "https://hooks.example.org/x"})
    if webhook.status_code == 201:
        ids["webhook_id"] = webhook.get_json()["id"]
    leaks = []
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or "<int:" not in rule.rule:
            continue
        names = re.findall(r"<int:(\w+)>", rule.rule)
        if "org_id" in names or not all(n in ids for n in names):
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = {"name": "x", "contact_ids": [ids["contact_id"]], "tag": "t", "list": "l"}
            resp = api.client.open(
                path, method=method, headers=api.headers, data=json.dumps(body),
                content_type="application/json",
            )  # fmt: skip
            text = resp.get_data(as_text=True)
            resp.close()
            checked += 1
            if resp.status_code != 404 or "+15551239999" in text or "Their reply" in text:
                leaks.append((method, path, resp.status_code))
    assert not leaks, leaks
    assert checked >= 30, checked
