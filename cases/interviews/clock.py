"""The commitment ladder's own rung effects (policy escalation-v3.yaml, ladder ``commitment``),
called by cases/clocks/escalation.py in the rung's transaction — exactly once per commitment and
rung by the sweep's ``rung_firings`` key. (Reminders and the overdue warning are the ladder's
common ``remind`` / ``overdue_warning``; their recipients follow the commitment's party.)"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.interviews import hooks
from cases.issuance import outbox
from cases.ledger import services
from cases.models import Case, Deadline, Enterprise, Interview, InterviewCommitment, InterviewUnit, Jurisdiction


def _commitment(session: Session, deadline: Deadline) -> InterviewCommitment | None:
    return session.scalars(select(InterviewCommitment).where(InterviewCommitment.deadline_id == deadline.id)).first()


def _cn(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def commitment_missed(session: Session, case: Case, deadline: Deadline, *, now: datetime, cause: str) -> dict[str, Any]:
    """The commitment's clock ran out while it was open: marked missed, a ``commitment_missed``
    event on the case, the hook's subscribers told."""
    c = _commitment(session, deadline)
    if c is None or c.status != "open":
        return {"commitment": None}
    session.execute(update(InterviewCommitment).where(InterviewCommitment.id == c.id, InterviewCommitment.missed_at.is_(None))
                    .values(missed_at=now).execution_options(synchronize_session=False))
    session.refresh(c)
    interview = session.get(Interview, c.interview_id)
    unit = session.get(InterviewUnit, c.unit_id)
    event = services.record_system_event(session, case, "commitment_missed", {
        "interview_id": interview.id, "commitment_id": c.id, "deadline_id": deadline.id, "due_on": c.due_on.isoformat(),
        "unit": unit.name, "enterprise_id": unit.enterprise_id, "authority_code": unit.authority_code, "cause": cause},
        now=now, comment=f"约谈承诺事项逾期未落实：{unit.name}承诺“{c.content}”于{_cn(c.due_on)}前完成")
    hooks.emit(hooks.COMMITMENT_MISSED, session, c, interview, event)
    return {"commitment": {"id": c.id, "missed": True}}


def commitment_criticism(f: Any, document: Callable[..., str]) -> str | None:
    """通报批评 of the unit that made the commitment, by the interviewing authority; to the unit
    (its contacts, or the bureau's staff), the case's officer and their supervisor."""
    c = _commitment(f.session, f.deadline)
    if c is None or c.status != "open":
        return None
    session = f.session
    interview = session.get(Interview, c.interview_id)
    unit = session.get(InterviewUnit, c.unit_id)
    issuer = session.get(Jurisdiction, interview.jurisdiction_code)
    enterprise = session.get(Enterprise, unit.enterprise_id) if unit.enterprise_id else None
    roles = ([outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR] if enterprise
             else [outbox.AUTHORITY, outbox.ASSIGNEE_SUPERVISOR])
    held = interview.held_at or interview.created_at
    from cases.platform.clock import to_local

    facts = (f"{unit.name}在{_cn(to_local(held).date())}{issuer.authority_name}组织的约谈中承诺“{c.content}”"
             f"（责任人：{c.responsible_person}），于{_cn(c.due_on)}前完成，逾期至今未履行")
    return document(f, "public_criticism", "public_criticism", roles, issuer,
                    criticized_unit=unit.name, criticized_unit_credit_code=enterprise.credit_code if enterprise else None,
                    recipient=unit.name, cc=[], facts=facts + "。",
                    requirements=[f"立即落实约谈承诺事项“{c.content}”", "深刻反思，查明未按承诺落实的原因，落实责任人",
                                  "举一反三，全面排查同类问题"])
