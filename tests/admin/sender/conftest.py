"""Fixtures of the sender's tests: a real local HTTP server that plays Twilio's Messages API
(defined in tests/helpers/sending.py, shared with the sending pages' tests)."""

from tests.helpers.sending import fake_twilio, http, make_contact

__all__ = ["fake_twilio", "http", "make_contact"]
