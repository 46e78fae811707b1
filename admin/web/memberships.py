"""A contact's tags and lists (small forms on the contact's page), and the Lists & tags page:
counts, and creating, renaming and deleting lists. Every change goes through
admin.services.memberships; a refused change comes back as a flashed message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request
from flask_login import login_required

from admin.extensions import db
from admin.services import contacts, memberships
from admin.services.errors import NotFound, ServiceError
from admin.web.auth import current_org_id
from admin.web.blueprint import bp, or_404
from admin.web.plain import plain

LISTS_PAGE = "/lists"


def _attempt(change: Callable[[], Any], done: str, back: str) -> Any:
    """Run ``change``; flash ``done`` or the service's message, then go ``back`` (303)."""
    try:
        change()
    except ServiceError as exc:
        db.session.rollback()
        if isinstance(exc, NotFound) and exc.field in ("contact_id", "list_id"):
            abort(404)  # not this organisation's: the same answer as for no such page
        flash(plain(exc.message), "error")
    else:
        flash(done, "success")
    return redirect(back, code=303)


def _field(name: str) -> str:
    return request.form.get(name, "")


# -- on a contact's page -------------------------------------------------------------------------


def _change_contact(
    contact_id: int, change: Callable[[int, int, Any], Any], field: str, done: str
) -> Any:
    org_id = current_org_id()
    or_404(contacts.get_contact, org_id, contact_id)
    raw = _field(field)
    return _attempt(
        lambda: change(org_id, contact_id, raw),
        done.format(name=raw.strip()),
        f"/contacts/{contact_id}",
    )


@bp.post("/contacts/<int:contact_id>/tags/add")
@login_required
def contact_tag_add(contact_id: int) -> Any:
    return _change_contact(contact_id, memberships.add_tag, "tag", "Tagged {name}.")


@bp.post("/contacts/<int:contact_id>/tags/remove")
@login_required
def contact_tag_remove(contact_id: int) -> Any:
    return _change_contact(contact_id, memberships.remove_tag, "tag", "Tag {name} removed.")


@bp.post("/contacts/<int:contact_id>/lists/add")
@login_required
def contact_list_add(contact_id: int) -> Any:
    return _change_contact(contact_id, memberships.add_to_list, "list", "Added to {name}.")


@bp.post("/contacts/<int:contact_id>/lists/remove")
@login_required
def contact_list_remove(contact_id: int) -> Any:
    return _change_contact(contact_id, memberships.remove_from_list, "list", "Removed from {name}.")


# -- the Lists & tags page -----------------------------------------------------------------------


@bp.get(LISTS_PAGE)
@login_required
def lists_page() -> Any:
    org_id = current_org_id()
    return render_template(
        "contacts/lists.html",
        title="Lists & tags",
        lists=memberships.list_lists(org_id),
        tags=memberships.list_tags(org_id),
    )


@bp.post(LISTS_PAGE)
@login_required
def lists_create() -> Any:
    org_id = current_org_id()
    name = _field("name")
    return _attempt(
        lambda: memberships.create_list(org_id, name), f"List {name.strip()} created.", LISTS_PAGE
    )


@bp.post(f"{LISTS_PAGE}/<int:list_id>/rename")
@login_required
def lists_rename(list_id: int) -> Any:
    org_id = current_org_id()
    old = _existing_list(org_id, list_id)
    name = _field("name")
    result = _attempt(
        lambda: memberships.rename_list(org_id, list_id, name),
        f"List {old} renamed to {name.strip()}.",
        LISTS_PAGE,
    )
    naming = memberships.links_naming_list(org_id, old)
    if naming and old != memberships.get_list(org_id, list_id).name:
        flash(
            f"{naming} link{'s' if naming != 1 else ''} still name {old!r} in click actions: "
            "a click will create that list again unless you change the link.",
            "warning",
        )
    return result


@bp.post(f"{LISTS_PAGE}/<int:list_id>/delete")
@login_required
def lists_delete(list_id: int) -> Any:
    org_id = current_org_id()
    old = _existing_list(org_id, list_id)
    return _attempt(
        lambda: memberships.delete_list(org_id, list_id),
        f"List {old} deleted (its contacts stay).",
        LISTS_PAGE,
    )


def _existing_list(org_id: int, list_id: int) -> str:
    try:
        return memberships.get_list(org_id, list_id).name
    except NotFound:
        abort(404)
