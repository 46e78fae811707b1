"""Stored secrets are encrypted with a key from the environment: a webhook's signing secret and
the Twilio auth token never sit in PostgreSQL in clear, and `smartlinks secrets rotate` moves
them (and plain ones stored before) to a new key, after which the old key is not needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from admin.extensions import db
from sync import crypto
from tests.conftest import Api, Servers

SID, TOKEN = "AC" + "1" * 32, "secret-auth-token"


def _stored_webhook_secrets() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(text("SELECT secret FROM webhooks ORDER BY id")))


def _stored_token(org_id: int) -> str:
    db.session.rollback()
    return str(
        db.session.scalar(
            text("SELECT settings->'sms'->>'auth_token' FROM organisations WHERE id = :o"),
            {"o": org_id},
        )
    )


def _setup(api: Api, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SMS_PROVIDER_BASE_URLS", "")
    created = api.post("/api/v1/webhooks", json={"url": "https://hooks.example.org/clicks"})
    assert created.status_code == 201
    put = api.client.put(
        "/api/v1/sending/provider",
        json={"provider": "twilio", "account_sid": SID, "auth_token": TOKEN, "from": "+15550001111"},
        headers=api.headers,
    )
    assert put.status_code == 200
    secret: str = created.get_json()["secret"]
    return secret


def test_secrets_are_encrypted_in_the_database(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = _setup(api, monkeypatch)
    (stored,) = _stored_webhook_secrets()
    assert secret not in stored and stored.startswith(crypto.PREFIX)
    assert crypto.decrypt(stored) == secret
    token = _stored_token(1)
    assert TOKEN not in token and crypto.decrypt(token) == TOKEN
    # Saving the provider again without a token keeps the stored one as it is.
    again = api.client.put(
        "/api/v1/sending/provider",
        json={"provider": "twilio", "account_sid": SID, "from": "+15550002222"},
        headers=api.headers,
    )
    assert again.status_code == 200 and _stored_token(1) == token


def _rotate(servers: Servers, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = servers.env(**env)
    if "SECRETS_KEY" not in env:
        full.pop("SECRETS_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "smartlinks.cli", "secrets", "rotate", *args],
        env=full, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_rotation_moves_every_secret_to_the_new_key(
    api: Api, clean: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("SECRETS_KEY", old)
    secret = _setup(api, monkeypatch)
    db.session.execute(  # stored before encryption existed
        text("INSERT INTO webhooks (org_id, url, secret) VALUES (1, 'https://x.example/', 'plain')")
    )
    db.session.commit()
    done = _rotate(clean, SECRETS_KEY=f"{new},{old}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"webhooks": 2, "providers": 1}
    monkeypatch.setenv("SECRETS_KEY", new)  # the old key dropped
    first, legacy = _stored_webhook_secrets()
    assert crypto.decrypt(first) == secret and crypto.decrypt(legacy) == "plain"
    assert crypto.decrypt(_stored_token(1)) == TOKEN
    monkeypatch.setenv("SECRETS_KEY", old)
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(first)


def test_rotation_with_a_new_data_folder_key(
    api: Api, clean: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SECRETS_KEY the key lives in the data folder; --new-key replaces it."""
    data = tmp_path / "data"
    monkeypatch.delenv("SECRETS_KEY")
    monkeypatch.setenv("SMARTLINKS_DATA_DIR", str(data))
    original = crypto.key_text()  # made once, on first use
    assert (data / "secrets_key").read_text() == original
    assert (data / "secrets_key").stat().st_mode & 0o077 == 0  # for the owner only
    secret = _setup(api, monkeypatch)
    refused = _rotate(clean, "--new-key", SMARTLINKS_DATA_DIR=str(data), SECRETS_KEY=original)
    assert refused.returncode == 2 and "SECRETS_KEY is set" in refused.stderr
    done = _rotate(clean, "--new-key", SMARTLINKS_DATA_DIR=str(data))
    assert done.returncode == 0, done.stderr
    replaced = (data / "secrets_key").read_text()
    assert replaced != original and "," not in replaced
    (stored,) = _stored_webhook_secrets()
    assert crypto.decrypt(stored) == secret  # read with the new key alone
    assert crypto.decrypt(_stored_token(1)) == TOKEN
