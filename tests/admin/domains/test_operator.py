"""The operator's override `smartlinks domain verify HOSTNAME` (recorded: a log line and an
audit row), and the migration that keeps every domain that served before it verified."""

from __future__ import annotations

import json
import subprocess

import psycopg
from flask import Flask
from sqlalchemy import select

from admin import MIGRATIONS_DIR, create_app
from admin.extensions import db
from admin.models import AuditEvent, Domain
from admin.services.domains import create_domain
from admin.services.orgs import NewOrg
from core.config import to_libpq as psycopg_url
from tests.conftest import Servers, _app_config
from tests.servers import ROOT, SMARTLINKS


def _cli(clean: Servers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SMARTLINKS, "domain", "verify", *args],
        env=clean.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_override_verifies_records_and_refuses_what_is_ambiguous(
    app: Flask, org: NewOrg, other_org: NewOrg, clean: Servers
) -> None:
    create_domain(org.org_id, "go.acme.test")
    done = _cli(clean, "GO.acme.test")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "verified" and answer["org_id"] == org.org_id
    assert "domain verified by the operator" in done.stderr
    db.session.expire_all()
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "domain", AuditEvent.action != "domain.create")
    ).all()
    assert event.action == "domain.verify_override" and event.subject == "go.acme.test"
    assert event.org_id == org.org_id and "smartlinks domain verify" in event.actor
    assert db.session.scalar(select(Domain.verified_via)) == "operator"

    # Two pending claims: the operator must name the organisation.
    create_domain(org.org_id, "two.claims.test")
    create_domain(other_org.org_id, "two.claims.test")
    ambiguous = _cli(clean, "two.claims.test")
    assert ambiguous.returncode == 2 and "--org" in ambiguous.stderr
    chosen = _cli(clean, "two.claims.test", "--org", str(other_org.org_id))
    assert chosen.returncode == 0 and json.loads(chosen.stdout)["org_id"] == other_org.org_id
    # Held by the other organisation now: refused for the first.
    refused = _cli(clean, "two.claims.test", "--org", str(org.org_id))
    assert refused.returncode == 2 and "not changed" in refused.stderr
    unknown = _cli(clean, "nobody.claims.test")
    assert unknown.returncode == 2 and "no organisation has claimed" in unknown.stderr


def test_the_migration_keeps_existing_domains_verified(servers: Servers) -> None:
    """Upgrade a fresh database from 0002 with a domain in it: the domain stays served."""
    from flask_migrate import upgrade

    admin_url = psycopg_url(servers.database_url)
    name = "migration_0003_test"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = servers.database_url.rsplit("/", 1)[0] + f"/{name}"
    app = create_app({**_app_config(servers), "SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            upgrade(directory=MIGRATIONS_DIR, revision="0002_message_retry")
            with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
                org = conn.execute(
                    "INSERT INTO organisations (name) VALUES ('Old') RETURNING id"
                ).fetchone()
                assert org is not None
                conn.execute(
                    "INSERT INTO domains (org_id, hostname) VALUES (%s, 'old.example.test')",
                    (org[0],),
                )
            upgrade(directory=MIGRATIONS_DIR)
            with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
                row = conn.execute(
                    "SELECT verified_at IS NOT NULL, verified_via FROM domains"
                ).fetchone()
                published = conn.execute("SELECT hostname FROM published_domains").fetchall()
            assert row == (True, "migration")
            assert published == [("old.example.test",)]
            db.engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
