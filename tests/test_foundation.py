"""The foundation: migrations applied, auth on the API, health, the org CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select, text

from admin.extensions import db
from admin.models import ApiToken, User
from admin.security import hash_token, verify_password
from tests.conftest import Servers


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_api_needs_a_valid_token(client, api):
    assert client.get("/api/v1/links").status_code == 401
    bad = client.get("/api/v1/links", headers={"Authorization": "Bearer sl_wrong"})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "unauthorized"
    assert api.get("/api/v1/links").status_code == 200


def test_tokens_and_passwords_are_stored_hashed(app, org):
    token_row = db.session.scalars(select(ApiToken)).one()
    assert token_row.token_hash == hash_token(org.api_token)
    assert org.api_token not in token_row.token_hash
    user = db.session.scalars(select(User)).one()
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "correct horse battery")
    assert not verify_password(user.password_hash, "wrong")


def test_version_sequence_exists(app):
    first = db.session.execute(text("SELECT nextval('record_versions')")).scalar_one()
    assert db.session.execute(text("SELECT nextval('record_versions')")).scalar_one() == first + 1


def test_org_create_cli_prints_json_and_token_works(clean: Servers, client):
    create = [sys.executable, "-m", "smartlinks.cli", "org", "create", "--name", "CLI Org"]
    create += ["--email", "cli@org.test", "--password", "long enough pw"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            create, env=clean.env(), capture_output=True, text=True, timeout=60
        )

    result = run()
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"org_id", "api_token"}
    resp = client.get("/api/v1/links", headers={"Authorization": f"Bearer {out['api_token']}"})
    assert resp.status_code == 200
    again = run()
    assert again.returncode == 2
    assert "--email" in again.stderr


def test_reserved_paths_are_never_issued_as_codes():
    from admin.services.codes import new_codes
    from core.codes import RESERVED, is_code, issuable, new_code

    for word in ("healthz", "metrics"):
        assert is_code(word) and word in RESERVED and not issuable(word)
    assert issuable("aB3dE5g")
    assert all(issuable(code) for code in new_codes(5_000))
    assert issuable(new_code())


def _org_create(env: dict[str, str], email: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartlinks.cli", "org", "create", "--name", "Runtime Org",
         "--email", email, "--password", "long enough pw"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_org_create_finds_the_database_of_a_running_up(clean: Servers, tmp_path, client):
    """Without DATABASE_URL, the runtime file that `up` writes in the data folder says where."""
    from core import runtime

    env = {k: v for k, v in clean.env(SMARTLINKS_DATA_DIR=str(tmp_path)).items()
           if k not in ("DATABASE_URL", "REDIS_URL")}  # fmt: skip
    missing = _org_create(env, "runtime@org.test")
    assert missing.returncode == 2
    assert "DATABASE_URL is not set and no `smartlinks up` is running in" in missing.stderr
    runtime.write(tmp_path, database_url=clean.database_url, redis_url=clean.redis_url)
    found = _org_create(env, "runtime@org.test")
    assert found.returncode == 0, found.stderr
    token = json.loads(found.stdout)["api_token"]
    assert client.get("/api/v1/links", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create_app_takes_its_values_from_the_settings(tmp_path):
    from admin import SETTINGS_EXTENSION, create_app
    from core import config

    settings = config.load(
        {
            "DATABASE_URL": "postgres://u@127.0.0.1:1/links",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SMARTLINKS_DATA_DIR": str(tmp_path),
            "PUBLIC_ADMIN_URL": "https://admin.example.org/",
            "SHORT_URL_SCHEME": "http",
            "EDGE_CNAME_TARGET": "edge.example.net.",
            "TRUSTED_PROXIES": "10.0.0.0/8",
            "WEBHOOK_ALLOW_HTTP_LOOPBACK": "1",
        }
    )
    app = create_app(settings=settings)  # connects to nothing until a request comes
    assert app.extensions[SETTINGS_EXTENSION] is settings
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@127.0.0.1:1/links"
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert app.config["PUBLIC_ADMIN_URL"] == "https://admin.example.org"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SHORT_URL_SCHEME"] == "http"
    assert app.config["EDGE_CNAME_TARGET"] == "edge.example.net"
    assert app.config["TRUSTED_PROXIES"] == "10.0.0.0/8"
    assert app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"] is True
    assert app.config["SECRET_KEY"] == (tmp_path / "secret_key").read_text()
