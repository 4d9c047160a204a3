"""Reading the security log (admins): their jurisdiction and below, filtered, paginated."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from cases.ledger.access import require_role, subtree_codes
from cases.platform.clock import SHANGHAI
from cases.platform.errors import ValidationFailed
from cases.models import Jurisdiction, User
from cases.models.security import SecurityEvent
from cases.platform.sessions import KIND_LABELS, log_event

__all__ = ["KIND_LABELS", "log_event", "read_log", "log_permission_denied", "log_admin_act"]


# The two user columns as aliases made once (an alias adapts its columns on first use).
_SUBJECT = aliased(User)
_ACTOR = aliased(User)


def read_log(s: Session, admin: User, *, user_id: int | None = None, kind: str | None = None,
             since: datetime | None = None, until: datetime | None = None, page: int = 1,
             page_size: int = 50) -> dict[str, Any]:
    """Entries about users of the admin's jurisdiction and below, newest first. Entries naming no
    user (a login name that does not exist, an address lockout) only the root jurisdiction's admins
    see."""
    require_role(admin, "admin")
    since, until = (t.replace(tzinfo=SHANGHAI) if t is not None and t.tzinfo is None else t for t in (since, until))
    if kind is not None and kind not in KIND_LABELS:
        options = "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())
        raise ValidationFailed([{"field": "kind", "label": "类型", "message": f"取值“{kind}”无效，可选：{options}"}])
    subject, actor = _SUBJECT, _ACTOR
    mine = subject.jurisdiction_code.in_(subtree_codes(admin.jurisdiction_code))
    is_root = s.scalar(select(Jurisdiction.parent_code).where(Jurisdiction.code == admin.jurisdiction_code)) is None
    scope = or_(mine, SecurityEvent.user_id.is_(None)) if is_root else mine
    where = [scope]
    if user_id is not None:
        where.append(SecurityEvent.user_id == user_id)
    if kind is not None:
        where.append(SecurityEvent.kind == kind)
    if since is not None:
        where.append(SecurityEvent.at >= since)
    if until is not None:
        where.append(SecurityEvent.at < until)
    base = (select(SecurityEvent, subject.username, subject.display_name, actor.username)
            .outerjoin(subject, subject.id == SecurityEvent.user_id)
            .outerjoin(actor, actor.id == SecurityEvent.actor_id)
            .where(and_(*where)))
    total = s.scalar(select(func.count()).select_from(base.subquery()))
    rows = s.execute(base.order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc())
                     .limit(page_size).offset((page - 1) * page_size)).all()
    items = [{
        "id": e.id, "at": e.at, "kind": e.kind, "kind_label": KIND_LABELS.get(e.kind, e.kind),
        "user_id": e.user_id, "user": name, "user_display_name": display, "username_typed": e.username,
        "actor_id": e.actor_id, "actor": actor_name, "client": e.client, "method": e.method, "path": e.path,
        "target": e.target, "reason": e.reason, "locked_until": e.locked_until,
    } for e, name, display, actor_name in rows]
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def log_permission_denied(s: Session, now: datetime, user_id: int | None, method: str, path: str,
                          reason: str, client: str | None) -> None:
    log_event(s, now, "permission_denied", user_id=user_id, method=method, path=path, reason=reason, client=client)


def log_admin_act(s: Session, now: datetime, user_id: int, method: str, path: str, target: str | None,
                  client: str | None, status: int) -> None:
    log_event(s, now, "admin_act", user_id=user_id, actor_id=user_id, method=method, path=path, target=target,
              client=client, detail={"status": status})
