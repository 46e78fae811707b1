"""Smart links: a destination template on one of the organisation's domains, with an optional
extension, a preview for link-preview cards, and the actions a human click runs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import idna
from sqlalchemy import func, select, text

from admin.extensions import db
from admin.models import IssuedCode, Link
from admin.services import audit, compliance, domains, inputs, memberships, outbox
from admin.services.errors import Conflict, ValidationError
from admin.services.lookup import owned
from core import actions as click_actions
from core.actions import ACTION_TYPES, DEFAULT_ACTIONS, TARGETS
from core.codes import new_code
from core.merge import TemplateError, parse_template

EXTENSION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ACTIONS = 20
NAME_LENGTH = 200
FOLDER_LENGTH = 100
PREVIEW_LIMITS = {"title": 300, "description": 1000}
# What the audit log keeps of a link, before and after a change.
AUDITED = (
    "name", "destination", "domain_id", "extension", "preview_title", "preview_description",
    "preview_image_url", "actions", "archived", "expires_at", "folder",
)  # fmt: skip
MAX_CODE_ATTEMPTS = 8  # a taken code is rare (3.5e12 codes); eight in a row never happen
_INSERT_GENERIC = text(
    "INSERT INTO issued_codes (code, org_id, link_id, contact_id) "
    "VALUES (:code, :org_id, :link_id, NULL) ON CONFLICT DO NOTHING RETURNING code"
)


def destination(value: Any, field: str = "destination") -> str:
    """A valid destination template; an IDN host is stored in its ASCII (xn--) form."""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be a string")
    try:
        template = parse_template(value)
        if not template.origin.isascii():
            split = urlsplit(template.origin)
            host = split.hostname or ""
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
            netloc = ascii_host + (f":{split.port}" if split.port else "")
            template = parse_template(f"{split.scheme}://{netloc}{value[len(template.origin) :]}")
    except TemplateError as exc:
        raise ValidationError(field, str(exc)) from None
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise ValidationError(field, f"destination's host is not valid: {exc}") from None
    return template.source


def extension(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not EXTENSION.match(value):
        raise ValidationError(
            "extension", "extension is 1-64 letters, digits, '-' or '_' (like gala2021)"
        )
    return value


def preview(value: Any, current: Link | None) -> dict[str, str]:
    """Column values for the preview fields present in ``value``."""
    if value is None:
        value = {"title": "", "description": "", "image_url": ""}
    if not isinstance(value, Mapping):
        raise ValidationError("preview", "preview must be an object")
    columns: dict[str, str] = {}
    for key, limit in PREVIEW_LIMITS.items():
        if key in value:
            columns[f"preview_{key}"] = inputs.text(
                f"preview.{key}", value[key], limit, multiline=key == "description"
            )
    if "image_url" in value:
        columns["preview_image_url"] = inputs.plain_url("preview.image_url", value["image_url"])
    return columns


def actions(value: Any) -> list[dict[str, Any]]:
    """Normalised actions as stored: ``{"type"}`` plus ``"tag"`` or ``"list"`` where the type
    needs one (core.actions.Action as JSON). ``value`` is what the API decoded or the web form
    gave: plain JSON values."""
    if value is None:
        return click_actions.to_json(DEFAULT_ACTIONS)
    if not isinstance(value, list):
        raise ValidationError("actions", "actions must be a list")
    if len(value) > MAX_ACTIONS:
        raise ValidationError("actions", f"a link has at most {MAX_ACTIONS} actions")
    result: list[click_actions.Action] = []
    for i, action in enumerate(value):
        where = f"actions[{i}]"
        if not isinstance(action, Mapping):
            raise ValidationError(where, "an action is an object with a type")
        kind = action.get("type")
        if kind not in ACTION_TYPES:
            raise ValidationError(
                f"{where}.type", f"unknown action type {kind!r}: use {', '.join(ACTION_TYPES)}"
            )
        target = TARGETS.get(kind)
        name = memberships.name(f"{where}.{target}", action.get(target)) if target else ""
        result.append(click_actions.action(kind, name))
    return click_actions.to_json(result)


def link_values(
    org_id: int,
    data: Mapping[str, Any],
    current: Link | None,
    *,
    override: compliance.Override = compliance.WEB_FORM,
) -> dict[str, Any]:
    """Validated column values for the fields present in ``data`` (all, for a new link).
    ``override``: what compliance.check_destination lets through (the web form warns about a
    public shortener; the API refuses it unless an owner allows it)."""
    if not isinstance(data, Mapping):
        raise ValidationError(None, "a link must be an object")
    new = current is None
    values: dict[str, Any] = {}
    if "destination" in data or new:
        values["destination"] = destination(data.get("destination"))
        compliance.check_destination(values["destination"], org_id=org_id, override=override)
    if "domain" in data or new:
        if data.get("domain") is None:
            raise ValidationError("domain", "domain is required (one of your hostnames)")
        values["domain_id"] = domains.domain_by_hostname(org_id, data["domain"]).id
    if "name" in data:
        values["name"] = inputs.text("name", data["name"], NAME_LENGTH)
    if "extension" in data:
        values["extension"] = extension(data["extension"])
    if "preview" in data:
        values.update(preview(data["preview"], current))
    if "actions" in data or new:
        values["actions"] = actions(data.get("actions"))
    if "archived" in data and not new:
        values["archived"] = inputs.flag("archived", data["archived"])
    if "expires_at" in data:
        values["expires_at"] = inputs.instant("expires_at", data["expires_at"])
    if "folder" in data:
        values["folder"] = inputs.text("folder", data["folder"], FOLDER_LENGTH)
    return values


def create_link(
    org_id: int, data: Mapping[str, Any], *, override: compliance.Override = compliance.WEB_FORM
) -> Link:
    """A new link with its generic code, committed with their outbox rows."""
    values = link_values(org_id, data, None, override=override)
    version = outbox.next_version()
    link = Link(org_id=org_id, version=version, **values)
    db.session.add(link)
    db.session.flush()
    outbox.enqueue("link", link.id, version)
    add_generic_code(org_id, link.id)
    audit.record(org_id, "link.create", _subject(link), after=audit.snapshot(link, AUDITED))
    db.session.commit()
    return link


def update_link(
    org_id: int,
    link_id: int,
    data: Mapping[str, Any],
    *,
    override: compliance.Override = compliance.WEB_FORM,
) -> Link:
    link = get_link(org_id, link_id)
    values = link_values(org_id, data, link, override=override)
    if values.get("domain_id", link.domain_id) != link.domain_id:
        _check_domain_can_move(link)
    before = audit.snapshot(link, AUDITED)
    for column, value in values.items():
        setattr(link, column, value)
    link.version = outbox.next_version()
    link.updated_at = func.now()
    outbox.enqueue("link", link.id, link.version)
    audit.record(
        org_id, "link.update", _subject(link), before=before, after=audit.snapshot(link, AUDITED)
    )
    db.session.commit()
    return link


def _subject(link: Link) -> str:
    return f"link {link.id}" + (f" ({link.name})" if link.name else "")


def _check_domain_can_move(link: Link) -> None:
    """A contact's short URL names the link's hostname and was sent in a text: moving the link
    to another domain would make every such URL an unknown code. The generic code alone may
    move (sync republishes the link under the new hostname; the old URL then stops working)."""
    issued = db.session.scalar(
        select(IssuedCode.code)
        .where(IssuedCode.link_id == link.id, IssuedCode.contact_id.is_not(None))
        .limit(1)
    )
    if issued is not None:
        raise Conflict(
            "domain",
            "the domain cannot change: contacts' short URLs on "
            f"{link.domain.hostname} were issued already (create a new link instead)",
        )


def generic_codes(link_ids: Iterable[int]) -> dict[int, str]:
    """The generic (contact-less) code of each link."""
    rows = db.session.execute(
        select(IssuedCode.link_id, IssuedCode.code).where(
            IssuedCode.link_id.in_(list(link_ids)), IssuedCode.contact_id.is_(None)
        )
    )
    return {link_id: code for link_id, code in rows}


def add_generic_code(org_id: int, link_id: int) -> str:
    """Give a new link its generic code, in the caller's transaction (with its outbox row)."""
    for _ in range(MAX_CODE_ATTEMPTS):
        code = db.session.scalar(
            _INSERT_GENERIC, {"code": new_code(), "org_id": org_id, "link_id": link_id}
        )
        if code is not None:
            outbox.enqueue("codes", link_id, outbox.next_version(), {"codes": [code]})
            return str(code)
    raise RuntimeError("could not find a free code")  # 3.5e12 codes: not in this universe


def get_link(org_id: int, link_id: int) -> Link:
    return owned(Link, org_id, link_id, "link_id", "no such link")


def list_links(org_id: int, archived: bool | None = None) -> list[Link]:
    query = select(Link).where(Link.org_id == org_id)
    if archived is not None:
        query = query.where(Link.archived == archived)
    return list(db.session.scalars(query.order_by(Link.id)))
