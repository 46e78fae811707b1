"""core.urls: the short URL a contact gets and the edge answers (moved here from
tests/edge/test_preview.py with the function)."""

from __future__ import annotations

from core.urls import short_url


def test_short_url_without_an_extension():
    assert (
        short_url("https", "go.example.test", "Ab3xYz9Q", "") == "https://go.example.test/Ab3xYz9Q"
    )
    assert short_url("http", "go.example.test", "Ab3xYz9Q") == "http://go.example.test/Ab3xYz9Q"


def test_short_url_with_an_extension():
    assert (
        short_url("https", "go.example.test", "Ab3xYz9Q", "gala2021")
        == "https://go.example.test/Ab3xYz9Q/gala2021"
    )
