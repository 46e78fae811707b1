"""Many contacts at once, from the contacts list (any filter), the Lists & tags page and every
drill-down behind a link's number: add to a list, tag, untag, take off a list, export, or
message them.

The selection is the ticked rows, or with ``all=1`` everything the page's filter matches (not
only the page shown): the filter travels in the form and is run again here. On the Lists &
tags page the ticked rows are lists and tags, and the selection is everyone on any of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Response, flash, redirect, request
from flask_login import login_required
from sqlalchemy import or_, select

from admin.downloads import csv_attachment
from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, ListMember, Tag
from admin.services import audit, bulk, contacts, metrics
from admin.services.errors import ServiceError
from admin.web import exports
from admin.web.auth import current_org_id
from admin.web.blueprint import bp
from admin.web.contacts import search_query
from admin.web.plain import plain
from admin.web.zones import display_zone, zone

ACTIONS = {
    "add_to_list": "Add to list",
    "remove_from_list": "Remove from list",
    "tag": "Tag",
    "untag": "Untag",
    "message": "Message them",
    "export": "Export CSV",
}
DONE = {
    "add_to_list": "added to the list {}",
    "remove_from_list": "taken off the list {}",
    "tag": "tagged {}",
    "untag": "untagged {}",
}
PAGE = 1000
MAX_GROUPS = 1000  # lists or tags ticked at once: more than any page shows


def _int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and 0 < len(value) < 19 else None


def _text(key: str, limit: int = 200) -> str:
    return request.form.get(key, "")[:limit].replace("\x00", "")


def selection(org_id: int) -> list[int]:
    """The contact ids the form means: the ticked, or all that its filter matches."""
    if request.form.get("scope") == "groups":
        return _group_members(org_id, *_groups())
    if request.form.get("all") != "1":
        ids = (_int(v) for v in request.form.getlist("contact_ids"))
        return list(dict.fromkeys(i for i in ids if i is not None))
    if request.form.get("scope") == "link":
        link_id = _int(request.form.get("link_id", ""))
        metric = request.form.get("metric", "clicks")
        if (
            link_id is None
            or metric not in metrics.METRICS
            or not metrics.link_in_org(org_id, link_id)
        ):
            return []
        found: list[int] = []
        after: int | None = 0
        while after is not None and len(found) <= bulk.MAX_CONTACTS:
            rows, after = metrics.contacts_page(org_id, link_id, metric, after, PAGE)
            found.extend(r.id for r in rows)
        return found
    query = search_query(org_id, _text("q"), _text("tag", 100), _text("list", 100))
    return list(
        db.session.scalars(
            query.with_only_columns(Contact.id).order_by(Contact.id).limit(bulk.MAX_CONTACTS + 1)
        )
    )


def _groups() -> tuple[list[int], list[str]]:
    """The ticked lists (ids) and tags (names) of the Lists & tags page."""
    list_ids = (_int(v) for v in request.form.getlist("list_ids"))
    tags = (v[:100].replace("\x00", "") for v in request.form.getlist("tag_names"))
    return (
        list(dict.fromkeys(i for i in list_ids if i is not None))[:MAX_GROUPS],
        list(dict.fromkeys(t for t in tags if t))[:MAX_GROUPS],
    )


def _group_members(org_id: int, list_ids: list[int], tags: list[str]) -> list[int]:
    """Everyone on any of the organisation's lists ``list_ids`` or with any of its ``tags``."""
    on_lists = (
        select(ListMember.contact_id)
        .join(ContactList, ContactList.id == ListMember.list_id)
        .where(ContactList.org_id == org_id, ContactList.id.in_(list_ids))
    )
    tagged = (
        select(ContactTag.contact_id)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(Tag.org_id == org_id, Tag.name.in_(tags))
    )
    if not (list_ids or tags):
        return []
    return list(
        db.session.scalars(
            select(Contact.id)
            .where(Contact.org_id == org_id, or_(Contact.id.in_(on_lists), Contact.id.in_(tagged)))
            .order_by(Contact.id)
            .limit(bulk.MAX_CONTACTS + 1)
        )
    )


def _back() -> str:
    back = request.form.get("back", "/contacts")
    return back if back.startswith("/") and not back.startswith("//") else "/contacts"


@bp.post("/people/bulk")
@login_required
def people_bulk() -> Any:
    org_id = current_org_id()
    action = request.form.get("action", "")
    if action not in ACTIONS:
        flash("Choose what to do with the selected people.", "error")
        return redirect(_back())
    ids = selection(org_id)
    if not ids:
        flash(
            "Tick lists or tags with people on them first."
            if request.form.get("scope") == "groups"
            else "Select people first: tick them, or choose all that match.",
            "warning",
        )
        return redirect(_back())
    if action == "export":
        return _export(org_id, ids)
    target = _text("name", 100)
    try:
        if action == "message":
            return _message(org_id, ids)
        if not target.strip():
            field = "tag" if action in ("tag", "untag") else "list"
            flash(f"Name the {field} first.", "error")
            return redirect(_back())
        change = {
            "add_to_list": bulk.add_to_list,
            "remove_from_list": bulk.remove_from_list,
            "tag": bulk.add_tag,
            "untag": bulk.remove_tag,
        }[action]
        count = change(org_id, ids, target)
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
        return redirect(_back())
    flash(
        f"{count} {'person' if count == 1 else 'people'} {DONE[action].format(repr(target.strip()))}.",
        "success",
    )
    return redirect(_back())


def _message(org_id: int, ids: list[int]) -> Any:
    """The composer, set to send to these people: a filter by one tag or list goes as it is;
    any other selection is put on a list of its own first (named with the time, so it is
    plain where it came from, in the person's time zone), which the composer then chooses."""
    if request.form.get("scope") == "groups":
        list_ids, tags = _groups()
        if len(list_ids) + len(tags) == 1:
            return redirect("/broadcasts/new?" + urlencode(_audience(org_id, list_ids, tags)))
    if request.form.get("all") == "1" and request.form.get("scope") != "link" and not _text("q"):
        tag, list_name = _text("tag", 100), _text("list", 100)
        if tag and not list_name:
            return redirect("/broadcasts/new?" + urlencode({"to": "tag", "tag": tag}))
        if list_name and not tag:
            return redirect("/broadcasts/new?" + urlencode({"to": "list", "list": list_name}))
    name = "Selected " + datetime.now(zone(display_zone())).strftime("%Y-%m-%d %H:%M:%S")
    count = bulk.add_to_list(org_id, ids, name)
    flash(
        f"{count} {'person is' if count == 1 else 'people are'} on the list {name!r}, chosen below.",
        "info",
    )
    return redirect("/broadcasts/new?" + urlencode({"to": "list", "list": name}))


def _audience(org_id: int, list_ids: list[int], tags: list[str]) -> dict[str, str]:
    """The composer's words for one ticked list (by its name) or one tag."""
    if tags:
        return {"to": "tag", "tag": tags[0]}
    found = db.session.scalar(
        select(ContactList.name).where(ContactList.org_id == org_id, ContactList.id == list_ids[0])
    )
    return {"to": "list", "list": found or ""}


def _export(org_id: int, ids: list[int]) -> Response:
    busy = exports.refused()
    if busy is not None:
        return busy
    # Personal data leaves the system: recorded (and committed) before the first row goes.
    audit.record(org_id, "export.people", f"{len(ids)} people", detail={"people": len(ids)})
    db.session.commit()

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["contact_id", "phone", "first_name", "last_name", "email", "tags", "lists"]
        )
        for start in range(0, len(ids), PAGE):
            chunk = ids[start : start + PAGE]
            people = db.session.scalars(
                select(Contact)
                .where(Contact.org_id == org_id, Contact.id.in_(chunk))
                .order_by(Contact.id)
            ).all()
            member = contacts.memberships([c.id for c in people])
            for c in people:
                tags, lists = member.get(c.id, ([], []))
                writer.writerow(
                    [c.id, c.phone, *(metrics.neutralise(v or "") for v in (c.first_name, c.last_name, c.email)),
                     metrics.neutralise(";".join(tags)), metrics.neutralise(";".join(lists))]
                )  # fmt: skip
            yield out.getvalue()
            out.seek(0)
            out.truncate()

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return csv_attachment(rows(), f"people-{stamp}.csv")
