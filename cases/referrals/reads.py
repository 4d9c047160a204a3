"""Reading referrals: per case, per jurisdiction subtree (filter by target and state), one
referral. Staff who see the case read its referrals; an enterprise contact reads none (403) —
a clue handed to the police is not the referred unit's to read."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.ledger.access import STAFF_ROLES, in_subtree, require_role, subtree_codes, visible_cases_clause
from cases.models import Case, Deadline, Jurisdiction, Referral, User
from cases.platform.errors import Forbidden, ValidationFailed
from cases.referrals import STATES, STATUS_LABELS
from cases.referrals.policy import referral_policy

PAGE_MAX = 200


def _overdue(now: datetime):
    return exists().where(Deadline.id == Referral.deadline_id, Deadline.status == "open", Deadline.due_at <= now)


def state_clause(state: str, now: datetime):
    if state == "overdue":
        return and_(Referral.status == "open", _overdue(now))
    if state == "open":
        return and_(Referral.status == "open", ~_overdue(now))
    return Referral.status == state


def state_of(r: Referral, clock: Deadline | None, now: datetime) -> str:
    if r.status == "open" and clock is not None and clock.status == "open" and clock.due_at is not None \
            and clock.due_at <= now:
        return "overdue"
    return r.status


def referral_json(r: Referral, case: Case | None, clock: Deadline | None, now: datetime,
                  names: dict[int, str] | None = None) -> dict[str, Any]:
    policy = referral_policy(r.policy_version)
    target = policy.targets.get(r.target)
    state = state_of(r, clock, now)
    names = names or {}
    late = None
    if r.status == "replied" and clock is not None and clock.due_at is not None and r.reply_received_at is not None:
        late = r.reply_received_at > clock.due_at
    return {
        "id": r.id, "case_id": r.case_id, "case_number": case.number if case else None,
        "case_title": case.title if case else None, "jurisdiction_code": r.jurisdiction_code,
        "target": r.target, "target_label": target.label if target else r.target, "body_name": r.body_name,
        "subject": r.subject, "facts": r.facts, "legal_basis": r.legal_basis, "request": r.request,
        "attachments": list(r.attachments or []), "letter_no": r.letter_no, "document_id": r.document_id,
        "policy_version": r.policy_version, "status": r.status, "state": state, "state_label": STATUS_LABELS[state],
        "overdue": state == "overdue", "reply_due_date": r.reply_due_date.isoformat() if r.reply_due_date else None,
        "reply_due_at": clock.due_at.isoformat() if clock is not None and clock.due_at else None,
        "referred_at": r.referred_at.isoformat(), "referred_by": names.get(r.referred_by_id),
        "reply": None if r.status != "replied" else {
            "received_at": r.reply_received_at.isoformat() if r.reply_received_at else None, "reply_no": r.reply_no,
            "result": r.reply_result, "result_label": policy.results.get(r.reply_result or "", r.reply_result),
            "content": r.reply_content, "late": late,
            "recorded_at": r.reply_recorded_at.isoformat() if r.reply_recorded_at else None,
            "recorded_by": names.get(r.reply_recorded_by_id)},
        "withdrawal": None if r.status != "withdrawn" else {
            "at": r.withdrawn_at.isoformat() if r.withdrawn_at else None, "reason": r.withdraw_reason,
            "by": names.get(r.withdrawn_by_id)},
    }


def _render(session: Session, rows: list[Referral], now: datetime) -> list[dict[str, Any]]:
    if not rows:
        return []
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({r.case_id for r in rows})))}
    clocks = {d.id: d for d in session.scalars(select(Deadline).where(
        Deadline.id.in_({r.deadline_id for r in rows if r.deadline_id})))}
    user_ids = {u for r in rows for u in (r.referred_by_id, r.reply_recorded_by_id, r.withdrawn_by_id) if u}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all())
    return [referral_json(r, cases.get(r.case_id), clocks.get(r.deadline_id), now, names) for r in rows]


def one(session: Session, referral: Referral, now: datetime) -> dict[str, Any]:
    return _render(session, [referral], now)[0]


def case_referrals(session: Session, actor: User, case_id: int, now: datetime) -> list[dict[str, Any]]:
    require_role(actor, *STAFF_ROLES)
    services.get_case(session, actor, case_id)
    rows = list(session.scalars(select(Referral).where(Referral.case_id == case_id).order_by(Referral.id)))
    return _render(session, rows, now)


def list_referrals(session: Session, actor: User, now: datetime, *, jurisdiction_code: str | None = None,
                   target: str | None = None, state: str | None = None, limit: int = 100) -> dict[str, Any]:
    """The referrals of the cases the actor sees, optionally under one jurisdiction of their subtree
    (by the referring authority), of one target, in one state (open / overdue / replied / withdrawn);
    the overdue first, then the newest."""
    if actor.role not in STAFF_ROLES:
        raise Forbidden("移送记录仅限监管部门工作人员查阅")
    errors = []
    if target is not None and target not in referral_policy().targets:
        errors.append({"field": "target", "label": "移送对象", "message": "未知的移送对象"})
    if state is not None and state not in STATES:
        errors.append({"field": "state", "label": "状态", "message": "应为 " + "、".join(STATES) + " 之一"})
    if jurisdiction_code is not None and (session.get(Jurisdiction, jurisdiction_code) is None
                                          or not in_subtree(session, actor.jurisdiction_code, jurisdiction_code)):
        errors.append({"field": "jurisdiction_code", "label": "辖区", "message": "不在您的管辖范围内"})
    if errors:
        raise ValidationFailed(errors)
    stmt = select(Referral).join(Case, Case.id == Referral.case_id).where(visible_cases_clause(actor))
    if jurisdiction_code:
        stmt = stmt.where(Referral.jurisdiction_code.in_(subtree_codes(jurisdiction_code)))
    if target:
        stmt = stmt.where(Referral.target == target)
    if state:
        stmt = stmt.where(state_clause(state, now))
    rows = list(session.scalars(stmt.order_by(Referral.id.desc()).limit(max(1, min(limit, PAGE_MAX)))))
    items = _render(session, rows, now)
    items.sort(key=lambda x: (not x["overdue"], -x["id"]))
    return {"items": items, "count": len(items)}
