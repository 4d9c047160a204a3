"""Administration (``/admin``, admins only): accounts of the admin's subtree, the notification
channels, the legal holiday calendar and the messages that failed to send.

Every act goes through the API's own functions and policy: (de)activating an account
``cases.platform.sessions.admin_set_active``, creating one ``api.routes.reference.add_user``, the
channels ``notifications.channels.config.describe`` (secrets masked), loading a year's holiday notice
``cases.calendar.calendar_years.load_calendar_year``, re-sending ``notifications.delivery.service.resend``.
Province-wide settings (channels, the calendar) stay the root admin's (``cases.ledger.policy``)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api.errors import request_error
from api.pages.common import CheckedForm, PageUser, redirect, render
from api.routes.auth import client_address
from api.routes.reference import UserIn, add_user
from cases.calendar.calendar_store import read_notice_text
from cases.calendar.calendar_years import load_calendar_year
from cases.clocks.legal_time import PACKAGE_YEARS
from cases.ledger import policy
from cases.ledger.access import ROLE_LABELS, require_role, subtree_codes
from cases.ledger.labels import options_of
from cases.models import CalendarYear, Enterprise, Jurisdiction, OutboxMessage, User
from cases.platform.errors import NotFound, ValidationFailed
from cases.platform.sessions import admin_set_active
from notifications.channels import config as channel_config
from notifications.delivery import service as delivery
from notifications.rendering.catalog import CATALOG
from notifications.channels.send import CHANNEL_NAMES, ChannelConfigError
from notifications.channels.secrets import redact

router = APIRouter(include_in_schema=False)

USERS_PAGE = 100
FAILED_SHOWN = 50
SOURCE_LABELS = {"database": "已保存的配置", "environment": "环境变量配置", "none": "未配置"}


def _context(request: Request, user: User, users_page: int) -> dict[str, Any]:
    state = request.app.state
    with state.db.session() as s:
        root = policy.is_root_admin(s, user)
        visible = policy.visible_users_clause(user)
        users_total = s.scalar(select(func.count()).select_from(User).where(visible)) or 0
        users = list(s.scalars(select(User).where(visible).order_by(User.jurisdiction_code, User.id)
                               .limit(USERS_PAGE).offset((users_page - 1) * USERS_PAGE)))
        codes = {u.jurisdiction_code for u in users}
        jurisdictions = list(s.execute(select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level).where(
            Jurisdiction.code.in_(subtree_codes(user.jurisdiction_code))).order_by(Jurisdiction.path)))
        names = {code: name for code, name, _ in jurisdictions}
        ent_ids = {u.enterprise_id for u in users if u.enterprise_id}
        enterprises = dict(s.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ent_ids))).all()) \
            if ent_ids else {}
        channels = ([channel_config.describe(s, name, state.settings) for name in channel_config.CONFIGURABLE]
                    if root else None)
        years = list(s.scalars(select(CalendarYear).order_by(CalendarYear.year)))
        failed = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.status == "failed", policy.messages_for_admin_clause(s, user))
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(FAILED_SHOWN)))
        recipients = {u.id: u.display_name for u in s.scalars(select(User).where(
            User.id.in_({m.recipient_user_id for m in failed if m.recipient_user_id})))} if failed else {}
        for u in users:
            s.expunge(u)
        missing = codes - names.keys()
        if missing:
            names.update(dict(s.execute(select(Jurisdiction.code, Jurisdiction.name)
                                        .where(Jurisdiction.code.in_(missing))).all()))
    return {"root": root, "users": users, "users_total": users_total, "users_page": users_page,
            "users_pages": max(1, -(-users_total // USERS_PAGE)), "jurisdiction_names": names,
            "jurisdictions": jurisdictions, "enterprises": enterprises, "roles": options_of("role") or ROLE_LABELS,
            "channels": channels, "source_labels": SOURCE_LABELS, "years": years,
            "package_years": sorted(PACKAGE_YEARS), "failed": failed, "recipients": recipients,
            "templates": {n: spec.title for n, spec in CATALOG.items()}, "channel_names": CHANNEL_NAMES,
            "redact": redact}


def _page(request: Request, user: User, *, status_code: int = 200, users_page: int = 1, **extra: Any):
    require_role(user, "admin")
    ctx = _context(request, user, users_page)
    return render(request, "admin.html", user=user, status_code=status_code, title="系统管理",
                  **{"new_user": {}, "user_errors": {}, "calendar_errors": [], "notice_text": "",
                     "channel_errors": {}, "channel_posted": {}, "secret_mask": channel_config.SECRET_MASK,
                     **ctx, **extra})


@router.get("/admin")
def admin(request: Request, user: PageUser, users_page: int = Query(1, ge=1, le=100_000)):
    return _page(request, user, users_page=users_page)


# ---------------------------------------------------------------- accounts


def _set_active(request: Request, user: User, user_id: int, active: bool):
    require_role(user, "admin")
    state = request.app.state
    with state.db.transaction() as s:
        target = admin_set_active(s, user, user_id, active, state.clock.now(), client_address(request))
        name = target.username
    request.state.security_logged = True
    return redirect(request, "/admin#users", notice=f"已{'启用' if active else '停用'}用户 {name}")


@router.post("/admin/users/{user_id}/deactivate")
def deactivate(request: Request, user_id: int, user: PageUser, form: CheckedForm):
    return _set_active(request, user, user_id, False)


@router.post("/admin/users/{user_id}/activate")
def activate(request: Request, user_id: int, user: PageUser, form: CheckedForm):
    return _set_active(request, user, user_id, True)


NEW_USER_FIELDS = ("username", "display_name", "password", "role", "jurisdiction_code", "enterprise_id", "email", "phone")


@router.post("/admin/users")
def create_user(request: Request, user: PageUser, form: CheckedForm):
    require_role(user, "admin")
    raw = {k: str(form.get(k) or "").strip() for k in NEW_USER_FIELDS}
    raw["password"] = str(form.get("password") or "")
    data: dict[str, Any] = {k: v for k, v in raw.items() if v != ""}
    errors: dict[str, list[str]] = {}
    if data.get("enterprise_id") and not (data["enterprise_id"].isascii() and data["enterprise_id"].isdigit()):
        # a unit's name typed or chosen without JavaScript: the picker's own resolution (visible units only)
        from api.pages.cases.pickers import resolve

        with request.app.state.db.session() as s:
            found, problem = resolve(s, user, "enterprises", data["enterprise_id"])
        if problem is None:
            data["enterprise_id"] = str(found)

    def refuse(items):
        for e in items:
            errors.setdefault(str(e.get("field") or ""), []).append(e["message"])
        shown = {k: v for k, v in raw.items() if k != "password"}
        return _page(request, user, status_code=422, new_user=shown, user_errors=errors)

    try:
        body = UserIn(**data)
    except ValidationError as exc:
        return refuse([request_error(request, None, e) for e in exc.errors()])
    state = request.app.state
    try:
        with state.db.transaction() as s:
            made = add_user(s, user, body, state.clock.now())
            name = made.username
    except ValidationFailed as exc:
        return refuse(exc.errors)
    except IntegrityError:  # a concurrent insert of the same name won the race
        return refuse([{"field": "username", "message": "用户名已存在"}])
    return redirect(request, "/admin#users", notice=f"已新增用户 {name}")


# ---------------------------------------------------------------- channels


@router.post("/admin/channels/{name}")
def save_channel(request: Request, name: str, user: PageUser, form: CheckedForm):
    """Save a channel's configuration (the root admin's, as PUT /api/admin/channels/{name}); a secret
    left as shown (``SECRET_MASK``) keeps the stored one."""
    require_role(user, "admin")
    state = request.app.state
    with state.db.session() as s:
        policy.require_root_admin(s, user, "通知渠道配置")  # one set of channels for the province
    if name not in channel_config.CONFIGURABLE:
        raise NotFound(f"通知渠道“{name}”不存在或无需配置（可配置：{'、'.join(channel_config.CONFIGURABLE)}）")
    fields = channel_config.CONFIG_FIELDS[name]
    values = {f.name: str(form.get(f"setting.{f.name}") or "").strip() for f in fields}
    enabled = form.get("enabled") == "1"
    try:
        with state.db.transaction() as s:
            channel_config.save_config(s, name, {k: v for k, v in values.items() if v}, enabled=enabled,
                                       now=state.clock.now(), user_id=user.id, settings=state.settings)
    except ChannelConfigError as exc:
        shown = {k: v for k, v in values.items() if not any(f.name == k and f.secret for f in fields)}
        return _page(request, user, status_code=422, channel_errors={name: {exc.field or "": str(exc)}},
                     channel_posted={name: {**shown, "enabled": enabled}})
    return redirect(request, f"/admin#channel-{name}",
                    notice=f"{CHANNEL_NAMES.get(name, name)}渠道配置已保存{'' if enabled else '（已停用）'}")


# ---------------------------------------------------------------- calendar


@router.post("/admin/calendar")
def load_calendar(request: Request, user: PageUser, form: CheckedForm):
    require_role(user, "admin")
    text = str(form.get("notice") or "")
    state = request.app.state
    if len(text) > 100_000:
        return _page(request, user, status_code=422, calendar_errors=["内容过长（不超过100000个字符）"],
                     notice_text="")
    try:
        with state.db.transaction() as s:
            policy.require_root_admin(s, user, "节假日安排")  # one legal calendar for the province
            data = read_notice_text(text)
            result = load_calendar_year(s, data, loaded_by=user.username, now=state.clock.now())
    except ValueError as exc:
        return _page(request, user, status_code=422, calendar_errors=[str(exc)], notice_text=text)
    return redirect(request, "/admin#calendar",
                    notice=f"已载入{result['year']}年放假安排，重新计算期限{result['deadlines_recomputed']}个")


# ---------------------------------------------------------------- failed messages


@router.post("/admin/messages/{message_id}/resend")
def resend(request: Request, message_id: int, user: PageUser, form: CheckedForm):
    require_role(user, "admin")
    state = request.app.state
    delivery.resend(state.db, message_id, state.clock.now(), user=user)  # their subtree only (404 otherwise)
    return redirect(request, "/admin#messages", notice=f"消息（编号{message_id}）已重新排队发送")
