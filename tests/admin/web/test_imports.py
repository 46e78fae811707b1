"""The web import form with files that are not CSV: a page with the error, never a 500."""

from __future__ import annotations

import io
import os

import pytest

FILES = [
    b"",
    b"\x00" * 1000,
    os.urandom(4096),
    b"\x89PNG\r\n\x1a\n" + os.urandom(100),
    b"phone," + b"a" * 200_000 + b"\n",
    b"\xef\xbb\xbf",
    b"phone\n\x00\n",
]


@pytest.mark.parametrize("data", FILES, ids=range(len(FILES)))
@pytest.mark.parametrize("name", ["\x00.csv", "x" * 1000])
def test_import_form_with_odd_files(web, data, name):
    resp = web.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert resp.status_code < 500, resp.status_code
