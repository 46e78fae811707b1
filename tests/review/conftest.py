"""The review tests reuse the logged-in web client of the web UI tests."""

from tests.web.conftest import web

__all__ = ["web"]
