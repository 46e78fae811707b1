"""Odd values in every field of every web form (with a valid CSRF token): never a 500."""

from __future__ import annotations

import re

from tests.helpers.routes import seed
from tests.helpers.web import csrf_from, fresh_request_globals

FIELDS = [
    "action", "audience", "body", "contacts", "library_action_id", "link_id", "list", "name",
    "reply", "tag", "confirm", "destination", "domain_id", "email", "extension", "fallback_url",
    "first_name", "hostname", "last_name", "opted_out", "password", "phone",
    "preview_description", "preview_image_url", "preview_title", "remove_image", "role", "type",
    "value", "url", "account_sid", "auth_token", "base_url", "contact_ids", "domain", "from",
    "keyword", "provider", "rate_per_second", "to", "username",
]  # fmt: skip
VALUES = ["\x00", "a\x00b", "\u00b2", "99999999999999999999", "-1", "x" * 20000, "%ff", "{{"]
AUDIENCES = ["contacts", "list", "tag"]


def test_web_forms_never_500(app, api, web):
    ids = seed(api)
    token = csrf_from(web.get("/links").get_data(as_text=True))
    failures = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/") or "<token>" in rule.rule:
            continue
        if rule.rule in ("/login", "/logout"):
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        for value in VALUES:
            for audience, provider in [*((a, value) for a in AUDIENCES), ("contacts", "twilio")]:
                data = {name: value for name in FIELDS}
                data.update(csrf_token=token, audience=audience, provider=provider)
                fresh_request_globals()
                resp = web.client.post(path, data=data)
                if resp.status_code >= 500:
                    failures.append((path, audience, value[:20], resp.status_code))
                    from admin.extensions import db

                    db.session.rollback()
    assert not failures, failures
