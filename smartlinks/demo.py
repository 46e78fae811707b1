"""The demo organisation that `smartlinks up` seeds on its first start.

It gives a new user something to click at once: an owner login, a branded domain, one contact
and a Smart Link with field merge, issued for that contact. What was seeded (including the
generated password) is kept in ``demo.json`` in the data folder (mode 0600) so that later
starts print the same login and link without seeding again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

DEMO_ORG = "Demo Campaign"
DEMO_EMAIL = "demo@smartlinks.test"
DEMO_HOSTNAME = "go.smartlinks.test"
DEMO_DESTINATION = "https://example.org/rsvp?first={{first_name}}&src={{fields.source|sms}}"
DEMO_EXTENSION = "rsvp"
DEMO_CONTACT = {"phone": "+15555550100", "first_name": "Ada", "last_name": "Lovelace"}
FILE_NAME = "demo.json"


@dataclass(frozen=True)
class Demo:
    email: str
    password: str
    org_id: int
    link_id: int
    hostname: str
    code: str  # the contact's code
    extension: str
    first_name: str

    def path(self) -> str:
        return f"/{self.code}/{self.extension}" if self.extension else f"/{self.code}"


def load(data_dir: Path) -> Demo | None:
    try:
        return Demo(**json.loads((data_dir / FILE_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save(data_dir: Path, demo: Demo) -> None:
    path = data_dir / FILE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(demo), indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def ensure(data_dir: Path) -> tuple[Demo | None, bool]:
    """The demo seeded earlier, or seed it now (inside an app context).

    Returns (demo, seeded_now). ``None`` when the database has a demo user that this data
    folder does not know (another data folder seeded a shared database): nothing to print.
    """
    known = load(data_dir)
    if known is not None:
        return known, False
    from sqlalchemy import select

    from admin.extensions import db
    from admin.models import User

    if db.session.scalar(select(User.id).where(User.email == DEMO_EMAIL)) is not None:
        return None, False
    demo = seed(secrets.token_urlsafe(12))
    save(data_dir, demo)
    return demo, True


def seed(password: str) -> Demo:
    """Organisation, owner, domain, contact, link and the contact's code, through the admin's
    services (each writes its rows and outbox rows; sync publishes them to Redis)."""
    from sqlalchemy import select

    from admin.extensions import db
    from admin.models import IssuedCode
    from admin.services.codes import issue_codes
    from admin.services.contacts import create_contact
    from admin.services.domains import create_domain
    from admin.services.links import create_link
    from admin.services.orgs import create_org
    from admin.services.ownership import operator_verify

    org_id = create_org(DEMO_ORG, DEMO_EMAIL, password).org_id
    create_domain(org_id, DEMO_HOSTNAME)
    # A local trial has no DNS to prove the demo hostname: the operator's override, recorded.
    operator_verify(DEMO_HOSTNAME, org_id, actor="smartlinks up (demo seed)")
    contact = create_contact(org_id, DEMO_CONTACT)
    link = create_link(
        org_id,
        {
            "name": "Demo RSVP",
            "destination": DEMO_DESTINATION,
            "domain": DEMO_HOSTNAME,
            "extension": DEMO_EXTENSION,
            "preview": {
                "title": "Demo RSVP",
                "description": "A Smart Link seeded by smartlinks up",
            },
            "actions": [{"type": "whisper"}],
        },
    )
    link_id, contact_id = link.id, contact.id
    issue_codes(org_id, link_id, [contact_id])
    code = db.session.scalar(
        select(IssuedCode.code).where(
            IssuedCode.link_id == link_id, IssuedCode.contact_id == contact_id
        )
    )
    return Demo(
        email=DEMO_EMAIL,
        password=password,
        org_id=org_id,
        link_id=link_id,
        hostname=DEMO_HOSTNAME,
        code=str(code),
        extension=DEMO_EXTENSION,
        first_name=DEMO_CONTACT["first_name"],
    )
