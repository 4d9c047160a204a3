"""What people (and the ladder) do with 约谈 records: open one from a 约谈通知书 (the ladder's rung
``interview`` does it at once; staff may for a notice issued before) or by hand (约谈提醒, a measure
outside the ladder), record it held — attendees by unit, minutes, commitments — which issues the
约谈记录, add commitments later, mark one met with an evidence note (its clock closes)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.clocks import deadlines as clocks
from cases.clocks.legal_time import shanghai_date
from cases.interviews import hooks
from cases.issuance import documents, outbox
from cases.ledger import services
from cases.ledger.access import can_see_case, require_role
from cases.models import (Case, Document, Enterprise, Interview, InterviewCommitment, InterviewUnit, Jurisdiction,
                          Supervision, User)
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed

MEASURES = {"interview": "约谈", "reminder": "约谈提醒"}
WRITERS = ("officer", "supervisor")
TEXT_MAX, NAME_MAX, MINUTES_MAX, MAX_ATTENDEES, MAX_COMMITMENTS = 500, 64, 20000, 60, 30
DAY_UNITS = {"calendar_day": "自然日", "working_day": "工作日"}


def _problem(field: str, label: str, message: str) -> dict[str, str]:
    return {"field": field, "label": label, "message": message}


def _text(data: dict[str, Any], field: str, label: str, errors: list, *, required: bool = True,
          limit: int = TEXT_MAX) -> str:
    raw = data.get(field)
    text = raw.strip() if isinstance(raw, str) else ("" if raw is None else None)
    if text is None:
        errors.append(_problem(field, label, "应为文字"))
        return ""
    if "\x00" in text:
        errors.append(_problem(field, label, "含有不允许的字符"))
    elif required and not text:
        errors.append(_problem(field, label, "必填"))
    elif len(text) > limit:
        errors.append(_problem(field, label, f"不能超过{limit}个字"))
    return text


def _instant(data: dict[str, Any], field: str, label: str, errors: list, now: datetime, *,
             not_future: bool = False) -> datetime | None:
    raw = data.get(field)
    if raw in (None, ""):
        errors.append(_problem(field, label, "必填"))
        return None
    try:
        value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError:
        errors.append(_problem(field, label, "应为日期时间，例如 2026-11-30T09:30:00+08:00"))
        return None
    if value.tzinfo is None:
        from cases.platform.clock import SHANGHAI

        value = value.replace(tzinfo=SHANGHAI)  # a time typed without a zone is Beijing time
    if value.year < 2000:
        errors.append(_problem(field, label, "不能早于2000年"))
    elif not_future and value > now:
        errors.append(_problem(field, label, "不能晚于当前时间"))
    return value


def supervised_authority(session: Session, case: Case) -> str:
    """The bureau a ladder 约谈 summons: the listing's supervised jurisdiction, else the case's."""
    sup = session.scalars(select(Supervision).where(Supervision.case_id == case.id).order_by(Supervision.id.desc())).first()
    return sup.supervised_jurisdiction_code if sup else case.jurisdiction_code


def _add_unit(session: Session, interview: Interview, *, enterprise: Enterprise | None = None,
              authority: Jurisdiction | None = None) -> InterviewUnit:
    for u in session.scalars(select(InterviewUnit).where(InterviewUnit.interview_id == interview.id)):
        if (enterprise and u.enterprise_id == enterprise.id) or (authority and u.authority_code == authority.code):
            return u
    unit = InterviewUnit(interview_id=interview.id, enterprise_id=enterprise.id if enterprise else None,
                         authority_code=authority.code if authority else None,
                         name=enterprise.name if enterprise else authority.authority_name)
    session.add(unit)
    session.flush()
    return unit


def units_of(session: Session, interview_id: int) -> list[InterviewUnit]:
    return list(session.scalars(select(InterviewUnit).where(InterviewUnit.interview_id == interview_id)
                                .order_by(InterviewUnit.id)))


def open_for_notice(session: Session, notice: Document, now: datetime, actor: User | None = None) -> Interview:
    """The record a 约谈通知书 opens (once per notice): time and place as the notice says, the
    addressee (the supervised bureau) summoned."""
    existing = session.scalars(select(Interview).where(Interview.notice_document_id == notice.id)).first()
    if existing is not None:
        return existing
    if notice.doc_type != "interview_notice":
        raise ValidationFailed([_problem("notice_document_id", "约谈通知书", "该文书不是约谈通知书")])
    case = session.get(Case, notice.case_id)
    v = notice.variables or {}
    at = v.get("interview_at")
    interview = Interview(case_id=case.id, jurisdiction_code=notice.issuing_jurisdiction_code, source="notice",
                          measure="interview", notice_document_id=notice.id, reason=v.get("interview_reason") or "",
                          scheduled_at=datetime.fromisoformat(at) if at else None, place=v.get("interview_place") or "",
                          status="scheduled", attendees=[], created_by_id=actor.id if actor else None, created_at=now)
    session.add(interview)
    session.flush()
    _add_unit(session, interview, authority=session.get(Jurisdiction, supervised_authority(session, case)))
    services.record_system_event(session, case, "interview_opened",
                                 {"interview_id": interview.id, "notice": notice.number, "measure": "interview"},
                                 now=now, actor=actor, comment=f"约谈（{notice.number}）")
    return interview


def _writable_case(session: Session, actor: User, case_id: int) -> Case:
    require_role(actor, *WRITERS)
    case = session.get(Case, case_id)
    if case is None or not can_see_case(session, actor, case):
        raise NotFound(f"案件（编号{case_id}）不存在或不在您的管辖范围内")
    return case


def create_interview(session: Session, actor: User, data: dict[str, Any], now: datetime) -> Interview:
    """``notice_document_id``: from a 约谈通知书 of a case the actor works (once per notice: a
    second call answers the same record). Else by hand for ``case_id``: ``measure`` (interview 约谈 /
    reminder 约谈提醒), ``reason``, ``scheduled_at``, ``place``, and whom it summons
    (``summon_enterprise``: the case's responsible unit, ``summon_authority``: the case's bureau)."""
    require_role(actor, *WRITERS)
    if data.get("notice_document_id") is not None:
        doc_id = data["notice_document_id"]
        notice = session.get(Document, doc_id) if isinstance(doc_id, int) and abs(doc_id) < 2**31 else None
        if notice is None or not can_see_case(session, actor, session.get(Case, notice.case_id)):
            raise NotFound("约谈通知书不存在或不在您的管辖范围内")
        return open_for_notice(session, notice, now, actor)
    errors: list = []
    if not isinstance(data.get("case_id"), int):
        raise ValidationFailed([_problem("case_id", "案件", "必填")])
    case = _writable_case(session, actor, data["case_id"])
    measure = data.get("measure") or "interview"
    if measure not in MEASURES:
        errors.append(_problem("measure", "约谈类型", "只能是 interview（约谈）或 reminder（约谈提醒）"))
    reason = _text(data, "reason", "约谈事由", errors)
    place = _text(data, "place", "约谈地点", errors, limit=200)
    scheduled = _instant(data, "scheduled_at", "约谈时间", errors, now)
    summon_enterprise, summon_authority = bool(data.get("summon_enterprise")), bool(data.get("summon_authority"))
    if summon_enterprise and case.enterprise_id is None:
        errors.append(_problem("summon_enterprise", "约谈责任单位", "本案未确定责任单位"))
    if not (summon_enterprise or summon_authority):
        errors.append(_problem("summon_enterprise", "被约谈单位", "至少选择一个被约谈单位"))
    if errors:
        raise ValidationFailed(errors)
    interview = Interview(case_id=case.id, jurisdiction_code=actor.jurisdiction_code, source="manual", measure=measure,
                          reason=reason, scheduled_at=scheduled, place=place, status="scheduled", attendees=[],
                          created_by_id=actor.id, created_at=now)
    session.add(interview)
    session.flush()
    if summon_enterprise:
        _add_unit(session, interview, enterprise=session.get(Enterprise, case.enterprise_id))
    if summon_authority:
        _add_unit(session, interview, authority=session.get(Jurisdiction, case.jurisdiction_code))
    services.record_system_event(session, case, "interview_opened",
                                 {"interview_id": interview.id, "measure": measure}, now=now, actor=actor,
                                 comment=f"{MEASURES[measure]}：{reason}")
    return interview


def _writable(session: Session, actor: User, interview_id: int) -> tuple[Interview, Case]:
    interview = session.get(Interview, interview_id) if abs(interview_id) < 2**31 else None
    if interview is None:
        raise NotFound(f"约谈记录（{interview_id}）不存在或不在您的管辖范围内")
    from cases.interviews.reads import visible

    if not visible(session, actor, interview):
        raise NotFound(f"约谈记录（{interview_id}）不存在或不在您的管辖范围内")
    require_role(actor, *WRITERS)
    case = session.get(Case, interview.case_id)
    if not can_see_case(session, actor, case):
        raise Forbidden("只有案件所在辖区（含上级）的监管人员可以登记约谈情况")
    return interview, case


def _attendees(data: dict[str, Any], errors: list) -> list[dict[str, str]]:
    rows = data.get("attendees")
    if not isinstance(rows, list) or not rows:
        errors.append(_problem("attendees", "参加人员", "至少填写一名参加人员（姓名、单位、职务）"))
        return []
    if len(rows) > MAX_ATTENDEES:
        errors.append(_problem("attendees", "参加人员", f"不能超过{MAX_ATTENDEES}人"))
        return []
    out = []
    for i, row in enumerate(rows, 1):
        row = row if isinstance(row, dict) else {}
        item = {}
        for key, label in (("name", "姓名"), ("unit", "单位"), ("position", "职务")):
            item[key] = _text(row, key, f"参加人员第{i}行{label}", errors, limit=NAME_MAX if key != "unit" else 200)
        out.append(item)
    return out


def _due(item: dict[str, Any], i: int, now: datetime, errors: list) -> tuple[int, str, date | None] | None:
    """(amount, unit, promised date) of a commitment: a ``due_date`` (after today), or
    ``within`` days (``unit`` calendar_day / working_day)."""
    label = f"承诺事项第{i}项完成时限"
    today = shanghai_date(now)
    if item.get("due_date"):
        try:
            promised = date.fromisoformat(str(item["due_date"])[:10])
        except ValueError:
            errors.append(_problem("due_date", label, "应为日期，例如 2026-12-10"))
            return None
        if promised <= today:
            errors.append(_problem("due_date", label, "应晚于今天"))
            return None
        if (promised - today).days > 3650:
            errors.append(_problem("due_date", label, "不能超过十年"))
            return None
        return (promised - today).days, "calendar_day", promised
    within, unit = item.get("within"), item.get("unit") or "calendar_day"
    if not isinstance(within, int) or isinstance(within, bool) or not 1 <= within <= 365 or unit not in DAY_UNITS:
        errors.append(_problem("due_date", label, "填写完成日期，或期限天数（1—365，自然日或工作日）"))
        return None
    return within, unit, None


def add_commitments(session: Session, actor: User | None, interview: Interview, case: Case,
                    items: list[dict[str, Any]], now: datetime) -> list[InterviewCommitment]:
    """Each commitment opens its clock on the case (key ``commitment``, ladder ``commitment``,
    party by the unit that made it; it does not colour the case's light)."""
    if not isinstance(items, list) or len(items) > MAX_COMMITMENTS:
        raise ValidationFailed([_problem("commitments", "承诺事项", f"应为列表，不超过{MAX_COMMITMENTS}项")])
    units = {u.id: u for u in units_of(session, interview.id)}
    errors: list = []
    parsed = []
    for i, raw in enumerate(items, 1):
        item = raw if isinstance(raw, dict) else {}
        content = _text(item, "content", f"承诺事项第{i}项内容", errors)
        person = _text(item, "responsible_person", f"承诺事项第{i}项责任人", errors, limit=NAME_MAX)
        unit_id = item.get("unit_id")
        if unit_id is None and item.get("party") in ("enterprise", "authority"):  # the one unit of that kind
            kind = [u.id for u in units.values() if bool(u.enterprise_id) == (item["party"] == "enterprise")]
            unit_id = kind[0] if len(kind) == 1 else None
        if unit_id is None and len(units) == 1:
            unit_id = next(iter(units))
        if unit_id not in units:
            errors.append(_problem("unit_id", f"承诺事项第{i}项责任单位", "应为本次被约谈的单位之一"))
        parsed.append((content, person, units.get(unit_id), _due(item, i, now, errors)))
    if errors:
        raise ValidationFailed(errors)
    start = len(session.scalars(select(InterviewCommitment.id).where(InterviewCommitment.interview_id == interview.id)).all())
    out = []
    for n, (content, person, unit, (amount, unit_kind, promised)) in enumerate(parsed, start + 1):
        party = "enterprise" if unit.enterprise_id else "authority"
        short = content if len(content) <= 30 else content[:29] + "…"
        d = clocks.open_deadline(session, case=case, key="commitment", label=f"约谈承诺事项“{short}”", ladder="commitment",
                                 start_at=now, amount=amount, unit=unit_kind, now=now, light=False, party=party)
        c = InterviewCommitment(interview_id=interview.id, case_id=case.id, position=n, content=content,
                                responsible_person=person, unit_id=unit.id, party=party, due_on=d.due_date,
                                promised_on=promised, deadline_id=d.id, status="open", created_at=now)
        session.add(c)
        out.append(c)
    session.flush()
    if out:
        services.record_system_event(session, case, "commitments_added", {
            "interview_id": interview.id, "commitments": [{"id": c.id, "content": c.content, "due_on": c.due_on.isoformat(),
                                                           "deadline_id": c.deadline_id} for c in out]},
            now=now, actor=actor, comment=f"约谈承诺事项{len(out)}项")
    return out


def record_held(session: Session, actor: User, interview_id: int, data: dict[str, Any], now: datetime) -> Interview:
    """The interview took place: ``held_at`` (not in the future), ``place`` (default: as
    scheduled), ``hosts`` (约谈人), ``attendees`` [{name, unit, position}], ``minutes``, optional
    ``summon_enterprise`` (the responsible unit attended as well) and ``commitments``. Issues the
    约谈记录 (numbered, to the interviewed units) and tells the hook's subscribers, once."""
    interview, case = _writable(session, actor, interview_id)
    if interview.status != "scheduled":
        raise ActionNotAllowed("该约谈已登记为已召开或已取消，不能再次登记")
    errors: list = []
    held_at = _instant(data, "held_at", "约谈时间", errors, now, not_future=True)
    place = _text(data, "place", "约谈地点", errors, required=False, limit=200) or interview.place
    if not place:
        errors.append(_problem("place", "约谈地点", "必填"))
    hosts = _text(data, "hosts", "约谈人", errors, limit=200)
    attendees = _attendees(data, errors)
    minutes = _text(data, "minutes", "约谈内容", errors, limit=MINUTES_MAX)
    if data.get("summon_enterprise") and case.enterprise_id is None:
        errors.append(_problem("summon_enterprise", "约谈责任单位", "本案未确定责任单位"))
    items = data.get("commitments") or []
    if isinstance(items, list):  # every problem at once (the unit is checked once the units are known)
        for i, raw in enumerate(items, 1):
            item = raw if isinstance(raw, dict) else {}
            _text(item, "content", f"承诺事项第{i}项内容", errors)
            _text(item, "responsible_person", f"承诺事项第{i}项责任人", errors, limit=NAME_MAX)
            _due(item, i, now, errors)
    if errors:
        raise ValidationFailed(errors)
    claimed = session.execute(update(Interview).where(Interview.id == interview.id, Interview.status == "scheduled")
                              .values(status="held", held_at=held_at, held_place=place, hosts=hosts,
                                      attendees=attendees, minutes=minutes, recorded_by_id=actor.id, recorded_at=now)
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise ActionNotAllowed("该约谈已登记为已召开或已取消，不能再次登记")
    session.refresh(interview)
    if data.get("summon_enterprise"):
        _add_unit(session, interview, enterprise=session.get(Enterprise, case.enterprise_id))
    commitments = add_commitments(session, actor, interview, case, data.get("commitments") or [], now)
    doc = issue_record(session, interview, case, commitments, now)
    units = units_of(session, interview.id)
    event = services.record_system_event(session, case, "interview_held", {
        "interview_id": interview.id, "held_at": held_at.isoformat(), "record": doc.number,
        "units": [{"name": u.name, "enterprise_id": u.enterprise_id, "authority_code": u.authority_code} for u in units],
        "commitments": [c.id for c in commitments]}, now=now, actor=actor,
        comment=f"约谈已召开（{doc.number}），承诺事项{len(commitments)}项")
    hooks.emit(hooks.INTERVIEW_HELD, session, interview, event)
    return interview


def issue_record(session: Session, interview: Interview, case: Case, commitments: list[InterviewCommitment],
                 now: datetime) -> Document:
    """The 约谈记录: numbered by the interviewing authority, addressed to the interviewed units,
    sent to their contacts (the responsible unit's, the bureau's staff) and the case's officer."""
    units = units_of(session, interview.id)
    by_id = {u.id: u for u in units}
    notice = session.get(Document, interview.notice_document_id) if interview.notice_document_id else None
    roles = [outbox.ASSIGNEE]
    if any(u.enterprise_id for u in units):
        roles.append(outbox.ENTERPRISE_CONTACT)
    if any(u.authority_code for u in units):
        roles.append(outbox.AUTHORITY)
    snapshot = {
        "recipient": "、".join(u.name for u in units), "cc": [],
        "interview_reason": interview.reason or MEASURES.get(interview.measure, "约谈"),
        "interview_held_at": interview.held_at.isoformat(), "interview_place": interview.held_place or interview.place,
        "interview_hosts": interview.hosts, "interview_minutes": interview.minutes,
        "interview_notice_number": notice.number if notice else None,
        "attendees": [dict(a) for a in interview.attendees or []],
        "commitments": [{"content": c.content, "unit": by_id[c.unit_id].name, "responsible_person": c.responsible_person,
                         "due_date": c.due_on.isoformat()} for c in commitments],
    }
    doc = documents.issue(session, case, "interview_record", cause=f"interview:{interview.id}:held", now=now,
                          snapshot=snapshot, recipients=outbox.resolve_recipients(session, case, roles),
                          issuer=session.get(Jurisdiction, interview.jurisdiction_code))
    session.execute(update(Interview).where(Interview.id == interview.id).values(record_document_id=doc.id)
                    .execution_options(synchronize_session=False))
    session.refresh(interview)
    return doc


def add_later(session: Session, actor: User, interview_id: int, items: list[dict[str, Any]], now: datetime
              ) -> list[InterviewCommitment]:
    """Commitments added after the record (a written undertaking handed in afterwards)."""
    interview, case = _writable(session, actor, interview_id)
    if interview.status != "held":
        raise ActionNotAllowed("约谈登记为已召开后才能补充承诺事项")
    if not items:
        raise ValidationFailed([_problem("commitments", "承诺事项", "至少填写一项")])
    return add_commitments(session, actor, interview, case, items, now)


def mark_met(session: Session, actor: User, commitment_id: int, note: str, now: datetime) -> InterviewCommitment:
    """A commitment fulfilled: recorded with the evidence note; its clock ends (met)."""
    c = session.get(InterviewCommitment, commitment_id) if abs(commitment_id) < 2**31 else None
    if c is None:
        raise NotFound(f"承诺事项（{commitment_id}）不存在或不在您的管辖范围内")
    interview, case = _writable(session, actor, c.interview_id)
    errors: list = []
    text = _text({"note": note}, "note", "落实情况及佐证材料说明", errors)
    if errors:
        raise ValidationFailed(errors)
    claimed = session.execute(update(InterviewCommitment).where(InterviewCommitment.id == c.id,
                                                                InterviewCommitment.status == "open")
                              .values(status="met", met_at=now, met_note=text, met_by_id=actor.id)
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise ActionNotAllowed("该承诺事项已登记为已落实")
    session.refresh(c)
    from cases.models import Deadline

    d = session.get(Deadline, c.deadline_id) if c.deadline_id else None
    late = c.missed_at is not None
    if d is not None and d.status == clocks.OPEN:
        clocks.close_deadline(session, d, "met", now)
    services.record_system_event(session, case, "commitment_met", {
        "interview_id": interview.id, "commitment_id": c.id, "late": late, "note": text},
        now=now, actor=actor, comment=f"承诺事项已落实{'（逾期后落实）' if late else ''}：{c.content}")
    return c
