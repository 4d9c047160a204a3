"""In-app inbox, a case's messages with their receipts (one per delivery attempt), admin re-send
of a failed message, channel preferences (per user, per role) and channel configuration."""
from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update

from api import responses
from api.deps import AppClock, AppSettings, CurrentUser, Db
from cases.ledger import policy, services
from cases.ledger.access import ROLE_LABELS, require_role
from cases.platform.errors import NotFound, ValidationFailed
from cases.models import DeliveryAttempt, OutboxMessage
from notifications.channels import config as channel_config
from notifications.channels import usage as channel_usage
from notifications.channels import send as channels
from notifications.delivery import service as delivery
from notifications.delivery import preferences
from notifications.delivery import receipts
from notifications.rendering.catalog import CATALOG
from notifications.rendering.render import RenderError, render_message
from notifications.rendering.variables import build_variables, prefetch

router = APIRouter(prefix="/api", tags=["notifications"])


def _receipt(m: OutboxMessage, attempts: list[DeliveryAttempt] | None = None, *, detailed: bool = True) -> dict[str, Any]:
    return receipts.view(m, attempts, detailed=detailed)  # transport detail for administrators only


@router.get("/inbox", summary="我的站内信：未读数与消息列表（最新在前）")
def inbox(user: CurrentUser, db: Db, settings: AppSettings, unread_only: bool = False,
          page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        return responses.fast_json(inbox_page(s, user, settings, unread_only=unread_only, page=page,
                                              page_size=page_size))


def inbox_page(s, user, settings, *, unread_only: bool = False, page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """The user's in-app messages, newest first, with the unread count (the API's /api/inbox and the
    /inbox page)."""
    base = select(OutboxMessage).where(OutboxMessage.recipient_user_id == user.id,
                                       OutboxMessage.channel == "inbox", OutboxMessage.status == "sent")
    # Both counts in one statement: all of the user's messages, and the unread among them.
    counted = base.with_only_columns(func.count(), func.count(OutboxMessage.id).filter(OutboxMessage.read_at.is_(None)))
    total, unread = s.execute(counted).one()
    stmt = base.where(OutboxMessage.read_at.is_(None)) if unread_only else base
    if unread_only:
        total = unread
    rows = list(s.scalars(stmt.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                          .limit(page_size).offset((page - 1) * page_size)))
    # Messages delivered since 0023_inbox_text carry their subject and text; older ones are rendered
    # (their variables read for the whole page at once: a fixed number of SELECTs).
    stored = {m.id for m in rows if m.sent_subject is not None and m.sent_text is not None}
    prefetch(s, [m for m in rows if m.id not in stored])
    items = []
    for m in rows:
        item = {"id": m.id, "case_id": m.case_id, "template": m.template,
                "title": CATALOG[m.template].title if m.template in CATALOG else m.template,
                "document_no": m.document_no, "created_at": m.created_at, "read_at": m.read_at,
                "unread": m.read_at is None}
        if m.id in stored:
            item["subject"], item["text"] = m.sent_subject, m.sent_text
            items.append(item)
            continue
        try:
            rendered = render_message(m.template, build_variables(s, m, settings), html=False)
            item["subject"], item["text"] = rendered.subject, rendered.short_text
        except RenderError as exc:
            item["subject"], item["text"] = item["title"], f"（消息内容无法显示：{exc}）"
        items.append(item)
    return {"unread": unread, "total": total, "items": items, "page": page, "page_size": page_size}


@router.post("/inbox/{message_id}/read", summary="标记站内信为已读")
def mark_read(message_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        m = mark_inbox_read(s, user, message_id, clock.now())
        return {"id": m.id, "read_at": m.read_at}


def mark_inbox_read(s, user, message_id: int, now) -> OutboxMessage:
    """Mark one of the user's in-app messages read (someone else's: 404, as if missing)."""
    m = s.get(OutboxMessage, message_id) if abs(message_id) <= 2**31 - 1 else None
    if m is None or m.recipient_user_id != user.id or m.channel != "inbox":
        raise NotFound(f"站内信（编号{message_id}）不存在")
    delivery.mark_read(s, m, now)
    return m


def mark_all_inbox_read(s, user, now) -> int:
    """Mark every unread in-app message of the user read; returns how many."""
    result = s.execute(update(OutboxMessage).where(
        OutboxMessage.recipient_user_id == user.id, OutboxMessage.channel == "inbox",
        OutboxMessage.status == "sent", OutboxMessage.read_at.is_(None)).values(read_at=now))
    return result.rowcount or 0


@router.get("/cases/{case_id}/messages", summary="案件的通知与回执（状态、尝试次数、最后错误）")
def case_messages(case_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return {"items": case_message_list(s, user, case_id)}


def case_message_list(s, user, case_id: int) -> list[dict[str, Any]]:
    """A visible case's messages with their receipts, as ``user`` may read them (the API and the case page)."""
    services.get_case(s, user, case_id)
    # An enterprise contact sees what was sent to its own unit, not the authorities' traffic,
    # and no transport detail (cases/ledger/policy.py).
    stmt = select(OutboxMessage).where(OutboxMessage.case_id == case_id, policy.case_messages_clause(user))
    rows = list(s.scalars(stmt.order_by(OutboxMessage.created_at, OutboxMessage.id)))
    attempts = delivery.attempts_of(s, [m.id for m in rows])
    return [policy.receipt_for(user, _receipt(m, attempts[m.id], detailed=user.role == "admin")) for m in rows]


@router.post("/admin/messages/{message_id}/resend", summary="管理员：重新发送失败的消息（同一去重键）")
def resend(message_id: int, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, "admin")
    m = delivery.resend(db, message_id, clock.now(), user=user)  # only messages of cases in their subtree
    return _receipt(m)


# ---------------------------------------------------------------- channel preferences


class PreferenceItem(BaseModel):
    template: str = Field("*", description="消息模板名称，* 表示全部消息")
    channels: list[str] = Field(description="通知渠道：inbox / email / webhook / wecom / dingtalk（站内信始终保留）")
    quiet_hours: Optional[bool] = Field(None, description="留空：默认（22:00—07:00 不发群机器人消息）；false：夜间也发")


class PreferencesBody(BaseModel):
    preferences: list[PreferenceItem]


def _channel_list(s=None) -> list[dict[str, Any]]:
    active = channel_usage.configured_in(s) if s is not None else set(channels.CHANNELS)
    return [{"name": c, "label": channels.CHANNEL_NAMES[c], "configured": c in active} for c in channels.CHANNELS]


def my_preferences_view(s, user) -> dict[str, Any]:
    """What GET /api/me/notification-preferences answers (the /me/preferences page shows the same)."""
    return {
        "user_id": user.id, "role": user.role, "preferences": preferences.user_preferences(s, user),
        "role_preferences": preferences.role_preferences(s, user.role),
        "default": preferences.default_channels(s, user),
        "effective": preferences.effective(s, user), "channels": _channel_list(s),
        "quiet_hours": {"from": "22:00", "to": "07:00", "channels": list(channels.BOT_CHANNELS)},
    }


@router.get("/me/notification-preferences", summary="我的通知渠道偏好（含按角色与默认规则生效的结果）")
def my_preferences(user: CurrentUser, db: Db):
    with db.session() as s:
        return my_preferences_view(s, user)


@router.put("/me/notification-preferences", summary="设置我的通知渠道偏好（整体替换）")
def set_my_preferences(body: PreferencesBody, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        preferences.set_user_preferences(s, user, [i.model_dump() for i in body.preferences], now=clock.now())
        return my_preferences_view(s, user)


def _role_preferences(s, role: str) -> dict[str, Any]:
    return {"role": role, "role_label": ROLE_LABELS[role], "preferences": preferences.role_preferences(s, role),
            "channels": _channel_list(s)}


@router.get("/admin/role-preferences/{role}", summary="管理员：某角色的通知渠道偏好")
def role_preferences(role: str, user: CurrentUser, db: Db):
    require_role(user, "admin")
    preferences.check_role(role)
    with db.session() as s:
        return _role_preferences(s, role)


@router.put("/admin/role-preferences/{role}", summary="管理员：设置某角色的通知渠道偏好（整体替换）")
def set_role_preferences(role: str, body: PreferencesBody, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, "admin")
    with db.transaction() as s:
        policy.require_root_admin(s, user, "按角色的通知渠道偏好")
        preferences.set_role_preferences(s, role, [i.model_dump() for i in body.preferences], now=clock.now(),
                                         by=user.id)
        return _role_preferences(s, role)


# ---------------------------------------------------------------- channel configuration


class ChannelBody(BaseModel):
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, description="渠道配置项，见 GET 返回的 fields")


def _province_setting(db, user) -> None:
    # One set of channels for the province: configuring them is the root admin's act (cases/ledger/policy.py).
    with db.session() as s:
        policy.require_root_admin(s, user, "通知渠道配置")


def _configurable(name: str) -> None:
    if name not in channel_config.CONFIGURABLE:
        raise NotFound(f"通知渠道“{name}”不存在或无需配置（可配置：{'、'.join(channel_config.CONFIGURABLE)}）")


def _invalid(exc: channels.ChannelConfigError) -> ValidationFailed:
    field = f"settings.{exc.field}" if exc.field else "settings"
    return ValidationFailed([{"field": field, "label": "渠道配置", "message": str(exc)}], message=str(exc))


@router.get("/admin/channels", summary="管理员：全部通知渠道的配置（密钥已隐藏）")
def list_channels(user: CurrentUser, db: Db, settings: AppSettings):
    require_role(user, "admin")
    _province_setting(db, user)
    with db.session() as s:
        return {"items": [channel_config.describe(s, name, settings) for name in channel_config.CONFIGURABLE]}


@router.get("/admin/channels/{name}", summary="管理员：某通知渠道的配置（密钥已隐藏）")
def get_channel(name: str, user: CurrentUser, db: Db, settings: AppSettings):
    require_role(user, "admin")
    _province_setting(db, user)
    _configurable(name)
    with db.session() as s:
        return channel_config.describe(s, name, settings)


@router.put("/admin/channels/{name}", summary="管理员：保存通知渠道配置（保存时用 apprise 校验，无效则拒绝）")
def put_channel(name: str, body: ChannelBody, user: CurrentUser, db: Db, clock: AppClock, settings: AppSettings):
    require_role(user, "admin")
    _province_setting(db, user)
    _configurable(name)
    with db.transaction() as s:
        try:
            channel_config.save_config(s, name, body.settings, enabled=body.enabled, now=clock.now(), user_id=user.id,
                                 settings=settings)
        except channels.ChannelConfigError as exc:
            raise _invalid(exc) from None
        return channel_config.describe(s, name, settings)


@router.delete("/admin/channels/{name}", summary="管理员：删除保存的渠道配置（恢复使用环境变量配置）")
def delete_channel(name: str, user: CurrentUser, db: Db, settings: AppSettings):
    require_role(user, "admin")
    _province_setting(db, user)
    _configurable(name)
    with db.transaction() as s:
        channel_config.delete_config(s, name)
        return channel_config.describe(s, name, settings)
