"""Repeat-offender flags as people read and decide them: staff see the flags of their subtree
(enterprise contacts none — the regulator's own deliberation); a supervisor of the flag's
jurisdiction or above acknowledges it (已阅) and decides it (已处理: the measure taken and a note).
Every step is a row of the flag's trail (``repeat_offender_flag_events``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger.access import STAFF_ROLES, in_subtree, require_role, subtree_codes
from cases.models import Enterprise, User
from cases.models.patterns import RepeatOffenderFlag, RepeatOffenderFlagEvent
from cases.platform.errors import ActionNotAllowed, NotFound, ValidationFailed

STATUS_LABELS = {"open": "待处理", "acknowledged": "已阅", "handled": "已处理"}
# The measures a supervisor records when deciding a flag (labels as the page and the API show them).
DECISIONS = {
    "heavier_penalty": "依法从重处罚",
    "interview": "约谈企业主要负责人",
    "key_supervision": "纳入重点监管",
    "suspension_request": "提请责令停产停业整顿",
    "no_action": "经核查不予处理",
}
ACTION_LABELS = {"flagged": "系统标记", "acknowledged": "已阅", "decided": "已处理"}
NOTE_MAX = 1000


def _visible(session: Session, user: User, flag: RepeatOffenderFlag | None) -> RepeatOffenderFlag:
    if flag is None or not in_subtree(session, user.jurisdiction_code, flag.jurisdiction_code):
        raise NotFound("屡查屡犯提示不存在或不在您的管辖范围内")
    return flag


def get_flag(session: Session, user: User, flag_id: int, *, lock: bool = False) -> RepeatOffenderFlag:
    require_role(user, *STAFF_ROLES)
    return _visible(session, user, session.get(RepeatOffenderFlag, flag_id, with_for_update=lock or None))


def as_dict(session: Session, flag: RepeatOffenderFlag, *, trail: bool = False) -> dict[str, Any]:
    unit = session.get(Enterprise, flag.enterprise_id)
    out = {"id": flag.id, "enterprise_id": flag.enterprise_id, "enterprise_name": unit.name if unit else None,
           "enterprise_credit_code": unit.credit_code if unit else None, "pattern": flag.pattern,
           "label": flag.label, "basis": flag.basis, "proposal": flag.proposal, "policy_version": flag.policy_version,
           "window_days": flag.window_days, "threshold": flag.threshold, "found": len(flag.events),
           "jurisdiction_code": flag.jurisdiction_code, "triggered_at": flag.triggered_at,
           "flagged_at": flag.flagged_at, "status": flag.status, "status_label": STATUS_LABELS[flag.status],
           "decision": flag.decision, "decision_label": DECISIONS.get(flag.decision or ""),
           "decision_note": flag.decision_note, "decided_at": flag.decided_at,
           "cases": [{"id": e["case_id"], "number": e["number"], "title": e["title"], "at": e["at"]}
                     for e in flag.events]}
    if trail:
        rows = session.execute(select(RepeatOffenderFlagEvent, User.display_name)
                               .outerjoin(User, User.id == RepeatOffenderFlagEvent.user_id)
                               .where(RepeatOffenderFlagEvent.flag_id == flag.id)
                               .order_by(RepeatOffenderFlagEvent.id)).all()
        out["trail"] = [{"action": ev.action, "action_label": ACTION_LABELS.get(ev.action, ev.action),
                         "by": name, "at": ev.at, "decision": ev.decision,
                         "decision_label": DECISIONS.get(ev.decision or ""), "note": ev.note} for ev, name in rows]
    return out


def list_flags(session: Session, user: User, root_code: str, *, status: str | None = None) -> list[dict[str, Any]]:
    """The flags of ``root_code``'s subtree (the caller checked it is in the user's), newest first;
    ``status``: ``open`` (not yet handled: 待处理 and 已阅), ``handled``, or None for all."""
    require_role(user, *STAFF_ROLES)
    stmt = select(RepeatOffenderFlag).where(RepeatOffenderFlag.jurisdiction_code.in_(subtree_codes(root_code)))
    if status == "open":
        stmt = stmt.where(RepeatOffenderFlag.status.in_(("open", "acknowledged")))
    elif status == "handled":
        stmt = stmt.where(RepeatOffenderFlag.status == "handled")
    flags = list(session.scalars(stmt.order_by(RepeatOffenderFlag.flagged_at.desc(), RepeatOffenderFlag.id.desc())))
    return [as_dict(session, f) for f in flags]


def _decider(user: User) -> None:
    require_role(user, "supervisor")


def acknowledge(session: Session, user: User, flag_id: int, now: datetime) -> RepeatOffenderFlag:
    flag = get_flag(session, user, flag_id, lock=True)
    _decider(user)
    if flag.status != "open":
        raise ActionNotAllowed(f"该提示当前为“{STATUS_LABELS[flag.status]}”，无需再标记已阅")
    flag.status = "acknowledged"
    session.add(RepeatOffenderFlagEvent(flag_id=flag.id, action="acknowledged", user_id=user.id, at=now))
    session.flush()
    return flag


def decide(session: Session, user: User, flag_id: int, decision: str | None, note: str | None,
           now: datetime) -> RepeatOffenderFlag:
    flag = get_flag(session, user, flag_id, lock=True)
    _decider(user)
    errors = []
    if decision not in DECISIONS:
        options = "、".join(f"{k}（{v}）" for k, v in DECISIONS.items())
        errors.append({"field": "decision", "label": "处理措施", "message": f"请选择处理措施，可选：{options}"})
    note = (note or "").strip()
    if not note:
        errors.append({"field": "note", "label": "处理说明", "message": "请填写处理说明"})
    elif len(note) > NOTE_MAX:
        errors.append({"field": "note", "label": "处理说明", "message": f"处理说明不能超过{NOTE_MAX}字"})
    if errors:
        raise ValidationFailed(errors)
    if flag.status == "handled":
        raise ActionNotAllowed("该提示已处理，不能重复处理")
    flag.status, flag.decision, flag.decision_note = "handled", decision, note
    flag.decided_by_id, flag.decided_at = user.id, now
    session.add(RepeatOffenderFlagEvent(flag_id=flag.id, action="decided", user_id=user.id, at=now,
                                        decision=decision, note=note))
    session.flush()
    return flag
