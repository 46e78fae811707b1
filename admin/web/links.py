"""Links: the list, create and edit (destination builder, preview card, actions), archive."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import flash, jsonify, redirect, render_template, request
from flask_login import login_required
from werkzeug.datastructures import FileStorage
from wtforms import SelectChoice

from admin.appsettings import public_admin_url, short_url_scheme
from admin.extensions import db
from admin.models import Link
from admin.services import codes, compliance, links, presets, uploads
from admin.services.errors import ServiceError
from admin.web import queries
from admin.web.auth import current_org_id, web_user
from admin.web.blueprint import bp, or_404
from admin.web.forms import LinkForm
from admin.web.link_glance import glances
from admin.web.plain import plain
from admin.web.warnings import PUBLIC_SHORTENERS, link_warnings
from admin.web.zones import display_zone, from_local_input, local_input
from core import actions as click_actions
from core.merge import BUILTIN_NAMES

SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "name": "Name",
    "clicks": "Most clicks",
    "unique": "Most unique clicks",
    "expiry": "Expiring soonest",
}
_ACTION_FIELD = re.compile(r"^actions\[(\d+)\](?:\.(\w+))?$")


def _get_link(link_id: int) -> Link:
    return or_404(links.get_link, current_org_id(), link_id)


@bp.get("/links")
@login_required
def links_list() -> Any:
    org_id = current_org_id()
    # Postgres text cannot hold NUL, and ids and OFFSET are bigints: odd query strings stay a 200.
    q = request.args.get("q", "")[:200].replace("\x00", "")
    show = request.args.get("show", "active")
    domain_id = request.args.get("domain", type=int)
    if domain_id is not None and not 0 < domain_id < 2**63:
        domain_id = None
    page = min(max(1, request.args.get("page", 1, type=int) or 1), 1_000_000)
    sort = request.args.get("sort", "newest")
    if sort not in queries.LINK_SORTS:
        sort = "newest"
    folder_arg = request.args.get("folder")
    folder = folder_arg[:100].replace("\x00", "") if folder_arg else None
    rows, has_next = queries.search_links(org_id, q, domain_id, show, page, sort, folder)
    generic = links.generic_codes(r.link.id for r in rows)
    scheme = short_url_scheme()
    urls = {
        r.link.id: codes.short_url(r.link, generic[r.link.id], scheme)
        for r in rows
        if r.link.id in generic
    }

    def page_args(n: int) -> str:
        return urlencode(
            {"q": q, "show": show, "domain": domain_id or "", "sort": sort,
             "folder": folder or "", "page": n}
        )  # fmt: skip

    return render_template(
        "links/list.html",
        title="Links",
        rows=rows,
        urls=urls,
        q=q,
        show=show,
        domain_id=domain_id,
        domains=queries.domains(org_id),
        page=page,
        has_next=has_next,
        page_args=page_args,
        any_links=bool(rows) or queries.link_count(org_id) > 0,
        sort=sort,
        sorts=SORT_LABELS,
        folder=folder,
        folders=queries.link_folders(org_id),
        glance=glances(org_id, [r.link.id for r in rows], display_zone()),
        now=datetime.now(UTC),
        back=request.full_path,
    )


@bp.get("/links/counts.json")
@login_required
def links_counts() -> Any:
    # ASCII digits only ("²" is a digit to isdigit but not to int) and within bigint.
    given = request.args.get("ids", "").split(",")
    ids = [int(x) for x in given if x.isascii() and x.isdigit() and len(x) < 19][:200]
    counts = queries.counters(current_org_id(), ids)
    return jsonify(counts={str(k): v for k, v in counts.items()})


def _builder_context(form: LinkForm, link: Link | None) -> dict[str, Any]:
    org_id = current_org_id()
    image_width = None
    if form.preview_image_url.data:
        upload = queries.upload_for_url(org_id, form.preview_image_url.data)
        image_width = upload.width if upload else None
    fields = [*BUILTIN_NAMES, *(f"fields.{n}" for n in queries.custom_field_names(org_id))]
    return {
        "form": form,
        "link": link,
        "merge_fields": fields,
        "image_width": image_width,
        "shorteners": json.dumps(sorted(PUBLIC_SHORTENERS)),
        "presets": presets.PRESETS,
        "may_allow_redirects": web_user().role == "owner",
        "presets_json": json.dumps(presets.listing()),
        "has_domains": bool(form.domain_id.choices),
        "tags": queries.tag_names(org_id),
        "lists": queries.list_names(org_id),
        "folders": queries.link_folders(org_id),
        "zone_name": display_zone(),
    }


def _prepare_form(form: LinkForm) -> None:
    form.domain_id.choices = [
        SelectChoice(d.id, d.hostname)  # type: ignore[arg-type]  # an int value: coerce=int
        for d in queries.domains(current_org_id())
    ]


def _fill_from_link(form: LinkForm, link: Link) -> None:
    form.name.data = link.name
    form.destination.data = link.destination
    form.domain_id.data = link.domain_id
    form.extension.data = link.extension
    form.preview_title.data = link.preview_title
    form.preview_description.data = link.preview_description
    form.preview_image_url.data = link.preview_image_url
    form.folder.data = link.folder
    form.expires_at.data = local_input(link.expires_at, display_zone())
    while len(form.actions.entries):
        form.actions.pop_entry()
    for action in click_actions.from_json(link.actions):
        form.actions.append_entry({"type": action.type, "value": action.name})
    if not link.actions:
        form.actions.append_entry({"type": "", "value": ""})


def _image_url(form: LinkForm) -> str:
    """Store a newly chosen image (committed at once, so a failed save keeps it) or keep the
    current one; raises ServiceError("image") for a file that is not an image."""
    file = form.preview_image.data
    if isinstance(file, FileStorage) and file.filename:
        data = file.read(uploads.MAX_IMAGE_BYTES + 1)
        upload = uploads.store_image(current_org_id(), data)
        url = uploads.public_url(upload, public_admin_url())
        db.session.commit()
        form.preview_image_url.data = url
        return url
    if form.remove_image.data:
        form.preview_image_url.data = ""
        return ""
    return form.preview_image_url.data or ""


def _link_data(form: LinkForm, image_url: str) -> dict[str, Any]:
    hostnames = {c.value: c.label for c in form.domain_id.choices or []}  # type: ignore[union-attr]
    # Blank rows are skipped; the service validates the rest (the form's choices are the types).
    actions = click_actions.to_json(
        click_actions.action(entry.form.type.data, entry.form.value.data or "")
        for entry in form.actions.entries
        if entry.form.type.data
    )
    return {
        "name": form.name.data or "",
        "destination": (form.destination.data or "").strip(),
        "domain": hostnames.get(form.domain_id.data),
        "extension": (form.extension.data or "").strip(),
        "preview": {
            "title": form.preview_title.data or "",
            "description": form.preview_description.data or "",
            "image_url": image_url,
        },
        "actions": actions,
        "folder": form.folder.data or "",
        "expires_at": from_local_input(form.expires_at.data or "", display_zone()),
    }


def _show_error(form: LinkForm, exc: ServiceError) -> None:
    field = exc.field or ""
    target: Any = None
    match = _ACTION_FIELD.match(field)
    if match:
        # Errors name the index among the saved actions; blank rows were skipped.
        filled = [e for e in form.actions.entries if e.form.type.data]
        index = int(match.group(1))
        if index < len(filled):
            target = filled[index].form.value if match.group(2) else filled[index].form.type
    else:
        target = {
            "destination": form.destination,
            "domain": form.domain_id,
            "extension": form.extension,
            "name": form.name,
            "preview.title": form.preview_title,
            "preview.description": form.preview_description,
            "preview.image_url": form.preview_image,
            "image": form.preview_image,
            "actions": form.actions,
            "folder": form.folder,
            "expires_at": form.expires_at,
        }.get(field)
    if target is not None and isinstance(target.errors, list):
        target.errors.append(plain(exc.message))
    else:
        form.form_errors.append(plain(exc.message))


def _flash_warnings(link: Link) -> None:
    upload = queries.upload_for_url(link.org_id, link.preview_image_url)
    for warning in link_warnings(
        link.destination,
        link.preview_title,
        upload.width if upload else None,
        bool(link.preview_image_url),
    ):
        flash(warning, "warning")


def _override() -> compliance.Override:
    """An owner's ticked "allow the redirect" (the box shows only to owners, but is checked
    here again): a destination that redirects elsewhere is saved, and the audit log says so."""
    user = web_user()
    if request.form.get("allow_redirects") != "on" or user.role != "owner":
        return compliance.WEB_FORM
    return compliance.Override(shortener=True, redirects=True, actor=f"user:{user.user_id}")


def _save(form: LinkForm, link: Link | None) -> Any:
    """Validate and save; on failure the form again, with each error next to its field."""
    if not form.validate_on_submit():
        return None
    try:
        image_url = _image_url(form)
        data = _link_data(form, image_url)
        if link is None:
            saved = links.create_link(current_org_id(), data, override=_override())
        else:
            saved = links.update_link(current_org_id(), link.id, data, override=_override())
    except ServiceError as exc:
        db.session.rollback()
        _show_error(form, exc)
        return None
    flash("The link is saved." if link else "The link is created.", "success")
    _flash_warnings(saved)
    return redirect(f"/links/{saved.id}")


@bp.route("/links/new", methods=["GET", "POST"])
@login_required
def links_new() -> Any:
    form = LinkForm()
    _prepare_form(form)
    if request.method == "GET":
        form.actions.entries[0].form.type.data = click_actions.WHISPER
        if form.domain_id.choices:
            form.domain_id.data = form.domain_id.choices[0].value  # type: ignore[index,union-attr]
    done = _save(form, None) if request.method == "POST" else None
    if done is not None:
        return done
    status = 400 if request.method == "POST" else 200
    return render_template(
        "links/form.html", title="New link", **_builder_context(form, None)
    ), status


@bp.route("/links/<int:link_id>/edit", methods=["GET", "POST"])
@login_required
def links_edit(link_id: int) -> Any:
    link = _get_link(link_id)
    form = LinkForm()
    _prepare_form(form)
    if request.method == "GET":
        _fill_from_link(form, link)
    done = _save(form, link) if request.method == "POST" else None
    if done is not None:
        return done
    status = 400 if request.method == "POST" else 200
    title = f"Edit {link.name or 'link'}"
    return render_template("links/form.html", title=title, **_builder_context(form, link)), status


def _set_archived(link_id: int, archived: bool) -> Any:
    link = _get_link(link_id)
    try:
        links.update_link(current_org_id(), link.id, {"archived": archived})
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
    else:
        flash(
            "The link is archived: its URLs answer with the domain's fallback."
            if archived
            else "The link is restored.",
            "success",
        )
    return redirect(f"/links/{link_id}")


@bp.post("/links/<int:link_id>/archive")
@login_required
def links_archive(link_id: int) -> Any:
    return _set_archived(link_id, True)


@bp.post("/links/<int:link_id>/restore")
@login_required
def links_restore(link_id: int) -> Any:
    return _set_archived(link_id, False)
