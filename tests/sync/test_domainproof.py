"""sync/domainproof.py against the test DNS server: what each proof needs, and a slow
resolver that cannot hold a person's request for longer than the check's deadline."""

from __future__ import annotations

import time

import pytest

from sync import domainproof
from tests.helpers.dns_server import EDGE_NAME, Zone, dns, dns_session

HOST = "go.acme.test"
TOKEN = "0123456789abcdef"


def check(zone: Zone, target: str = EDGE_NAME, setting: str | None = None) -> domainproof.Proof:
    """One check against the test DNS server (``setting``: another DNS_SERVERS)."""
    return domainproof.check(HOST, TOKEN, target, zone.address if setting is None else setting)


def test_each_proof_and_what_was_found(dns: Zone) -> None:
    assert check(dns) == domainproof.Proof()
    dns.set(f"_smartlinks.{HOST}", "TXT", "smartlinks-verify=other", domainproof.txt_value(TOKEN))
    proof = check(dns)
    assert proof.txt and not proof.cname
    assert sorted(proof.found) == [
        f"TXT _smartlinks.{HOST} (another value)",
        f"TXT _smartlinks.{HOST} (this claim's token)",
    ]
    dns.set(HOST, "CNAME", EDGE_NAME.upper() + ".")
    assert check(dns).cname
    assert not check(dns, target="").cname  # no edge name: no CNAME proof


@pytest.mark.parametrize("setting", ["not-a-port:x", "[::1]:notaport"])
def test_an_unusable_resolver_setting_is_an_error_not_a_crash(setting: str) -> None:
    proof = domainproof.check(HOST, TOKEN, EDGE_NAME, setting)
    assert proof.error.startswith("DNS_SERVERS is not usable")


def test_a_slow_resolver_is_cut_at_the_deadline(dns: Zone, monkeypatch) -> None:
    monkeypatch.setattr(domainproof, "DEADLINE_SECONDS", 1.0)
    dns.set(HOST, "A", "198.51.100.7")  # no CNAME: the check goes on to the addresses
    dns.delay = 0.4
    started = time.monotonic()
    proof = check(dns)
    assert proof.error and time.monotonic() - started < 2.0

__all__ = ["dns", "dns_session"]  # fixtures
