"""Alerts to the province's administrators when a message or a document cannot be delivered or
rendered (template system_alert)."""
from __future__ import annotations

from datetime import datetime
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import notifications.delivery.preferences as preferences  # installs cases.issuance.outbox.channel_resolver
from cases.models import Case, Jurisdiction, OutboxMessage, User
from notifications.channels import send as channels
from notifications.rendering.catalog import CATALOG

log = logging.getLogger("notifications.delivery.service")  # the delivery's log: alerts are part of it


# ---------------------------------------------------------------- admin alert


ALERT_TEMPLATE = "system_alert"


def province_admins(s: Session, jurisdiction_code: str | None) -> list[User]:
    """Active administrators whose jurisdiction is the given one or one of its ancestors; if the
    chain has none (or no jurisdiction is known), every active administrator."""
    codes: list[str] = []
    code = jurisdiction_code
    while code and code not in codes:
        codes.append(code)
        j = s.get(Jurisdiction, code)
        code = j.parent_code if j else None
    base = select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id)
    admins = list(s.scalars(base.where(User.jurisdiction_code.in_(codes)))) if codes else []
    return admins or list(s.scalars(base))


def enqueue_alert(s: Session, msg: OutboxMessage, error: str, now: datetime) -> int:
    """One ``system_alert`` inbox row per administrator of the province about a failed message;
    the dedupe key (failed message, administrator) makes it once per failed message, however
    often the message is re-sent and fails again. An alert never alerts about itself."""
    if msg.template == ALERT_TEMPLATE:
        return 0
    code = None
    if msg.case_id:
        code = s.scalar(select(Case.jurisdiction_code).where(Case.id == msg.case_id))
    if code is None and msg.recipient_user_id:
        code = s.scalar(select(User.jurisdiction_code).where(User.id == msg.recipient_user_id))
    spec = CATALOG.get(msg.template)
    variables: dict[str, Any] = {
        "alert_title": "消息模板渲染失败，消息未发送",
        "alert_detail": error,
        "failed_message_id": msg.id,
        "failed_template_title": spec.title if spec else msg.template,
        "failed_channel": channels.CHANNEL_NAMES.get(msg.channel, msg.channel),
        "raised_at": now.isoformat(),
    }
    return insert_admin_alerts(s, f"alert:msg{msg.id}", case_id=msg.case_id, jurisdiction_code=code,
                               variables=variables, now=now, about=f"outbox {msg.id} failed ({error})")


def insert_admin_alerts(s: Session, key: str, *, case_id: int | None, jurisdiction_code: str | None,
                        variables: dict[str, Any], now: datetime, about: str) -> int:
    """One ``system_alert`` inbox row per administrator of the province, deduplicated by ``key``
    (what failed) and administrator; returns how many were written."""
    rows = [{
        "dedupe_key": f"{key}:{ALERT_TEMPLATE}:{admin.id}:inbox", "case_id": case_id,
        "template": ALERT_TEMPLATE, "recipient_user_id": admin.id, "recipient_address": None, "channel": "inbox",
        "variables": {**variables, "recipient_name": admin.display_name}, "document_no": None, "urgent": False,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
    } for admin in province_admins(s, jurisdiction_code)]
    if not rows:
        log.error("%s and there is no administrator to alert", about)
        return 0
    insert_fn = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    s.execute(insert_fn(OutboxMessage).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return len(rows)
