"""Pages for sending: broadcasts (compose with a live segment count, list, detail), library
actions, and a contact's conversation (history, a composer whose paperclip attaches a smart
link, saved replies, and a simulator of incoming replies that fires keywords).

Every page is a plain form that works without JavaScript; static/sending.js adds the live
segment count and the paperclip's link picker.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request
from flask_login import login_required

from admin.appsettings import public_admin_url, short_url_scheme
from admin.extensions import db
from admin.models import Contact
from admin.providers import settings as provider_settings
from admin.services import broadcasts as broadcast_service
from admin.services import (
    confirmation,
    conversations,
    library,
    provider_events,
    results,
    sends,
    sms_provider,
)
from admin.services.errors import NotFound, ServiceError, ValidationError
from admin.web import queries, templating
from admin.web.auth import current_org_id, role_required, web_user
from admin.web.blueprint import bp
from admin.web.plain import plain
from admin.web.templating import when

# Sending has its own sections in the main navigation.
for _item in (
    ("web.broadcasts", "Broadcasts", "/broadcasts"),
    ("web.library_page", "Library", "/library"),
):
    if _item not in templating.NAV:
        templating.NAV.append(_item)

CONTACT_CHOICES = 500
MESSAGES_SHOWN = 200
# What the composer shows where the contact's own short URL will go.
LINK_PLACEHOLDER = re.compile(r"\[link:[^\]\n]*\]")


def broadcast_data(form: Any) -> dict[str, Any]:
    """The compose form as the body of POST /api/v1/broadcasts (recipients by one way, when,
    and quiet hours: a checkbox, so absent from a posted form means off)."""
    data: dict[str, Any] = {"body": form.get("body", ""), "link_id": form.get("link_id") or None}
    data["quiet_hours"] = form.get("quiet_hours") == "on"
    data["send_at"] = _send_at(form.get("send_at", ""), form.get("tz_offset", ""))
    data["source"] = form.get("source", "")
    way = form.get("to", "list")
    if way == "follow_up":
        data["follow_up"] = {
            "broadcast_id": _int(form.get("follow_up_broadcast")),
            "segment": form.get("follow_up_segment", ""),
        }
    elif way == "contacts":
        data["contact_ids"] = form.getlist("contact_ids")
    elif way == "tag":
        data["tag"] = form.get("tag", "")
    else:
        data["list"] = form.get("list", "")
    return data


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.strip().isdecimal() else value


def _send_at(local: str, offset: str) -> str | None:
    """A datetime-local value (the browser's local time) with the browser's offset in minutes
    east of UTC (static/sending.js fills it; without JavaScript the time is read as UTC)."""
    local = (local or "").strip()
    if not local:
        return None
    minutes = int(offset) if offset.strip().lstrip("-").isdecimal() else 0
    if not -14 * 60 <= minutes <= 14 * 60:
        minutes = 0
    sign = "+" if minutes >= 0 else "-"
    return f"{local}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _outbox(org_id: int) -> bool:
    """The outbox provider is active: nothing leaves the building (the pages say so)."""
    return bool(sms_provider.current(org_id)["provider"] == "outbox")


# -- broadcasts -------------------------------------------------------------------------------


@bp.get("/broadcasts")
@login_required
def broadcasts() -> Any:
    org_id = current_org_id()
    found = conversations.list_broadcasts(org_id)
    counts = {b.id: conversations.status_counts(org_id, b.id) for b in found}
    return render_template(
        "sending/broadcasts.html", title="Broadcasts", broadcasts=found, counts=counts
    )


def _compose(form: Any, preview: dict[str, Any] | None = None, error: ServiceError | None = None, status: int = 200, confirm: bool = False) -> Any:  # fmt: skip
    org_id = current_org_id()
    return render_template(
        "sending/compose.html",
        title="New broadcast",
        form=form,
        fresh=request.method == "GET",
        confirm=confirm,
        outbox=_outbox(org_id),
        links=queries.sendable_links(org_id),
        lists=queries.list_names(org_id),
        tags=queries.tag_names(org_id),
        contacts=queries.recent_contacts(org_id, CONTACT_CHOICES),
        preview=preview,
        error=error,
    ), status


@bp.get("/broadcasts/new")
@login_required
def broadcast_new() -> Any:
    return _compose(request.args)


@bp.post("/broadcasts/new")
@login_required
def broadcast_send() -> Any:
    org_id = current_org_id()
    data = broadcast_data(request.form)
    action = request.form.get("action")
    provider = sms_provider.current(org_id)["provider"]
    try:
        if action in ("preview", "send"):
            # "send" asks first: the confirmation names who gets it, who is left out, the
            # segments and the cost; only "confirm" queues the broadcast.
            preview = confirmation.preview_broadcast(
                org_id, data, scheme=short_url_scheme(), provider=provider
            )
            if action == "send" and not preview["recipients"]:
                raise ValidationError(
                    "contact_ids",
                    f"no one to send to ({preview['opted_out']} opted out, "
                    f"{preview['unreachable']} unreachable)",
                )
            return _compose(request.form, preview=preview, confirm=action == "send")
        if action == "test":
            target = request.form.get("test_phone", "").strip()
            test = {**data, "phone": target} if target else {**data, "contact_id": _int(
                request.form.get("test_contact_id") or None)}  # fmt: skip
            message_id = broadcast_service.test_send(
                org_id, test, web_user().user_id, scheme=short_url_scheme()
            )
            message = conversations.get_message(org_id, message_id)
            flash(f"Test sent to {message.to_phone}: {message.body}", "info")
            return _compose(request.form)
        broadcast, count = sends.create_broadcast(
            org_id, data, web_user().user_id, scheme=short_url_scheme()
        )
    except ServiceError as exc:
        db.session.rollback()
        return _compose(request.form, error=exc, status=422 if exc.status != 404 else 404)
    skipped = f" ({broadcast.skipped} opted out, skipped)" if broadcast.skipped else ""
    at = f" for {when(broadcast.send_at)}" if broadcast.send_at else ""
    flash(f"Broadcast queued{at}: {count} message{'s' if count != 1 else ''}{skipped}.", "info")
    return redirect(f"/broadcasts/{broadcast.id}")


def _json_payload() -> Any:
    """The request's JSON, or None when it is not JSON (silent=True does not cover nesting
    past the interpreter's recursion limit, which would otherwise be a 500)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


@bp.post("/broadcasts/preview")
@login_required
def broadcast_preview() -> Any:
    """The live segment count of the compose page (JSON in, JSON out)."""
    payload = _json_payload()
    if not isinstance(payload, dict):
        return jsonify(error={"message": "send the form as JSON"}), 400
    try:
        return jsonify(
            confirmation.preview_broadcast(
                current_org_id(), payload, scheme=short_url_scheme(),
                provider=sms_provider.current(current_org_id())["provider"],
            )  # fmt: skip
        )
    except ServiceError as exc:
        db.session.rollback()
        return jsonify(error={"field": exc.field, "message": exc.message}), exc.status


@bp.get("/broadcasts/<int:broadcast_id>")
@login_required
def broadcast_page(broadcast_id: int) -> Any:
    org_id = current_org_id()
    try:
        broadcast = conversations.get_broadcast(org_id, broadcast_id)
    except NotFound:
        abort(404)
    messages = conversations.broadcast_messages(org_id, broadcast.id, limit=MESSAGES_SHOWN)
    return render_template(
        "sending/broadcast.html",
        title=f"Broadcast {broadcast.id}",
        broadcast=broadcast,
        results=results.results(org_id, broadcast.id),
        outbox=_outbox(org_id),
        counts=conversations.status_counts(org_id, broadcast.id),
        messages=messages,
        link=queries.link(org_id, broadcast.link_id) if broadcast.link_id else None,
    )


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@login_required
def broadcast_cancel(broadcast_id: int) -> Any:
    try:
        _, count = broadcast_service.cancel(current_org_id(), broadcast_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
        return redirect(f"/broadcasts/{broadcast_id}")
    flash(f"Broadcast canceled: {count} message{'s' if count != 1 else ''} will not be sent.", "info")
    return redirect(f"/broadcasts/{broadcast_id}")


# -- library actions --------------------------------------------------------------------------


def _library(form: Any, error: ServiceError | None = None, status: int = 200) -> Any:
    org_id = current_org_id()
    actions = library.list_actions(org_id)
    choices = queries.sendable_links(org_id)
    link_names = {link.id: link.name for link in choices}
    return render_template(
        "sending/library.html",
        title="Library",
        actions=actions,
        links=choices,
        link_names=link_names,
        form=form,
        error=error,
    ), status


@bp.get("/library")
@login_required
def library_page() -> Any:
    return _library({})


@bp.post("/library")
@login_required
def library_create() -> Any:
    form = request.form
    data = {
        "name": form.get("name", ""),
        "body": form.get("body", ""),
        "link_id": form.get("link_id") or None,
        "keyword": form.get("keyword") or None,
    }
    try:
        action = library.create_action(current_org_id(), data)
    except ServiceError as exc:
        db.session.rollback()
        return _library(form, exc, 409 if exc.status == 409 else 422)
    flash(f"Saved “{action.name}”.", "info")
    return redirect("/library")


@bp.post("/library/<int:action_id>/delete")
@login_required
def library_delete(action_id: int) -> Any:
    try:
        library.delete_action(current_org_id(), action_id)
    except NotFound:
        abort(404)
    flash("Library action deleted.", "info")
    return redirect("/library")


# -- a contact's conversation -----------------------------------------------------------------


def _contact(contact_id: int) -> Contact:
    try:
        return sends.contact_in_org(current_org_id(), contact_id)
    except NotFound:
        abort(404)


def _conversation(contact: Contact, form: Any, error: ServiceError | None = None, status: int = 200) -> Any:  # fmt: skip
    org_id = current_org_id()
    return render_template(
        "sending/conversation.html",
        title=f"{contact.first_name} {contact.last_name}".strip() or contact.phone,
        contact=contact,
        items=conversations.conversation(org_id, contact.id),
        links=queries.sendable_links(org_id),
        actions=library.list_actions(org_id),
        form=form,
        error=error,
    ), status


@bp.get("/contacts/<int:contact_id>/conversation")
@login_required
def conversation(contact_id: int) -> Any:
    return _conversation(_contact(contact_id), {})


def composed_body(text: str, link_id: str | None) -> str:
    """The composer's text as a body: the link placeholder (``[link: Gala RSVP]``) becomes
    ``{{link}}``; a link chosen without a placeholder goes at the end."""
    if not link_id:
        return text
    if LINK_PLACEHOLDER.search(text):
        return LINK_PLACEHOLDER.sub("{{link}}", text, count=1)
    if "{{link}}" in text.replace(" ", ""):
        return text
    return f"{text.rstrip()} {{{{link}}}}".lstrip()


@bp.post("/contacts/<int:contact_id>/conversation/send")
@login_required
def conversation_send(contact_id: int) -> Any:
    contact = _contact(contact_id)
    link_id = request.form.get("link_id") or None
    body = composed_body(request.form.get("body", ""), link_id)
    try:
        sends.send_to_contact(
            current_org_id(),
            contact.id,
            body,
            link_id,
            user_id=web_user().user_id,
            scheme=short_url_scheme(),
        )
    except ServiceError as exc:
        db.session.rollback()
        return _conversation(_contact(contact_id), request.form, exc, 422)
    flash("Message queued.", "info")
    return redirect(f"/contacts/{contact.id}/conversation")


@bp.post("/contacts/<int:contact_id>/conversation/preview")
@login_required
def conversation_preview(contact_id: int) -> Any:
    """The composer's live count: this contact's text and its segments (JSON)."""
    contact = _contact(contact_id)
    payload = _json_payload()
    if not isinstance(payload, dict):
        return jsonify(error={"message": "send the composer as JSON"}), 400
    link_id = payload.get("link_id") or None
    body = composed_body(str(payload.get("body") or ""), str(link_id) if link_id else None)
    try:
        return jsonify(
            sends.preview_message(
                current_org_id(), contact.id, body, link_id, scheme=short_url_scheme()
            )
        )
    except ServiceError as exc:
        db.session.rollback()
        return jsonify(error={"field": exc.field, "message": exc.message}), exc.status


@bp.post("/contacts/<int:contact_id>/conversation/library")
@login_required
def conversation_library(contact_id: int) -> Any:
    contact = _contact(contact_id)
    try:
        library.send_action(
            current_org_id(),
            request.form.get("library_action_id", ""),
            contact.id,
            user_id=web_user().user_id,
            scheme=short_url_scheme(),
        )
    except ServiceError as exc:
        db.session.rollback()
        return _conversation(_contact(contact_id), request.form, exc, 422)
    flash("Saved reply queued.", "info")
    return redirect(f"/contacts/{contact.id}/conversation")


@bp.post("/contacts/<int:contact_id>/conversation/inbound")
@login_required
def conversation_inbound(contact_id: int) -> Any:
    """The simulator: a reply as if the contact had texted it (keywords fire, STOP opts out)."""
    contact = _contact(contact_id)
    text = request.form.get("reply", "")
    if not text.strip():
        flash("Type the contact's reply first.", "warning")
        return redirect(f"/contacts/{contact.id}/conversation")
    result = provider_events.receive(current_org_id(), contact, text, scheme=short_url_scheme())
    if result.reply_message_id:
        flash("The reply matched a keyword: its library action answered.", "info")
    elif result.opted_out is not None:
        flash(
            "The contact opted out." if result.opted_out else "The contact opted back in.", "info"
        )
    return redirect(f"/contacts/{contact.id}/conversation")


# -- the organisation's SMS provider ----------------------------------------------------------


def _provider_page(form: Any, error: ServiceError | None = None, status: int = 200) -> Any:
    org_id = current_org_id()
    sms = sms_provider.current(org_id)
    base = public_admin_url()
    return render_template(
        "sending/provider.html",
        title="SMS provider",
        sms=provider_settings.public_view(sms),
        form=form,
        error=error,
        status_url=provider_settings.status_callback_url(base, org_id),
        inbound_url=provider_settings.inbound_url(base, org_id),
    ), status


@bp.get("/sending/provider")
@role_required("admin")
def provider_page() -> Any:
    return _provider_page({})


@bp.post("/sending/provider")
@role_required("admin")
def provider_save() -> Any:
    form = request.form
    data: dict[str, Any] = {
        "provider": form.get("provider", "outbox"),
        "account_sid": form.get("account_sid", ""),
        "auth_token": form.get("auth_token", ""),
        "from": form.get("from", ""),
        "base_url": form.get("base_url", ""),
    }
    rate = form.get("rate_per_second", "").strip()
    try:
        data["rate_per_second"] = float(rate) if rate else 1.0
    except ValueError:
        data["rate_per_second"] = rate  # the service names the field
    try:
        sms = sms_provider.save(current_org_id(), data)
    except ValidationError as exc:
        return _provider_page(form, exc, 422)
    flash(f"Messages now go out through {sms['provider']}.", "info")
    return redirect("/sending/provider")
