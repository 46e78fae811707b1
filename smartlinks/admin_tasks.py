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
