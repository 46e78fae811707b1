"""Fixtures of the sending tests (defined in tests/helpers/sending.py, shared with the sender's)."""

from tests.helpers.sending import fake_twilio, http, link, make_contact, web

__all__ = ["fake_twilio", "http", "link", "make_contact", "web"]
