"""Filing a complaint (public page, 12345 referral), replying to the complainants, merging duplicates.

Each function takes the caller's session (the caller owns the transaction), the acting user and
``now``. A complaint becomes a case through ``cases.ledger.services.create_case`` (numbering, the
creation event, access: the normal ones): kind ``hazard``, state ``found``, source ``public_report``
(群众举报). Then a ``receive_complaint`` event opens the reply clock (policy rule
``complaint_reply``); the reply is a ``reply_complainant`` event that meets it; merging ends the
duplicate with the machine's own ``dismiss`` and a ``merge_complaint`` event that ends its clock.
The complainant's contact never enters an event, a log line or a public answer.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases.clocks import deadlines
from cases.complaints import CHANNELS, codes
from cases.ledger import services
from cases.ledger.access import can_see_case, in_subtree, require_role
from cases.ledger.policy import root_jurisdiction
from cases.ledger.validation import NUL_PROBLEM
from cases.models import Case, Complaint, Jurisdiction, Project, User
from cases.platform.clock import to_local
from cases.platform.errors import ActionNotAllowed, NotFound, ValidationFailed

# The account public submissions are filed by: a system account of the root jurisdiction that
# cannot log in (inactive, no usable password). The timeline names it as the case's creator.
INTAKE_USERNAME = "public-intake"
INTAKE_NAME = "网上举报受理（系统）"
REPLY_RULE = "complaint_reply"

CONTENT_MIN, CONTENT_MAX = 5, 4000
REPLY_MAX = 4000
JURISDICTION_LEVELS = ("prefecture", "county")  # where a public complaint may land (区县, or the city if unsure)
_MIN_INSTANT = datetime(2000, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------- validation


def _text(data: dict[str, Any], errors: list, name: str, label: str, max_length: int, *,
          required: bool = False, min_length: int = 0, one_line: bool = False) -> str:
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors.append({"field": name, "label": label, "message": "必填"})
        return ""
    if not isinstance(raw, str):
        errors.append({"field": name, "label": label, "message": "应为文本"})
        return ""
    value = raw.strip()
    if "\x00" in value:
        errors.append({"field": name, "label": label, "message": NUL_PROBLEM})
    elif one_line and any(ch in value for ch in "\r\n"):
        errors.append({"field": name, "label": label, "message": "不能包含换行"})
    elif len(value) > max_length:
        errors.append({"field": name, "label": label, "message": f"长度不能超过{max_length}个字符"})
    elif len(value) < min_length:
        errors.append({"field": name, "label": label, "message": f"请至少填写{min_length}个字"})
    return value


def _phone(data: dict[str, Any], errors: list) -> str:
    value = _text(data, errors, "contact_phone", "联系电话", 32, one_line=True)
    if value and not all(ch.isdigit() or ch in "+-() " for ch in value):
        errors.append({"field": "contact_phone", "label": "联系电话", "message": "只能包含数字、空格和 + - ( )"})
    return value


def _reported(data: dict[str, Any], errors: list) -> dict[str, str]:
    """What every complaint says: the report, the place, the unit named, the contact (optional)."""
    return {
        "content": _text(data, errors, "content", "举报内容", CONTENT_MAX, required=True, min_length=CONTENT_MIN),
        "location": _text(data, errors, "location", "地点", 300, one_line=True),
        "named_unit": _text(data, errors, "named_unit", "涉及项目或单位", 200, one_line=True),
        "contact_name": _text(data, errors, "contact_name", "联系人", 64, one_line=True),
        "contact_phone": _phone(data, errors),
    }


def _public_jurisdiction(session: Session, data: dict[str, Any], errors: list) -> str | None:
    code = data.get("jurisdiction_code")
    if not code:
        errors.append({"field": "jurisdiction_code", "label": "所属辖区", "message": "请选择事发地所在区县"})
        return None
    j = session.get(Jurisdiction, code) if isinstance(code, str) and len(code) <= 12 else None
    if j is None or j.level not in JURISDICTION_LEVELS:
        errors.append({"field": "jurisdiction_code", "label": "所属辖区", "message": "请从列表中选择事发地所在的市或区县"})
        return None
    return j.code


def _instant(data: dict[str, Any], errors: list, name: str, label: str, now: datetime) -> datetime | None:
    raw = data.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError:
        errors.append({"field": name, "label": label, "message": "应为时间（ISO 8601，如 2026-11-23T09:30:00+08:00）"})
        return None
    if value.tzinfo is None:
        errors.append({"field": name, "label": label, "message": "须带时区（如 +08:00）"})
        return None
    if value > now:
        errors.append({"field": name, "label": label, "message": "不能晚于当前时间"})
        return None
    if value < _MIN_INSTANT:
        errors.append({"field": name, "label": label, "message": "不能早于2000年1月1日"})
        return None
    return value


# ---------------------------------------------------------------- filing


def intake_user(session: Session, now: datetime) -> User:
    """The system account public complaints are filed by (created on first use)."""
    user = session.scalar(select(User).where(User.username == INTAKE_USERNAME))
    if user is not None:
        return user
    root = root_jurisdiction(session)
    try:
        with session.begin_nested():
            user = User(username=INTAKE_USERNAME, display_name=INTAKE_NAME, password_hash="!no-login", role="officer",
                        jurisdiction_code=root.code, active=False, created_at=now)
            session.add(user)
    except IntegrityError:  # filed at the same moment by another request
        user = session.scalar(select(User).where(User.username == INTAKE_USERNAME))
    return user


def _summary(content: str, size: int = 40) -> str:
    first = " ".join(content.split())
    return first if len(first) <= size else first[:size - 1] + "…"


def _file(session: Session, actor: User, *, channel: str, reported: dict[str, str], jurisdiction_code: str | None,
          project_id: int | None, referral_no: str | None, submitted_at: datetime, now: datetime,
          event_actor: User) -> tuple[Complaint, str]:
    description = reported["content"]
    if reported["named_unit"]:
        description += f"\n（举报人所述项目或单位：{reported['named_unit']}）"
    data: dict[str, Any] = {
        "kind": "hazard", "title": f"群众举报：{_summary(reported['content'])}", "description": description,
        "location": reported["location"], "found_at": submitted_at.isoformat(), "source": "public_report",
    }
    if jurisdiction_code:
        data["jurisdiction_code"] = jurisdiction_code
    if project_id is not None:
        data["project_id"] = project_id
    case = services.create_case(session, actor, data, now=now)
    code = codes.new_code()
    complaint = Complaint(
        channel=channel, referral_no=referral_no, submitted_at=submitted_at, received_at=now,
        jurisdiction_code=case.jurisdiction_code, content=reported["content"], location=reported["location"],
        named_unit=reported["named_unit"], project_id=project_id, contact_name=reported["contact_name"] or None,
        contact_phone=reported["contact_phone"] or None, code_hash=codes.code_hash(code), case_id=case.id,
        first_case_id=case.id, created_by_id=actor.id)
    session.add(complaint)
    session.flush()
    said = f"{CHANNELS[channel]}" + (f"，工单号{referral_no}" if referral_no else "")
    event = services.record_system_event(
        session, case, "receive_complaint", {"complaint_id": complaint.id, "channel": channel, "referral_no": referral_no},
        now=now, actor=event_actor, comment=said)
    deadlines.apply_rules(session, case, "receive_complaint", {}, now, event, became_final=False)
    _tell_the_district(session, case, complaint, now)
    return complaint, code


def _tell_the_district(session: Session, case: Case, complaint: Complaint, now: datetime) -> int:
    """群众举报待处理: the staff of the case's jurisdiction (else its nearest supervisors) hear of the new
    complaint at once, with the day the reply falls due — not only a day before it (12345 practice:
    a work order is pushed to the body that handles it). The contact stays out of the message."""
    from cases.issuance import outbox
    from cases.models import Deadline

    staff = outbox.resolve_recipients(session, case, [outbox.AUTHORITY]) or outbox.nearest_supervisors(
        session, case.jurisdiction_code)
    due = session.scalar(select(Deadline.due_date).where(Deadline.case_id == case.id, Deadline.key == "complaint_reply",
                                                         Deadline.status == "open"))
    if not staff or due is None:
        return 0
    return outbox.enqueue(session, case=case, template="complaint_received", recipients=staff,
                          cause=f"complaint:{complaint.id}", now=now,
                          variables={"complaint_channel": CHANNELS[complaint.channel], "referral_no": complaint.referral_no,
                                     "complaint_content": complaint.content, "reply_due_date": due.isoformat(),
                                     "location": complaint.location or None})


def submit_public(session: Session, data: dict[str, Any], now: datetime, *, client_key: str,
                  limit: int) -> tuple[Complaint, str]:
    """A complaint from the public page (no login): counted against the address's allowance first.
    Returns the complaint and its lookup code (shown once, never stored)."""
    codes.check_allowance(session, "submit", client_key, now, limit)
    errors: list = []
    reported = _reported(data, errors)
    code = _public_jurisdiction(session, data, errors)
    if errors:
        raise ValidationFailed(errors)
    codes.count_hit(session, "submit", client_key, now)
    intake = intake_user(session, now)
    return _file(session, intake, channel="public_web", reported=reported, jurisdiction_code=code, project_id=None,
                 referral_no=None, submitted_at=now, now=now, event_actor=intake)


def refer_12345(session: Session, actor: User, data: dict[str, Any], now: datetime) -> tuple[Complaint, str | None]:
    """A 12345 referral (工单): idempotent on the 工单号 — the same number again answers with the first
    complaint (and no code: it was shown once). Officers/supervisors, into their own subtree."""
    require_role(actor, "officer", "supervisor")
    errors: list = []
    referral_no = _text(data, errors, "referral_no", "12345工单号", 64, required=True, one_line=True)
    if referral_no and not all(ch.isalnum() or ch in "-_/" for ch in referral_no):
        errors.append({"field": "referral_no", "label": "12345工单号", "message": "只能包含字母、数字和 - _ /"})
    if referral_no and not errors:
        existing = session.scalar(select(Complaint).where(Complaint.referral_no == referral_no))
        if existing is not None:
            return _existing_referral(session, actor, existing), None
    reported = _reported(data, errors)
    submitted_at = _instant(data, errors, "submitted_at", "举报时间", now) or now
    project_id = data.get("project_id")
    if project_id is not None:
        if not isinstance(project_id, int) or isinstance(project_id, bool) or abs(project_id) > 2**31 - 1:
            errors.append({"field": "project_id", "label": "工程项目", "message": "应为项目编号（整数）"})
            project_id = None
        elif (p := session.get(Project, project_id)) is None or not in_subtree(session, actor.jurisdiction_code,
                                                                              p.jurisdiction_code):
            errors.append({"field": "project_id", "label": "工程项目",
                           "message": f"项目（编号{project_id}）不存在或不在您的管辖范围内"})
            project_id = None
    code_in = data.get("jurisdiction_code")
    if code_in is not None and not isinstance(code_in, str):
        errors.append({"field": "jurisdiction_code", "label": "所属辖区", "message": "应为行政区划代码"})
    if errors:
        raise ValidationFailed(errors)
    return _file(session, actor, channel="hotline_12345", reported=reported, jurisdiction_code=code_in,
                 project_id=project_id, referral_no=referral_no, submitted_at=submitted_at, now=now, event_actor=actor)


def _existing_referral(session: Session, actor: User, complaint: Complaint) -> Complaint:
    case = session.get(Case, complaint.case_id)
    if case is None or not can_see_case(session, actor, case):
        raise ActionNotAllowed(f"12345工单号“{complaint.referral_no}”已由其他辖区受理")
    return complaint


# ---------------------------------------------------------------- reply


def complaints_of(session: Session, case_id: int, *, lock: bool = False) -> list[Complaint]:
    stmt = select(Complaint).where(Complaint.case_id == case_id).order_by(Complaint.id)
    return list(session.scalars(stmt.with_for_update() if lock else stmt))


def reply(session: Session, actor: User, case_id: int, text: Any, now: datetime) -> list[Complaint]:
    """答复举报人: the official reply to every complainant of the case not yet answered (merged ones
    included); meets the case's reply clock. A case whose complainants all have their reply: 409."""
    require_role(actor, "officer", "supervisor")
    case = services.get_case(session, actor, case_id)
    errors: list = []
    body = _text({"reply": text}, errors, "reply", "答复内容", REPLY_MAX, required=True, min_length=5)
    if errors:
        raise ValidationFailed(errors)
    all_of_case = complaints_of(session, case.id, lock=True)
    if not all_of_case:
        raise ActionNotAllowed(f"案件{case.number}没有群众举报，无需答复")
    pending = [c for c in all_of_case if c.replied_at is None]
    if not pending:
        last = max(c.replied_at for c in all_of_case)
        d = to_local(last)
        raise ActionNotAllowed(f"已于{d.year}年{d.month}月{d.day}日答复举报人，不能重复答复")
    for c in pending:
        c.reply_text, c.replied_at, c.replied_by_id = body, now, actor.id
    session.flush()
    event = services.record_system_event(session, case, "reply_complainant",
                                         {"reply": body, "complaints": [c.id for c in pending]}, now=now, actor=actor)
    deadlines.apply_rules(session, case, "reply_complainant", {}, now, event, became_final=False)
    return pending


# ---------------------------------------------------------------- merge


MERGEABLE_STATES = ("found",)


def merge(session: Session, actor: User, case_id: int, into_case_id: Any, now: datetime,
          comment: str | None = None) -> tuple[Case, list[Complaint]]:
    """合并重复举报: the complaint case ``case_id`` (B, still 已发现) ends as 不予立案 (reason 重复举报, the
    machine's own ``dismiss``), its reply clock ends, and its complaints move to ``into_case_id``
    (A: open, visible to the actor). If A has already answered, they get A's reply; else A's reply
    clock covers them (opened at the merge if A had none running)."""
    require_role(actor, "officer", "supervisor")
    if not isinstance(into_case_id, int) or isinstance(into_case_id, bool) or abs(into_case_id) > 2**31 - 1:
        raise ValidationFailed([{"field": "into_case_id", "label": "并入案件", "message": "应为案件编号（整数）"}])
    b = services.get_case(session, actor, case_id)
    if into_case_id == b.id:
        raise ValidationFailed([{"field": "into_case_id", "label": "并入案件", "message": "不能并入本案件自身"}])
    try:
        a = services.get_case(session, actor, into_case_id)
    except NotFound:
        raise ValidationFailed([{"field": "into_case_id", "label": "并入案件",
                                 "message": f"案件（编号{into_case_id}）不存在或不在您的管辖范围内"}]) from None
    moving = complaints_of(session, b.id, lock=True)
    if not moving:
        raise ActionNotAllowed(f"案件{b.number}不是群众举报案件，没有可合并的举报")
    if b.state not in MERGEABLE_STATES:
        raise ActionNotAllowed(f"案件{b.number}已登记立案，只有“已发现”状态的举报案件可以作为重复举报并入其他案件")
    if services.definition_of(a).state(a.state).final:
        raise ActionNotAllowed(f"目标案件{a.number}已办结，不能再并入举报；请按新的举报办理")
    if deadlines.get_policy().rule(a.kind, REPLY_RULE) is None:  # policy data: which kinds answer complainants
        raise ActionNotAllowed(f"目标案件{a.number}是{services.definition_of(a).label}，不办理群众举报的答复，"
                               "请并入隐患案件")
    b, _ = services.perform_action(session, actor, b.id, "dismiss", {"reason": f"重复举报，已并入案件{a.number}办理"},
                                   version=b.version, comment=comment, now=now)
    ids = [c.id for c in moving]
    event = services.record_system_event(session, b, "merge_complaint", {"into_case_id": a.id, "complaints": ids},
                                         now=now, actor=actor, comment=f"并入案件{a.number}办理")
    deadlines.apply_rules(session, b, "merge_complaint", {}, now, event, became_final=False)
    answered = [c for c in complaints_of(session, a.id) if c.replied_at is not None]
    answer = max(answered, key=lambda c: (c.replied_at, c.id)) if answered else None
    for c in moving:
        c.case_id, c.merged_at = a.id, now
        if c.replied_at is None and answer is not None:
            c.reply_text, c.replied_at, c.replied_by_id = answer.reply_text, now, answer.replied_by_id
    session.flush()
    event = services.record_system_event(session, a, "complaint_merged_in", {"from_case_id": b.id, "complaints": ids},
                                         now=now, actor=actor, comment=f"并入重复举报案件{b.number}（举报{len(ids)}件）")
    unanswered = any(c.replied_at is None for c in complaints_of(session, a.id))
    if unanswered and not deadlines.open_deadlines(session, a.id, REPLY_RULE):
        deadlines.apply_rules(session, a, "receive_complaint", {}, now, event, became_final=False)
    return a, moving
