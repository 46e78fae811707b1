"""Another organisation's ids on every web route with an id: 404, never its data."""

from __future__ import annotations

import re

from tests.helpers.routes import seed, seed_theirs
from tests.helpers.web import csrf_from, fresh_request_globals


def test_other_orgs_ids_are_404_on_the_web(app, api, other_api, web):
    seed(api)  # ours exist too, with other ids
    ids = seed_theirs(other_api)
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
            fresh_request_globals()
            if method == "GET":
                resp = web.get(path)
            else:
                token = csrf_from(web.get("/links").get_data(as_text=True))
                fresh_request_globals()
                resp = web.client.post(path, data={"csrf_token": token, "name": "x", "body": "x"})
            checked += 1
            body = resp.get_data(as_text=True)
            resp.close()
            if resp.status_code != 404 or "Their reply" in body or "+15551239999" in body:
                leaks.append((method, path, resp.status_code))
    assert not leaks, leaks
    assert checked >= 30, checked  # the routes were reached
