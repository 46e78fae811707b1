"""core.merge's percent-encoding of merged values is exactly urllib's quote(value, safe="")
(the fast paths for ASCII must not change a single character of a Location)."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from core.merge import _encode


def _expected(value: str, place: str) -> str:
    encoded = quote(value, safe="", encoding="utf-8", errors="strict")
    return encoded.replace(".", "%2E") if place == "path" else encoded


def test_every_ascii_character_is_encoded_as_quote_does():
    for c in range(128):
        for place in ("path", "query", "fragment"):
            assert _encode(chr(c) * 2, place) == _expected(chr(c) * 2, place)  # type: ignore[arg-type]


@given(st.text(max_size=40), st.sampled_from(["path", "query", "fragment"]))
def test_any_value_is_encoded_as_quote_does(value: str, place: str):
    assert _encode(value, place) == _expected(value, place)  # type: ignore[arg-type]
