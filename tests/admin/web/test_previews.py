"""The link builder's merge preview (web/previews.py) with odd contact ids and destinations: never a 500, and a
merged value never changes the host."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

DEST = "https://example.org/p/{{first_name}}?x={{fields.x}}#{{last_name}}"


@pytest.mark.parametrize(
    "contact_id", ["99999999999999999999", "-1", "0", "%C2%B2", "abc", "9223372036854775807"]
)
def test_odd_contact_ids(web, contact_id):
    resp = web.get(f"/links/merge-preview.json?destination={quote(DEST)}&contact_id={contact_id}")
    assert resp.status_code in (200, 400, 404), resp.status_code


def test_merged_values_stay_in_their_place(api, web):
    contact = api.post(
        "/api/v1/contacts",
        {
            "phone": "+15551230001",
            "first_name": "@evil.test/../",
            "last_name": "#x?y=/",
            "fields": {"x": "&a=b#c?//evil.test"},
        },
    ).get_json()
    resp = web.get(
        f"/links/merge-preview.json?destination={quote(DEST)}&contact_id={contact['id']}"
    )
    url = resp.get_json()["url"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "example.org"), url
    assert "\r" not in url and "\n" not in url and " " not in url
    assert parts.query.count("=") == 1 and parts.fragment.count("#") == 0, url
