"""Signed Twilio callbacks with odd values: a 2xx or 4xx, never a 500 (Twilio would retry)."""

from __future__ import annotations

import pytest

from admin.providers.twilio import signature

SID = "AC" + "2" * 32
ODD = ["a\x00b", "x" * 20_000, "\u00b2", ""]


@pytest.fixture
def twilio_org(api, org):
    resp = api.client.put(
        "/api/v1/sending/provider",
        json={
            "provider": "twilio",
            "account_sid": SID,
            "auth_token": "tok",
            "from": "+15550001111",
        },
        headers=api.headers,
    )
    assert resp.status_code == 200
    api.post("/api/v1/contacts", {"phone": "+15551230009"})
    return org


@pytest.mark.parametrize("odd", ODD)
@pytest.mark.parametrize("which", ["inbound", "status"])
@pytest.mark.parametrize("key", ["From", "Body", "MessageSid", "ErrorCode"])
def test_signed_callbacks_with_odd_values(client, twilio_org, which, key, odd):
    url = f"http://localhost/api/v1/providers/twilio/{twilio_org.org_id}/{which}"
    params = {
        "From": "+15551230009",
        "To": "+15550001111",
        "Body": "hello",
        "MessageSid": "SModd1",
        "MessageStatus": "delivered",
        "AccountSid": SID,
        key: odd,
    }
    signed = signature("tok", url, list(params.items()))
    resp = client.post(url, data=params, headers={"X-Twilio-Signature": signed})
    assert resp.status_code < 500, (key, odd[:10], resp.get_data(as_text=True)[:200])
