"""Who sees which 约谈 records, the lists (per case, per jurisdiction) and their JSON.

Staff see a record when its interviewing authority is in their subtree, or its case is visible to
them (the district whose case it is reads the city's 约谈 of it). An enterprise contact sees the
records that summoned their own unit (and so its commitments); nothing else. The status a person
reads of a commitment: ``open`` (running), ``overdue`` (open past its due instant), ``met``,
``met_late`` (met after the ladder recorded it missed)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from cases.calendar.calendar_store import get_calendar
from cases.clocks.countdown import countdown
from cases.ledger.access import STAFF_ROLES, subtree_codes, visible_cases_clause
from cases.models import (Case, Deadline, Document, Interview, InterviewCommitment, InterviewUnit, Jurisdiction, User)
from cases.platform.errors import NotFound, ValidationFailed
from cases.interviews.services import MEASURES, units_of

STATUS_LABELS = {"scheduled": "待召开", "held": "已召开", "cancelled": "已取消"}
COMMITMENT_LABELS = {"open": "落实中", "overdue": "逾期未落实", "met": "已落实", "met_late": "逾期后落实",
                     "cancelled": "已取消"}
SOURCE_LABELS = {"notice": "约谈通知书", "manual": "人工登记"}


def visible_clause(user: User):
    if user.role in STAFF_ROLES:
        return or_(Interview.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code)),
                   Interview.case_id.in_(select(Case.id).where(visible_cases_clause(user))))
    if user.role == "enterprise" and user.enterprise_id is not None:
        return Interview.id.in_(select(InterviewUnit.interview_id).where(InterviewUnit.enterprise_id == user.enterprise_id))
    return false()


def visible(session: Session, user: User, interview: Interview) -> bool:
    return session.scalar(select(Interview.id).where(Interview.id == interview.id, visible_clause(user))) is not None


def get_interview(session: Session, user: User, interview_id: int) -> Interview:
    if abs(interview_id) > 2**31:
        raise NotFound(f"约谈记录（{interview_id}）不存在或不在您的管辖范围内")
    iv = session.scalars(select(Interview).where(Interview.id == interview_id, visible_clause(user))).first()
    if iv is None:
        raise NotFound(f"约谈记录（{interview_id}）不存在或不在您的管辖范围内")
    return iv


def commitment_status(c: InterviewCommitment, deadline: Deadline | None, now: datetime) -> str:
    if c.status == "met":
        return "met_late" if c.missed_at is not None else "met"
    if c.status == "cancelled":
        return "cancelled"
    if c.missed_at is not None or (deadline is not None and deadline.due_at is not None and deadline.due_at <= now):
        return "overdue"
    return "open"


def commitments_json(session: Session, commitments: list[InterviewCommitment], now: datetime) -> list[dict[str, Any]]:
    ids = [c.deadline_id for c in commitments if c.deadline_id]
    deadlines = {d.id: d for d in session.scalars(select(Deadline).where(Deadline.id.in_(ids)))} if ids else {}
    units = {u.id: u for u in session.scalars(select(InterviewUnit).where(
        InterviewUnit.id.in_({c.unit_id for c in commitments})))} if commitments else {}
    calendar = get_calendar(session) if commitments else None
    out = []
    for c in commitments:
        d = deadlines.get(c.deadline_id)
        status = commitment_status(c, d, now)
        cd = countdown(d.due_at, d.due_date, now, calendar) if d is not None and status in ("open", "overdue") else None
        unit = units.get(c.unit_id)
        out.append({
            "id": c.id, "interview_id": c.interview_id, "case_id": c.case_id, "position": c.position, "content": c.content,
            "unit": {"id": unit.id, "name": unit.name} if unit else None, "party": c.party,
            "responsible_person": c.responsible_person, "due_on": c.due_on, "promised_on": c.promised_on,
            "due_at": d.due_at if d else None, "deadline_id": c.deadline_id, "status": status,
            "status_label": COMMITMENT_LABELS[status], "countdown": cd.text if cd else None,
            "missed_at": c.missed_at, "met_at": c.met_at, "met_note": c.met_note, "created_at": c.created_at})
    return out


def _doc(session: Session, doc_id: int | None) -> dict[str, Any] | None:
    doc = session.get(Document, doc_id) if doc_id else None
    if doc is None:
        return None
    rendered = doc.status == "rendered"
    return {"id": doc.id, "number": doc.number, "title": doc.title, "status": doc.status,
            "pdf_url": f"/api/documents/{doc.id}.pdf" if rendered else None}


def interviews_json(session: Session, interviews: list[Interview], now: datetime, *,
                    with_commitments: bool = True) -> list[dict[str, Any]]:
    case_ids = {iv.case_id for iv in interviews}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))} if case_ids else {}
    out = []
    for iv in interviews:
        case = cases[iv.case_id]
        j = session.get(Jurisdiction, iv.jurisdiction_code)
        commitments = list(session.scalars(select(InterviewCommitment).where(InterviewCommitment.interview_id == iv.id)
                                           .order_by(InterviewCommitment.position))) if with_commitments else []
        item = {
            "id": iv.id, "case": {"id": case.id, "number": case.number, "title": case.title},
            "jurisdiction": {"code": j.code, "authority_name": j.authority_name} if j else {"code": iv.jurisdiction_code},
            "source": iv.source, "source_label": SOURCE_LABELS[iv.source], "measure": iv.measure,
            "measure_label": MEASURES.get(iv.measure, iv.measure), "reason": iv.reason, "scheduled_at": iv.scheduled_at,
            "place": iv.place, "status": iv.status, "status_label": STATUS_LABELS[iv.status], "held_at": iv.held_at,
            "held_place": iv.held_place, "hosts": iv.hosts, "attendees": iv.attendees or [], "minutes": iv.minutes,
            "units": [{"id": u.id, "name": u.name, "kind": "enterprise" if u.enterprise_id else "authority",
                       "enterprise_id": u.enterprise_id, "authority_code": u.authority_code}
                      for u in units_of(session, iv.id)],
            "notice": _doc(session, iv.notice_document_id), "record": _doc(session, iv.record_document_id),
            "commitments": commitments_json(session, commitments, now), "created_at": iv.created_at}
        out.append(item)
    return out


def list_interviews(session: Session, user: User, now: datetime, *, case_id: int | None = None,
                    jurisdiction: str | None = None, status: str | None = None, page: int = 1,
                    page_size: int = 50) -> dict[str, Any]:
    stmt = select(Interview).where(visible_clause(user))
    if case_id is not None:
        stmt = stmt.where(Interview.case_id == case_id)
    if jurisdiction:
        if session.get(Jurisdiction, jurisdiction) is None:
            raise ValidationFailed([{"field": "jurisdiction", "label": "辖区", "message": f"未知的辖区代码 {jurisdiction}"}])
        stmt = stmt.where(Interview.jurisdiction_code.in_(subtree_codes(jurisdiction)))
    if status:
        if status not in STATUS_LABELS:
            raise ValidationFailed([{"field": "status", "label": "约谈状态",
                                     "message": "只能是 scheduled（待召开）、held（已召开）或 cancelled（已取消）"}])
        stmt = stmt.where(Interview.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(Interview.id.desc()).offset((page - 1) * page_size).limit(page_size)))
    return {"items": interviews_json(session, rows, now), "total": total, "page": page, "page_size": page_size}


def case_interviews(session: Session, user: User, case_id: int, now: datetime) -> list[dict[str, Any]]:
    """A case's 约谈 records as the case page shows them (404 for a case the user may not see)."""
    from cases.ledger import services

    services.get_case(session, user, case_id)
    rows = list(session.scalars(select(Interview).where(Interview.case_id == case_id, visible_clause(user))
                                .order_by(Interview.id)))
    return interviews_json(session, rows, now)
