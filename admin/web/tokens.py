"""API tokens: a new token is shown once (only its hash is stored); revoke ends it at once."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template
from sqlalchemy import select

from admin.extensions import db
from admin.models import ApiToken, User
from admin.services.orgs import issue_api_token, revoke_api_token
from admin.web.auth import current_org_id, role_required, web_user
from admin.web.blueprint import bp
from admin.web.forms import TokenForm


def _page(form: TokenForm | None = None, new_token: str | None = None, status: int = 200) -> Any:
    rows = db.session.execute(
        select(ApiToken, User.email)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(ApiToken.org_id == current_org_id())
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
    ).all()
    headers = {"Cache-Control": "no-store"} if new_token else {}
    return (
        render_template(
            "tokens/list.html",
            title="API tokens",
            tokens=rows,
            form=form or TokenForm(formdata=None),
            new_token=new_token,
        ),
        status,
        headers,
    )


@bp.get("/tokens")
@role_required("admin")
def tokens() -> Any:
    return _page()


@bp.post("/tokens")
@role_required("admin")
def tokens_create() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    token = issue_api_token(current_org_id(), web_user().user_id, (form.name.data or "").strip())
    db.session.commit()
    # Rendered in the POST's answer, never stored: this is the only time it is visible.
    return _page(TokenForm(formdata=None), new_token=token, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@role_required("admin")
def tokens_revoke(token_id: int) -> Any:
    token = revoke_api_token(current_org_id(), token_id)
    if token is None:
        flash("No such token.", "error")
    else:
        db.session.commit()
        flash(f"The token {token.prefix}… is revoked.", "success")
    return redirect("/tokens")
