"""``expires_at`` and ``folder`` on links through the API: RFC 3339 with an offset, or null."""

from __future__ import annotations

from tests.conftest import Api

HOST = "go.expiry.test"


def _link(api: Api, **extra: object):
    api.post("/api/v1/domains", {"hostname": HOST})
    return api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": HOST, **extra}
    )


def test_expiry_and_folder_round_trip(api: Api) -> None:
    made = _link(api, expires_at="2031-05-06T07:08:09+02:00", folder="Gala")
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["expires_at"] == "2031-05-06T05:08:09+00:00" or body["expires_at"].startswith(
        "2031-05-06T05:08:09"
    )
    assert body["folder"] == "Gala"
    cleared = api.patch(f"/api/v1/links/{body['id']}", {"expires_at": None})
    assert cleared.status_code == 200 and cleared.get_json()["expires_at"] is None
    assert api.get(f"/api/v1/links/{body['id']}").get_json()["folder"] == "Gala"


def test_a_link_without_expiry_never_expires(api: Api) -> None:
    assert _link(api).get_json()["expires_at"] is None


def test_bad_expiries_are_422_naming_the_field(api: Api) -> None:
    for bad in ("2031-05-06T07:08:09", "soon", 12, "2031-13-01T00:00:00Z"):
        answer = _link(api, expires_at=bad)
        assert answer.status_code == 422, (bad, answer.get_json())
        assert answer.get_json()["error"]["field"] == "expires_at", (bad, answer.get_json())
    too_long = _link(api, folder="x" * 101)
    assert too_long.status_code == 422 and too_long.get_json()["error"]["field"] == "folder"
