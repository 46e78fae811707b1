"""Contacts: search and filters (tag, list), a contact's page with fields, tags, lists and the
conversation history, and the contact chooser of the destination builder."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import flash, jsonify, redirect, render_template, request
from flask_login import login_required
from sqlalchemy import func, or_, select

from admin.extensions import db
from admin.models import Contact
from admin.services import audiences, contacts, conversations
from admin.services.errors import ServiceError, ValidationError
from admin.web import queries
from admin.web.auth import current_org_id
from admin.web.blueprint import bp, or_404
from admin.web.forms import ContactForm
from admin.web.plain import plain

PAGE_SIZE = 50
HISTORY_SHOWN = 500


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_query(org_id: int, q: str, tag: str = "", list_name: str = "") -> Any:
    query = select(Contact).where(Contact.org_id == org_id)
    q = q.strip()
    if q:
        like = _like(q)
        digits = "".join(c for c in q if c.isdigit())
        terms = [
            Contact.first_name.ilike(like),
            Contact.last_name.ilike(like),
            Contact.email.ilike(like),
            (Contact.first_name + " " + Contact.last_name).ilike(like),
        ]
        if len(digits) >= 3:
            terms.append(Contact.phone.like("%" + digits + "%"))
        query = query.where(or_(*terms))
    if tag:
        query = query.where(Contact.id.in_(audiences.tag_members(org_id, tag)))
    if list_name:
        query = query.where(Contact.id.in_(audiences.list_members(org_id, list_name)))
    return query


@bp.get("/contacts")
@login_required
def contacts_list() -> Any:
    org_id = current_org_id()
    # Postgres text cannot hold NUL, and OFFSET is a bigint: odd query strings stay a 200.
    q = request.args.get("q", "")[:200].replace("\x00", "")
    tag = request.args.get("tag", "")[:100].replace("\x00", "")
    list_name = request.args.get("list", "")[:100].replace("\x00", "")
    page = min(max(1, request.args.get("page", 1, type=int) or 1), 1_000_000)
    rows = list(
        db.session.scalars(
            search_query(org_id, q, tag, list_name)
            .order_by(Contact.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    member = contacts.memberships([c.id for c in rows]) if rows else {}

    def page_args(n: int) -> str:
        return urlencode({"q": q, "tag": tag, "list": list_name, "page": n})

    return render_template(
        "contacts/list.html",
        title="Contacts",
        rows=rows,
        member=member,
        q=q,
        tag=tag,
        list_name=list_name,
        tags=queries.tag_names(org_id),
        lists=queries.list_names(org_id),
        page=page,
        has_next=has_next,
        page_args=page_args,
        matching=_count(search_query(org_id, q, tag, list_name)) if rows else 0,
        back=request.full_path,
    )


def _count(query: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


@bp.get("/contacts/search.json")
@login_required
def contacts_search() -> Any:
    q = request.args.get("q", "")[:200].replace("\x00", "")
    rows = db.session.scalars(
        search_query(current_org_id(), q).order_by(Contact.id.desc()).limit(20)
    )
    return jsonify(
        contacts=[
            {
                "id": c.id,
                "phone": c.phone,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "email": c.email,
            }
            for c in rows
        ]
    )


@bp.get("/contacts/<int:contact_id>")
@login_required
def contact_page(contact_id: int) -> Any:
    org_id = current_org_id()
    contact = or_404(contacts.get_contact, org_id, contact_id)
    tags, lists = contacts.memberships([contact.id])[contact.id]
    return render_template(
        "contacts/detail.html",
        title=(f"{contact.first_name} {contact.last_name}".strip() or contact.phone),
        contact=contact,
        tags=tags,
        lists=lists,
        all_tags=queries.tag_names(org_id),
        all_lists=queries.list_names(org_id),
        events=conversations.conversation(org_id, contact.id, limit=HISTORY_SHOWN),
        history_shown=HISTORY_SHOWN,
    )


def parse_fields(text: str) -> dict[str, str | None]:
    """``name: value`` lines (or ``name=value``) as a fields object; raises ValidationError."""
    found: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = re.match(r"^\s*([^:=]+?)\s*[:=]\s*(.*?)\s*$", line)
        if not match:
            raise ValidationError("fields", f"line {number}: write name: value")
        found[match.group(1)] = match.group(2)
    return found


def _contact_data(form: ContactForm, current: Contact | None) -> dict[str, Any]:
    fields: dict[str, str | None] = parse_fields(form.fields.data or "")
    if current is not None:  # a field no longer listed is removed
        fields.update({k: None for k in current.fields if k not in fields})
    return {
        "phone": form.phone.data or "",
        "first_name": form.first_name.data or "",
        "last_name": form.last_name.data or "",
        "email": form.email.data or "",
        "fields": fields,
        "opted_out": bool(form.opted_out.data),
    }


def _contact_form_page(form: ContactForm, contact: Contact | None, status: int) -> Any:
    title = "New contact" if contact is None else f"Edit {contact.phone}"
    return render_template("contacts/form.html", title=title, form=form, contact=contact), status


def _save_contact(form: ContactForm, contact: Contact | None) -> Any:
    org_id = current_org_id()
    try:
        data = _contact_data(form, contact)
        if contact is None:
            saved = contacts.create_contact(org_id, data)
        else:
            saved = contacts.update_contact(org_id, contact.id, data)
    except ServiceError as exc:
        db.session.rollback()
        field = (exc.field or "").split(".", 1)[0]
        target = getattr(form, field, None) if field in CONTACT_FIELDS else None
        if target is not None:
            target.errors.append(plain(exc.message))
        else:
            form.form_errors.append(plain(exc.message))
        return None
    flash("The contact is saved.", "success")
    return redirect(f"/contacts/{saved.id}")


CONTACT_FIELDS = {"phone", "first_name", "last_name", "email", "fields", "opted_out"}


@bp.route("/contacts/new", methods=["GET", "POST"])
@login_required
def contacts_new() -> Any:
    form = ContactForm()
    if form.validate_on_submit():
        done = _save_contact(form, None)
        if done is not None:
            return done
    return _contact_form_page(form, None, 400 if form.is_submitted() else 200)


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@login_required
def contacts_edit(contact_id: int) -> Any:
    contact = or_404(contacts.get_contact, current_org_id(), contact_id)
    form = ContactForm()
    if request.method == "GET":
        form.phone.data = contact.phone
        form.first_name.data = contact.first_name
        form.last_name.data = contact.last_name
        form.email.data = contact.email
        form.fields.data = "\n".join(f"{k}: {v}" for k, v in sorted(contact.fields.items()))
        form.opted_out.data = contact.opted_out
    elif form.validate_on_submit():
        done = _save_contact(form, contact)
        if done is not None:
            return done
    return _contact_form_page(form, contact, 400 if form.is_submitted() else 200)
