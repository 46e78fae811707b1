"""Team members, roles and invitations (the invite link is shown to the inviter: no email)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template
from flask_login import login_required, login_user

from admin.appsettings import public_admin_url
from admin.extensions import db
from admin.models import Organisation
from admin.services import team as team_service
from admin.services.errors import ServiceError
from admin.web.auth import WebUser, current_org_id, reset_session, role_required, web_user
from admin.web.blueprint import bp
from admin.web.forms import AcceptInviteForm, InviteForm, RoleForm
from admin.web.plain import plain


def _actor() -> Any:
    return team_service.acting_user(current_org_id(), web_user().user_id)


def _page(invite_form: InviteForm | None = None, status: int = 200) -> Any:
    org_id = current_org_id()
    return render_template(
        "team/list.html",
        title="Team",
        members=team_service.members(org_id),
        invitations=team_service.pending_invitations(org_id),
        form=invite_form or InviteForm(),
        role_form=RoleForm(),
        me=web_user(),
    ), status


@bp.get("/team")
@login_required
def team() -> Any:
    return _page()


@bp.post("/team/invite")
@role_required("admin")
def team_invite() -> Any:
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        new = team_service.invite(current_org_id(), _actor(), form.email.data or "", form.role.data)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        getattr(form, exc.field or "email", form.email).errors.append(plain(exc.message))
        return _page(form, exc.status if exc.status < 500 else 400)
    link = public_admin_url() + f"/invite/{new.token}"
    response = render_template(
        "team/invited.html", title="Invitation", invitation=new.invitation, link=link
    )
    return response, 201, {"Cache-Control": "no-store"}


def _act(fn: Any, success: str) -> Any:
    try:
        fn()
        db.session.commit()
        flash(success, "success")
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
    return redirect("/team")


@bp.post("/team/invitations/<int:invitation_id>/revoke")
@role_required("admin")
def team_revoke_invitation(invitation_id: int) -> Any:
    return _act(
        lambda: team_service.revoke_invitation(current_org_id(), _actor(), invitation_id),
        "The invitation is revoked.",
    )


@bp.post("/team/<int:user_id>/role")
@role_required("admin")
def team_role(user_id: int) -> Any:
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose a role.", "error")
        return redirect("/team")
    return _act(
        lambda: team_service.change_role(current_org_id(), _actor(), user_id, form.role.data),
        "The role is changed.",
    )


@bp.post("/team/<int:user_id>/deactivate")
@role_required("admin")
def team_deactivate(user_id: int) -> Any:
    return _act(
        lambda: team_service.set_active(current_org_id(), _actor(), user_id, False),
        "The member is deactivated; their sessions have ended.",
    )


@bp.post("/team/<int:user_id>/activate")
@role_required("admin")
def team_activate(user_id: int) -> Any:
    return _act(
        lambda: team_service.set_active(current_org_id(), _actor(), user_id, True),
        "The member is active again.",
    )


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str) -> Any:
    invitation = team_service.find_invitation(token)
    if invitation is None:
        return render_template(
            "error.html",
            title="Invitation not valid",
            message="This invitation was used, revoked or has expired. Ask for a new one.",
        ), 404
    org_name = db.session.get(Organisation, invitation.org_id).name  # type: ignore[union-attr]
    form = AcceptInviteForm()
    if form.validate_on_submit():
        try:
            user = team_service.accept(token, form.name.data or "", form.password.data or "")
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field or "name", form.name).errors.append(plain(exc.message))
        else:
            reset_session()
            login_user(WebUser(user, org_name))
            flash(f"Welcome to {org_name}!", "success")
            return redirect("/links")
    return render_template(
        "team/accept.html",
        title="Join " + org_name,
        form=form,
        invitation=invitation,
        org_name=org_name,
    ), (400 if form.is_submitted() else 200)
