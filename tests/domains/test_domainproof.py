"""core/domainproof.py against the test DNS server: what each proof needs, and a slow
resolver that cannot hold a person's request for longer than the check's deadline."""

from __future__ import annotations

import time

import pytest

from core import domainproof
from tests.dns_server import EDGE_NAME, Zone

HOST = "go.acme.test"
TOKEN = "0123456789abcdef"


def test_each_proof_and_what_was_found(dns: Zone) -> None:
    assert domainproof.check(HOST, TOKEN) == domainproof.Proof()
    dns.set(f"_smartlinks.{HOST}", "TXT", "smartlinks-verify=other", domainproof.txt_value(TOKEN))
    proof = domainproof.check(HOST, TOKEN)
    assert proof.txt and not proof.cname
    assert sorted(proof.found) == [
        f"TXT _smartlinks.{HOST} (another value)",
        f"TXT _smartlinks.{HOST} (this claim's token)",
    ]
    dns.set(HOST, "CNAME", EDGE_NAME.upper() + ".")
    assert domainproof.check(HOST, TOKEN).cname
    assert not domainproof.check(HOST, TOKEN, target="").cname  # no edge name: no CNAME proof


@pytest.mark.parametrize("setting", ["not-a-port:x", "[::1]:notaport"])
def test_an_unusable_resolver_setting_is_an_error_not_a_crash(setting: str) -> None:
    proof = domainproof.check(HOST, TOKEN, setting=setting)
    assert proof.error.startswith("DNS_RESOLVER is not usable")


def test_a_slow_resolver_is_cut_at_the_deadline(dns: Zone, monkeypatch) -> None:
    monkeypatch.setattr(domainproof, "DEADLINE_SECONDS", 1.0)
    dns.set(HOST, "A", "198.51.100.7")  # no CNAME: the check goes on to the addresses
    dns.delay = 0.4
    started = time.monotonic()
    proof = domainproof.check(HOST, TOKEN)
    assert proof.error and time.monotonic() - started < 2.0
