"""An organisation cannot aim the SMS sender at our network through its provider's base_url:
the URL is Twilio's own unless the operator allows others; even then the sender's guarded
client refuses a name resolving to a private address (a real DNS server started here) with no
request reaching the local server; and a message's error never shows another server's body."""

from __future__ import annotations

from admin.sender.worker import Sender
from core import config
from sync import outbound
from tests.admin.sender.test_sender import SID, TOKEN, broadcast, messages, run
from tests.helpers.dns_server import dns_server
from tests.helpers.trap import trap

GOOD = {"provider": "twilio", "account_sid": SID, "auth_token": TOKEN, "from": "+15550001111"}


def _put(api, body):
    return api.client.put("/api/v1/sending/provider", json=body, headers=api.headers)


def test_base_url_is_twilio_unless_the_operator_allows_others(api, monkeypatch):
    monkeypatch.delenv("SMS_PROVIDER_BASE_URLS", raising=False)
    for url in ("http://127.0.0.1:8000", "https://internal.example.test", "https://10.0.0.1"):
        r = _put(api, {**GOOD, "base_url": url})
        assert r.status_code == 422 and r.get_json()["error"]["field"] == "base_url", url
    assert _put(api, {**GOOD, "base_url": "https://api.twilio.com/"}).status_code == 200
    assert _put(api, GOOD).get_json()["base_url"] == "https://api.twilio.com"
    monkeypatch.setenv("SMS_PROVIDER_BASE_URLS", "https://twilio-proxy.example.test")
    assert _put(api, {**GOOD, "base_url": "https://twilio-proxy.example.test"}).status_code == 200
    assert _put(api, {**GOOD, "base_url": "https://other.example.test"}).status_code == 422


def test_a_provider_url_resolving_to_a_private_address_is_not_called(
    api, make_contact, trap, monkeypatch
):
    with dns_server({"sms.attacker.test": ["127.0.0.1"]}) as (_, nameserver):
        monkeypatch.setenv("SMS_PROVIDER_BASE_URLS", "*")
        assert _put(api, {**GOOD, "base_url": f"http://sms.attacker.test:{trap.port}"}).status_code == 200
        broadcast(api, [make_contact("Ana")["id"]])
        policy = outbound.Policy(nameservers=config.parse_dns_servers(nameserver))
        with outbound.client(policy) as http:
            run(Sender(http=http, public_admin_url="http://x", backoff_base=0.01, max_attempts=3))
    (message,) = messages()
    assert message.status == "failed" and message.attempts == 1  # no retry makes it public
    assert message.error == f"twilio {outbound.BLOCKED_ERROR}"
    assert trap.hits == []


def test_a_message_error_never_shows_another_servers_body(api, make_contact, trap, http, monkeypatch):
    monkeypatch.setenv("SMS_PROVIDER_BASE_URLS", "*")
    trap.status[f"/2010-04-01/Accounts/{SID}/Messages.json"] = 404  # an internal page
    assert _put(api, {**GOOD, "base_url": f"http://127.0.0.1:{trap.port}"}).status_code == 200
    broadcast(api, [make_contact("Ana")["id"]])
    run(Sender(http=http, public_admin_url="http://x", backoff_base=0.01, max_attempts=3))
    (message,) = messages()
    assert len(trap.hits) == 1 and message.status == "failed"
    assert "internal secret" not in message.error and "404" in message.error


__all__ = ["trap"]  # fixtures
