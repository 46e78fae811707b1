"""Custom fields with odd names and values: a 422 naming the field, or stored; never a 500."""

from __future__ import annotations

import pytest

FIELDS = [
    {"\x00": "x"},
    {"a\x00": "x"},
    {"": "x"},
    {"a" * 10_000: "x"},
    {"x": ["list"]},
    {"x": {"nested": 1}},
    {"x": 10**30},
    {"x": None},
    {"\ud800": "x"},
    {f"k{i}": "v" for i in range(5000)},
    {"x.y": "v"},
    {"{{x}}": "v"},
    {"x": "\u202e\u0000"},
]


@pytest.mark.parametrize("fields", FIELDS, ids=range(len(FIELDS)))
def test_odd_custom_fields(api, fields):
    resp = api.post("/api/v1/contacts", {"phone": "+15551230002", "fields": fields})
    assert resp.status_code in (201, 400, 413, 422), resp.status_code
    if resp.status_code == 422:
        assert (resp.get_json()["error"]["field"] or "").startswith("fields")
    created = api.post("/api/v1/contacts", {"phone": "+15551230003"}).get_json()
    resp = api.patch(f"/api/v1/contacts/{created['id']}", {"fields": fields})
    assert resp.status_code in (200, 400, 413, 422), resp.status_code
