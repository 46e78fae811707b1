"""Request bodies: malformed JSON is a 400, an oversized one a 413, a wrong shape names its path."""

from __future__ import annotations

import io


def _raw(api, path, data, method="post", **headers):
    call = getattr(api.client, method)
    return call(
        path,
        data=data,
        headers={**api.headers, "Content-Type": "application/json", **headers},
    )


def test_malformed_json_is_400(api):
    for data in [b"{", b'{"hostname": }', b"\xff\xfe", b'"\\ud800"', b""]:
        resp = _raw(api, "/api/v1/domains", data)
        assert resp.status_code == 400, data
        error = resp.get_json()["error"]
        assert error["code"] == "malformed_json"
        assert "JSON" in error["message"]


def test_wrong_shapes_name_the_json_path(api):
    cases = [
        (b"[]", None),
        (b'{"hostname": 5}', "hostname"),
        (b"{}", "hostname"),
    ]
    for data, field in cases:
        resp = _raw(api, "/api/v1/domains", data)
        assert resp.status_code == 422, data
        assert resp.get_json()["error"].get("field") == field, (data, resp.get_json())
    nested = _raw(
        api,
        "/api/v1/links",
        b'{"destination": "https://x.test/", "domain": "d.test", "actions": [{"type": "whisper"},'
        b' {"tag": "x"}]}',
    )
    assert nested.get_json()["error"]["field"] == "actions[1].type"


def test_oversized_json_is_413(api, app):
    limit = app.config["MAX_JSON_BYTES"]
    big = b'{"hostname": "' + b"a" * limit + b'"}'
    resp = _raw(api, "/api/v1/domains", big)
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "too_large"


def test_oversized_json_without_content_length_is_413(api, app):
    limit = app.config["MAX_JSON_BYTES"]

    body = io.BytesIO(b'{"hostname": "' + b"a" * limit + b'"}')
    # A chunked request: no Content-Length, the server marks the input as terminated.
    resp = api.client.post(
        "/api/v1/domains",
        input_stream=body,
        headers={**api.headers, "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413
