"""What the edge reads of an RSGI request is what it read of the same ASGI request (every test
through `smartlinks edge` drives the RSGI side; these pin the conversions themselves)."""

from __future__ import annotations

import pytest

from edge.rsgi import split_address
from edge.visit import RequestHeaders, read_headers


@pytest.mark.parametrize(
    ("rsgi", "asgi"),
    [
        ("127.0.0.1:51234", ("127.0.0.1", "51234")),
        ("[::1]:8080", ("::1", "8080")),
        ("[2001:db8::7]:443", ("2001:db8::7", "443")),
        ("[fe80::1%eth0]:80", ("fe80::1%eth0", "80")),
    ],
)
def test_addresses_as_granian_asgi_gives_them(rsgi, asgi):
    assert split_address(rsgi) == asgi


HEADERS = [
    ("host", "go.example.test"),
    ("user-agent", "Mozilla/5.0 (iPhone)"),
    ("accept", "*/*"),
    ("x-forwarded-for", "1.2.3.4, 10.0.0.1"),
    ("referer", "https://mail.example/"),
    ("x-forwarded-for", "5.6.7.8"),
    ("sec-purpose", "prefetch"),
    ("x-moz", "prefetch"),
]


def test_text_and_bytes_header_lists_read_the_same():
    as_bytes = [(k.encode(), v.encode()) for k, v in HEADERS]
    expected = RequestHeaders(
        host="go.example.test",
        user_agent="Mozilla/5.0 (iPhone)",
        sec_purpose="prefetch",
        purpose="prefetch",
        referer="https://mail.example/",
        forwarded_for="1.2.3.4, 10.0.0.1,5.6.7.8",
    )
    assert read_headers(HEADERS) == expected
    assert read_headers(as_bytes) == expected
    # ASGI's values are bytes: anything not ASCII is read as latin-1, as before
    assert read_headers([(b"user-agent", b"caf\xe9")]).user_agent == "caf\xe9"
