"""In-app inbox, a case's messages with their receipts, and admin re-send of a failed message."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from api.deps import AppClock, AppSettings, CurrentUser, Db
from cases import services
from cases.access import require_role
from cases.errors import NotFound
from cases.models import OutboxMessage
from notifications import delivery
from notifications.catalog import CATALOG
from notifications.render import RenderError, render_message
from notifications.variables import build_variables

router = APIRouter(prefix="/api", tags=["notifications"])


def _receipt(m: OutboxMessage) -> dict[str, Any]:
    spec = CATALOG.get(m.template)
    return {
        "id": m.id, "case_id": m.case_id, "template": m.template, "title": spec.title if spec else m.template,
        "channel": m.channel, "recipient_user_id": m.recipient_user_id, "recipient_address": m.recipient_address,
        "document_no": m.document_no, "urgent": m.urgent, "status": m.status, "attempts": m.attempts,
        "next_attempt_at": m.next_attempt_at, "last_error": m.last_error, "provider_response": m.provider_response,
        "created_at": m.created_at, "sent_at": m.sent_at, "read_at": m.read_at, "dedupe_key": m.dedupe_key,
    }


@router.get("/inbox", summary="我的站内信：未读数与消息列表（最新在前）")
def inbox(user: CurrentUser, db: Db, settings: AppSettings, unread_only: bool = False,
          page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        base = select(OutboxMessage).where(OutboxMessage.recipient_user_id == user.id,
                                           OutboxMessage.channel == "inbox", OutboxMessage.status == "sent")
        unread = s.scalar(select(func.count()).select_from(
            base.where(OutboxMessage.read_at.is_(None)).subquery()))
        stmt = base.where(OutboxMessage.read_at.is_(None)) if unread_only else base
        total = s.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = list(s.scalars(stmt.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                              .limit(page_size).offset((page - 1) * page_size)))
        items = []
        for m in rows:
            item = {"id": m.id, "case_id": m.case_id, "template": m.template,
                    "title": CATALOG[m.template].title if m.template in CATALOG else m.template,
                    "document_no": m.document_no, "created_at": m.created_at, "read_at": m.read_at,
                    "unread": m.read_at is None}
            try:
                rendered = render_message(m.template, build_variables(s, m, settings))
                item["subject"], item["text"] = rendered.subject, rendered.short_text
            except RenderError as exc:
                item["subject"], item["text"] = item["title"], f"（消息内容无法显示：{exc}）"
            items.append(item)
        return {"unread": unread, "total": total, "items": items, "page": page, "page_size": page_size}


@router.post("/inbox/{message_id}/read", summary="标记站内信为已读")
def mark_read(message_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        m = s.get(OutboxMessage, message_id)
        if m is None or m.recipient_user_id != user.id or m.channel != "inbox":
            raise NotFound(f"站内信（编号{message_id}）不存在")
        delivery.mark_read(s, m, clock.now())
        return {"id": m.id, "read_at": m.read_at}


@router.get("/cases/{case_id}/messages", summary="案件的通知与回执（状态、尝试次数、最后错误）")
def case_messages(case_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        services.get_case(s, user, case_id)
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)
                         .order_by(OutboxMessage.created_at, OutboxMessage.id))
        return {"items": [_receipt(m) for m in rows]}


@router.post("/admin/messages/{message_id}/resend", summary="管理员：重新发送失败的消息（同一去重键）")
def resend(message_id: int, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, "admin")
    m = delivery.resend(db, message_id, clock.now())
    return _receipt(m)
