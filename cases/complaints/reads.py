"""Reading complaints: the staff list and detail, a case's complaints, and the public status.

Staff read a complaint when they see its case (``visible_cases_clause``: their jurisdiction and
below); that is also who reads the complainant's contact. Enterprise contacts read none (403).
The public status (by lookup code) says how far the handling is and gives the official reply —
never the contact, the case number, the unit or project named, or any officer's name.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from cases.complaints import CHANNELS, REPLY_STATUS, codes
from cases.complaints.services import REPLY_RULE
from cases.ledger import services
from cases.ledger.access import STAFF_ROLES, require_role, visible_cases_clause
from cases.models import Case, Complaint, Deadline, Jurisdiction, User
from cases.platform.errors import NotFound

STAFF = STAFF_ROLES


def _reply_clock(now: datetime):
    """The complaint's case has a running reply clock that is past due."""
    return exists().where(Deadline.case_id == Complaint.case_id, Deadline.key == REPLY_RULE,
                          Deadline.status == "open", Deadline.due_at <= now)


def status_clause(status: str, now: datetime):
    if status == "replied":
        return Complaint.replied_at.is_not(None)
    if status == "overdue":
        return and_(Complaint.replied_at.is_(None), _reply_clock(now))
    return and_(Complaint.replied_at.is_(None), ~_reply_clock(now))  # pending


def _reply_deadlines(session: Session, case_ids: list[int]) -> dict[int, Deadline]:
    """Each case's reply clock: the running one, else the last one (met, cancelled)."""
    if not case_ids:
        return {}
    rows = session.scalars(select(Deadline).where(Deadline.case_id.in_(case_ids), Deadline.key == REPLY_RULE)
                           .order_by(Deadline.id))
    out: dict[int, Deadline] = {}
    for d in rows:
        if d.case_id not in out or out[d.case_id].status != "open":
            out[d.case_id] = d
    return out


def _status_of(c: Complaint, clock: Deadline | None, now: datetime) -> str:
    if c.replied_at is not None:
        return "replied"
    if clock is not None and clock.status == "open" and clock.due_at is not None and clock.due_at <= now:
        return "overdue"
    return "pending"


def complaint_json(c: Complaint, case: Case, clock: Deadline | None, now: datetime, names: dict[int, str],
                   jurisdictions: dict[str, str]) -> dict[str, Any]:
    status = _status_of(c, clock, now)
    reply_due = None
    if clock is not None and c.replied_at is None and clock.status == "open":
        reply_due = {"due_at": clock.due_at, "due_date": clock.due_date.isoformat() if clock.due_date else None}
    return {
        "id": c.id, "channel": c.channel, "channel_label": CHANNELS.get(c.channel, c.channel),
        "referral_no": c.referral_no, "submitted_at": c.submitted_at, "received_at": c.received_at,
        "jurisdiction_code": c.jurisdiction_code, "jurisdiction_name": jurisdictions.get(c.jurisdiction_code),
        "content": c.content, "location": c.location, "named_unit": c.named_unit, "project_id": c.project_id,
        "contact_name": c.contact_name, "contact_phone": c.contact_phone,
        "case_id": c.case_id, "case_number": case.number, "case_state": case.state,
        "first_case_id": c.first_case_id, "merged": c.first_case_id != c.case_id, "merged_at": c.merged_at,
        "status": status, "status_label": REPLY_STATUS[status], "reply_due": reply_due,
        "reply": c.reply_text, "replied_at": c.replied_at, "replied_by_id": c.replied_by_id,
        "replied_by": names.get(c.replied_by_id) if c.replied_by_id else None,
    }


def _shape(session: Session, rows: list[tuple[Complaint, Case]], now: datetime) -> list[dict[str, Any]]:
    clocks = _reply_deadlines(session, sorted({case.id for _, case in rows}))
    user_ids = {c.replied_by_id for c, _ in rows if c.replied_by_id}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    codes_ = {c.jurisdiction_code for c, _ in rows}
    jnames = dict(session.execute(select(Jurisdiction.code, Jurisdiction.name).where(Jurisdiction.code.in_(codes_))).all()) \
        if codes_ else {}
    return [complaint_json(c, case, clocks.get(case.id), now, names, jnames) for c, case in rows]


def list_complaints(session: Session, actor: User, now: datetime, *, status: str | None = None,
                    channel: str | None = None, q: str | None = None, page: int = 1,
                    page_size: int = 50) -> dict[str, Any]:
    """Complaints whose case the actor sees, newest first, with counts by reply status."""
    require_role(actor, *STAFF)
    base = select(Complaint, Case).join(Case, Case.id == Complaint.case_id).where(visible_cases_clause(actor))
    if channel:
        base = base.where(Complaint.channel == channel)
    if q:
        base = base.where(or_(*(col.icontains(q, autoescape=True) for col in (
            Complaint.content, Complaint.location, Complaint.named_unit, Complaint.referral_no, Case.number))))
    counts = {}
    for key in REPLY_STATUS:
        counts[key] = session.scalar(select(func.count()).select_from(base.where(status_clause(key, now)).subquery()))
    where = base.where(status_clause(status, now)) if status else base
    total = sum(counts.values()) if not status else counts[status]
    rows = session.execute(where.order_by(Complaint.submitted_at.desc(), Complaint.id.desc())
                           .limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": _shape(session, [(c, case) for c, case in rows], now), "total": total, "page": page,
            "page_size": page_size, "counts": counts}


def get_complaint(session: Session, actor: User, complaint_id: int, now: datetime) -> dict[str, Any]:
    require_role(actor, *STAFF)
    missing = NotFound(f"举报（编号{complaint_id}）不存在或不在您的管辖范围内")
    if abs(complaint_id) > 2**31 - 1:
        raise missing
    row = session.execute(select(Complaint, Case).join(Case, Case.id == Complaint.case_id)
                          .where(Complaint.id == complaint_id, visible_cases_clause(actor))).first()
    if row is None:
        raise missing
    return _shape(session, [tuple(row)], now)[0]


def case_complaints(session: Session, actor: User, case_id: int, now: datetime) -> list[dict[str, Any]]:
    """The complaints a case handles (its own and those merged into it); staff who see the case."""
    require_role(actor, *STAFF)
    case = services.get_case(session, actor, case_id)
    rows = list(session.scalars(select(Complaint).where(Complaint.case_id == case.id).order_by(Complaint.id)))
    return _shape(session, [(c, case) for c in rows], now)


# ---------------------------------------------------------------- public


# How far the handling is, in a citizen's words, by the case's state (any kind).
STAGES = {"found": "已受理，正在核查", "registered": "已立案，正在督促整改", "rectifying": "已立案，正在督促整改",
          "verified": "整改已复查", "closed": "已办结", "dismissed": "已办结（经核查不予立案）"}


UNKNOWN_CODE = "查询码不正确，请核对后重新输入（查询码共16位，不区分大小写）"


def public_status(session: Session, code: str, now: datetime, *, client_key: str, limit: int) -> dict[str, Any] | None:
    """What the complainant reads with their code (``public_view``); None for an unknown code, which
    counts against the address (RateLimited once past the hourly limit: checked first)."""
    codes.check_allowance(session, "lookup", client_key, now, limit)
    digest = codes.code_hash(code)
    row = session.execute(select(Complaint, Case).join(Case, Case.id == Complaint.case_id)
                          .where(Complaint.code_hash == digest)).first() if digest else None
    if row is None:
        codes.count_hit(session, "lookup", client_key, now)
        return None
    return public_view(session, *row)


def public_view(session: Session, c: Complaint, case: Case) -> dict[str, Any]:
    """Status, the handling authority and the official reply: nothing about people or units."""
    authority = session.scalar(select(Jurisdiction.authority_name).where(Jurisdiction.code == case.jurisdiction_code))
    replied = c.replied_at is not None
    return {
        "status": "replied" if replied else "received",
        "status_label": "已答复" if replied else "已受理，待答复",
        "stage_label": STAGES.get(case.state, "正在办理"),
        "channel_label": CHANNELS.get(c.channel, c.channel),
        "submitted_at": c.submitted_at, "authority": authority,
        "reply": c.reply_text if replied else None, "replied_at": c.replied_at,
    }


def public_districts(session: Session) -> list[dict[str, Any]]:
    """Where a public complaint may land: each city, then its districts/counties (the chooser)."""
    rows = session.execute(select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level, Jurisdiction.parent_code)
                           .where(Jurisdiction.level.in_(("prefecture", "county"))).order_by(Jurisdiction.code)).all()
    cities = [{"code": code, "name": name, "districts": []} for code, name, level, _ in rows if level == "prefecture"]
    by_code = {c["code"]: c for c in cities}
    for code, name, level, parent in rows:
        if level == "county" and parent in by_code:
            by_code[parent]["districts"].append({"code": code, "name": name})
    return cities
