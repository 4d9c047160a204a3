"""Notification preferences per role (``/admin/role-preferences``): which channels every user of a
role gets each message on, unless the user set their own. Read and saved through the functions of
``/api/admin/role-preferences/{role}`` (``notifications.delivery.preferences``); any admin reads them, only
the root admin (the province's) changes them (``policy.require_root_admin``), as the API says."""
from __future__ import annotations

from fastapi import APIRouter, Request

from api.pages.common import CheckedForm, PageUser, error_page, redirect, render
from api.pages.me import QUIET, SOURCE_LABELS, errors_by_template, parse_form, table_rows
from api.routes.notifications import _role_preferences
from cases.ledger import policy
from cases.ledger.access import ROLE_LABELS, require_role
from cases.platform.errors import ValidationFailed
from notifications.delivery import preferences
from notifications.channels.send import CHANNEL_NAMES

router = APIRouter(include_in_schema=False)


def _view(request: Request, user, role: str, *, status_code: int = 200, errors=None, posted=None):
    with request.app.state.db.session() as s:
        view = _role_preferences(s, role)
        may_edit = policy.is_root_admin(s, user)
    saved = {p["template"]: p for p in view["preferences"]}
    return render(request, "admin/role_preferences.html", user=user, status_code=status_code,
                  title=f"按角色的通知设置：{ROLE_LABELS[role]}", role=role, roles=ROLE_LABELS,
                  rows=table_rows(saved, posted=posted, errors=errors), channels=view["channels"],
                  channel_names=CHANNEL_NAMES, quiet_options=QUIET, source_labels=SOURCE_LABELS,
                  may_edit=may_edit, general_errors=(errors or {}).get("", []))


def _role(request: Request, role: str):
    if role not in ROLE_LABELS:
        return error_page(request, 404, f"没有“{role[:20]}”这个角色。",
                          links=[("/admin/role-preferences", "按角色的通知设置")])
    return None


@router.get("/admin/role-preferences")
def index(request: Request, user: PageUser):
    require_role(user, "admin")
    return redirect(request, "/admin/role-preferences/officer")


@router.get("/admin/role-preferences/{role}")
def show(request: Request, user: PageUser, role: str):
    require_role(user, "admin")
    return _role(request, role) or _view(request, user, role)


@router.post("/admin/role-preferences/{role}")
def save(request: Request, user: PageUser, role: str, form: CheckedForm):
    require_role(user, "admin")
    missing = _role(request, role)
    if missing:
        return missing
    posted, items = parse_form(form)
    state = request.app.state
    try:
        with state.db.transaction() as s:
            policy.require_root_admin(s, user, "按角色的通知渠道偏好")
            preferences.set_role_preferences(s, role, items, now=state.clock.now(), by=user.id)
    except ValidationFailed as exc:
        return _view(request, user, role, status_code=422, errors=errors_by_template(exc, items), posted=posted)
    return redirect(request, f"/admin/role-preferences/{role}", notice=f"{ROLE_LABELS[role]}的通知设置已保存")
