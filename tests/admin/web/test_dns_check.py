"""The domain check with the stdlib resolver (offline: names from /etc/hosts resolve)."""

from __future__ import annotations

from admin.web import dns_check


def test_a_name_resolving_to_the_edge_is_verified() -> None:
    result = dns_check.check("localhost", "localhost")
    assert result.ok and "points at the edge" in result.message


def test_without_the_edge_name_the_check_says_what_is_missing() -> None:
    result = dns_check.check("localhost", "")
    assert not result.ok and "EDGE_CNAME_TARGET" in result.message


def test_a_name_elsewhere_is_not_verified() -> None:
    result = dns_check.check("localhost", "nowhere.invalid")
    assert not result.ok and "nowhere.invalid does not resolve" in result.message
