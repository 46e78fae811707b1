"""Domains: add a branded hostname, DNS instructions, the verification check, the fallback."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request
from flask_login import login_required

from admin.appsettings import dns_servers, edge_cname_target
from admin.extensions import db
from admin.models import Domain
from admin.services import domains as domain_service
from admin.services import ownership
from admin.services.errors import ServiceError
from admin.web.auth import current_org_id, role_required, web_user
from admin.web.blueprint import bp, or_404
from admin.web.forms import DomainForm, FallbackForm
from admin.web.plain import plain


def _domain(domain_id: int) -> Domain:
    return or_404(domain_service.get_domain, current_org_id(), domain_id)


def _list(form: DomainForm | None = None, status: int = 200) -> Any:
    return render_template(
        "domains/list.html",
        title="Domains",
        domains=domain_service.list_domains(current_org_id()),
        form=form or DomainForm(formdata=None),
        can_edit=web_user().has_role("admin"),
    ), status


@bp.get("/domains")
@login_required
def domains() -> Any:
    return _list()


@bp.post("/domains")
@role_required("admin")
def domains_add() -> Any:
    form = DomainForm()
    if not form.validate_on_submit():
        return _list(form, 400)
    try:
        domain = domain_service.create_domain(
            current_org_id(), form.hostname.data or "", (form.fallback_url.data or "").strip()
        )
    except ServiceError as exc:
        db.session.rollback()
        target = form.fallback_url if exc.field == "fallback_url" else form.hostname
        target.errors.append(plain(exc.message))  # type: ignore[attr-defined]
        return _list(form, 400 if exc.status < 500 else 500)
    flash(f"{domain.hostname} is added. Point its DNS at the edge, then check it.", "success")
    return redirect(f"/domains/{domain.id}")


def _saved_fallback(domain: Domain) -> FallbackForm:
    return FallbackForm(formdata=None, data={"fallback_url": domain.fallback_url or ""})


def _detail(domain: Domain, form: FallbackForm, can_edit: bool = True, **extra: Any) -> str:
    """A domain's page: DNS instructions, the verification check and the fallback form."""
    return render_template(
        "domains/detail.html",
        title=domain.hostname,
        domain=domain,
        form=form,
        target=edge_cname_target(),
        records=ownership.records(domain, edge_cname_target()),
        can_edit=can_edit,
        result=extra.pop("result", None),
        **extra,
    )


@bp.get("/domains/<int:domain_id>")
@login_required
def domain_page(domain_id: int) -> Any:
    domain = _domain(domain_id)
    return _detail(domain, _saved_fallback(domain), can_edit=web_user().has_role("admin"))


@bp.post("/domains/<int:domain_id>/fallback")
@role_required("admin")
def domain_fallback(domain_id: int) -> Any:
    domain = _domain(domain_id)
    form = FallbackForm()
    if form.validate_on_submit():
        try:
            domain_service.update_domain(
                current_org_id(),
                domain.id,
                {"fallback_url": (form.fallback_url.data or "").strip()},
            )
        except ServiceError as exc:
            db.session.rollback()
            form.fallback_url.errors.append(plain(exc.message))  # type: ignore[attr-defined]
        else:
            flash("The fallback URL is saved.", "success")
            return redirect(f"/domains/{domain.id}")
    return _detail(domain, form), 400


@bp.post("/domains/<int:domain_id>/verify")
@role_required("admin")
def domain_verify(domain_id: int) -> Any:
    domain, result = ownership.check_now(
        current_org_id(), _domain(domain_id).id, edge_cname_target(), dns_servers()
    )
    return _detail(domain, _saved_fallback(domain), result=result, checked=request.method == "POST")
