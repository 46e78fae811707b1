"""Admin tasks run from the command line, inside an app context."""

from __future__ import annotations

from typing import Any

from core.config import Settings


def migrate(settings: Settings) -> None:
    from flask_migrate import upgrade

    from admin import MIGRATIONS_DIR, create_app

    with create_app(settings=settings).app_context():
        upgrade(directory=MIGRATIONS_DIR)


def create_org(settings: Settings, name: str, email: str, password: str) -> dict[str, Any]:
    from admin import create_app
    from admin.services.orgs import create_org as create

    with create_app(settings=settings).app_context():
        new = create(name, email, password)
        return {"org_id": new.org_id, "api_token": new.api_token}


def verify_domain(settings: Settings, hostname: str, org_id: int | None) -> dict[str, Any]:
    """The operator's override: a domain verified without DNS (recorded in audit_events)."""
    import getpass

    from admin import create_app
    from admin.services.ownership import operator_verify

    with create_app(settings=settings).app_context():
        actor = f"operator {getpass.getuser()} (smartlinks domain verify)"
        domain = operator_verify(hostname, org_id, actor=actor)
        return {"domain_id": domain.id, "org_id": domain.org_id, "hostname": domain.hostname,
                "status": domain.status}


def rotate_secrets(settings: Settings, new_key: bool) -> dict[str, Any]:
    """Re-encrypt the stored secrets with the first key. ``new_key`` (only for the key the
    data folder keeps, not for SECRETS_KEY, which the operator manages) puts a fresh key in
    front first and drops the old ones once everything is re-encrypted."""
    from admin import create_app
    from admin.services.secret_rotation import rotate_all
    from sync import crypto

    path = crypto.key_file(settings.data_dir)
    old = crypto.key_text(settings.data_dir)
    if new_key:
        if settings.secrets_key.strip():
            raise ValueError(
                "SECRETS_KEY is set: put a new key in front of it (smartlinks secrets new-key"
                " prints one), run `smartlinks secrets rotate`, then drop the old key"
            )
        fresh = crypto.new_key()
        path.write_text(f"{fresh},{old}")
    with create_app(settings=settings).app_context():
        done = rotate_all()
    if new_key:
        path.write_text(fresh)
    return {"webhooks": done.webhooks, "providers": done.providers}
