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
