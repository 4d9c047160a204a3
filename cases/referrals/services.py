"""Referring a case (移送), recording the reply, withdrawing a referral.

Each function takes the caller's session (the caller owns the transaction), the acting user and
``now``. A referral issues its 移送函 — a numbered document of the case (doc type
``referral_letter``, 文号 from cases.issuance.docnumbers, the case's jurisdiction signs it),
rendered by the documents flow like every other letter and sent to nobody in the system (it goes
out on paper or by the receiving body's own channel) — and opens the reply clock: a Deadline of
the case, key ``referral_reply``, on the policy's ladder (escalation ``officer``: the case's officer
is reminded, then warned with their supervisor). The clock does not light the case (the case's
own work is not late because another body has not answered) and survives the case's closure
(cases.clocks.deadlines.EXTERNAL_CLOCKS). The reply meets the clock; a withdrawal cancels it.
Each step is an event of the case (``referred``, ``referral_replied``, ``referral_withdrawn``), read
by staff only (cases.ledger.access.STAFF_ONLY_EVENT_ACTIONS).
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import select

from cases.clocks import deadlines as clocks
from cases.issuance import documents
from cases.issuance.docnumbers import issue_document_number
from cases.ledger import services
from cases.ledger.access import require_role
from cases.ledger.validation import NUL_PROBLEM
from cases.models import Case, Deadline, Jurisdiction, Referral, User
from cases.platform.clock import SHANGHAI, to_local
from cases.platform.config import get_settings
from cases.platform.errors import ActionNotAllowed, NotFound, ValidationFailed
from cases.referrals import ACTING_ROLES, CLOCK_KEY, DOC_TYPE, STATUS_LABELS
from cases.referrals.policy import referral_policy
from sqlalchemy.orm import Session

BODY_MAX, FACTS_MAX, TEXT_MAX, ATTACHMENT_MAX, ATTACHMENTS_MAX = 100, 4000, 2000, 100, 20


def _cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _text(data: dict[str, Any], errors: list, name: str, label: str, max_length: int, *, required: bool = False,
          one_line: bool = False, default: str = "") -> str:
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required and not default:
            errors.append({"field": name, "label": label, "message": "必填"})
        return default
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
    return value


def _attachments(data: dict[str, Any], errors: list) -> list[str]:
    raw = data.get("attachments")
    if raw is None or raw == "":
        return []
    items = raw.splitlines() if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        errors.append({"field": "attachments", "label": "附件清单", "message": "应为文本列表（每行一项）"})
        return []
    out = [x.strip() for x in items if x.strip()]
    if len(out) > ATTACHMENTS_MAX:
        errors.append({"field": "attachments", "label": "附件清单", "message": f"不能超过{ATTACHMENTS_MAX}项"})
    elif any(len(x) > ATTACHMENT_MAX or "\x00" in x for x in out):
        errors.append({"field": "attachments", "label": "附件清单", "message": f"每项不能超过{ATTACHMENT_MAX}个字符"})
    return out


def default_facts(case: Case) -> str:
    """What the form proposes as the facts: the case as it stands on the ledger (the officer edits it)."""
    parts = [f"“{case.title}”（案件编号：{case.number}）"]
    if case.location:
        parts.append(f"，部位：{case.location}")
    parts.append("。")
    if case.description:
        parts.append(case.description.strip())
    return "".join(parts)


def default_attachments(target: str) -> list[str]:
    base = ["案件登记及检查记录（复印件）", "现场照片及影像资料"]
    if target == "public_security":
        return [*base, "责令停工通知书（复印件）", "涉嫌犯罪案件情况的调查报告"]
    return base


def bodies_for(session: Session, jurisdiction_code: str) -> dict[str, list[str]]:
    """Suggested receiving bodies for a jurisdiction (``policy.suggested_bodies``)."""
    from cases.referrals.policy import suggested_bodies

    chain, code = [], jurisdiction_code
    while code and len(chain) < 6:
        j = session.get(Jurisdiction, code)
        if j is None:
            break
        chain.append((j.name, j.level))
        code = j.parent_code
    return suggested_bodies(chain)


def _staff_case(session: Session, actor: User, case_id: int, *, for_update: bool = False) -> Case:
    require_role(actor, *ACTING_ROLES)
    return services.get_case(session, actor, case_id)


def refer(session: Session, actor: User, case_id: int, data: dict[str, Any], now: datetime) -> Referral:
    """Refer a visible case to another body: the 移送函 (numbered), the reply clock, the event."""
    case = _staff_case(session, actor, case_id)
    policy = referral_policy()
    errors: list[dict[str, str]] = []
    target_name = data.get("target")
    target = policy.targets.get(target_name) if isinstance(target_name, str) else None
    if target is None:
        errors.append({"field": "target", "label": "移送对象", "message": "请从列表中选择：" +
                       "、".join(t.label for t in policy.targets.values())})
    body = _text(data, errors, "body_name", "接收机关名称", BODY_MAX, required=True, one_line=True)
    facts = _text(data, errors, "facts", "移送事实", FACTS_MAX, required=True, default=default_facts(case))
    basis = _text(data, errors, "legal_basis", "移送依据", TEXT_MAX, default=target.legal_basis if target else "")
    request = _text(data, errors, "request", "请求事项", TEXT_MAX, default=target.request if target else "")
    subject = _text(data, errors, "subject", "移送事由", BODY_MAX, one_line=True, default=target.subject if target else "")
    attachments = _attachments(data, errors) if data.get("attachments") not in (None, "") else \
        (default_attachments(target.name) if target else [])
    if errors:
        raise ValidationFailed(errors)
    issuer = session.get(Jurisdiction, case.jurisdiction_code)
    letter_no = issue_document_number(session, issuer, DOC_TYPE, to_local(now).year, get_settings().doc_number_prefixes)
    referral = Referral(case_id=case.id, jurisdiction_code=issuer.code, target=target.name, body_name=body,
                        subject=subject, facts=facts, legal_basis=basis, request=request, attachments=attachments,
                        letter_no=letter_no, policy_version=policy.version, status="open", referred_at=now,
                        referred_by_id=actor.id)
    session.add(referral)
    session.flush()
    clock = clocks.open_deadline(session, case=case, key=CLOCK_KEY, label=f"移送{target.label}回复期限",
                                 ladder=policy.ladder, start_at=now, amount=target.reply_amount,
                                 unit=target.reply_unit, now=now, light=False, party=policy.party)
    referral.deadline_id = clock.id
    referral.reply_due_date = clock.due_date
    snapshot = {"recipient": body, "referral_target": target.label, "referral_subject": subject, "facts": facts,
                "legal_basis": basis, "referral_request": request, "referral_attachments": attachments,
                "referral_reply_due_date": clock.due_date.isoformat() if clock.due_date else None,
                "contact_name": actor.display_name, "contact_phone": actor.phone or ""}
    doc = documents.record(session, case, DOC_TYPE, number=letter_no, issuer=issuer, cause=f"referral:{referral.id}",
                           now=now, snapshot=snapshot, recipients=[])
    referral.document_id = doc.id
    services.record_system_event(session, case, "referred", {
        "referral_id": referral.id, "target": target.name, "target_label": target.label, "body_name": body,
        "letter_no": letter_no, "document_id": doc.id, "policy_version": policy.version,
        "deadline": clocks.deadline_summary(clock)}, now=now, actor=actor,
        comment=f"移送{body}（{target.label}，{subject}），移送函{letter_no}，请于{_cn(clock.due_date)}前回复")
    session.flush()
    return referral


def get_referral(session: Session, actor: User, referral_id: int, *, for_update: bool = False) -> tuple[Referral, Case]:
    """A referral the actor may read (staff who see its case); 404 otherwise, 403 for an enterprise."""
    from cases.ledger.access import STAFF_ROLES

    require_role(actor, *STAFF_ROLES)
    missing = NotFound(f"移送记录（编号{referral_id}）不存在或不在您的管辖范围内")
    if not isinstance(referral_id, int) or abs(referral_id) > 2**62:
        raise missing
    stmt = select(Referral).where(Referral.id == referral_id)
    if for_update:
        stmt = stmt.with_for_update()
    referral = session.scalars(stmt).first()
    if referral is None:
        raise missing
    try:
        case = services.get_case(session, actor, referral.case_id)
    except NotFound:
        raise missing from None
    return referral, case


def _open_for_change(session: Session, actor: User, referral_id: int) -> tuple[Referral, Case]:
    require_role(actor, *ACTING_ROLES)
    referral, case = get_referral(session, actor, referral_id, for_update=True)
    if referral.status != "open":
        raise ActionNotAllowed(f"该移送已{STATUS_LABELS[referral.status]}，不能再变更", status=referral.status)
    return referral, case


def _clock(session: Session, referral: Referral) -> Deadline | None:
    d = session.get(Deadline, referral.deadline_id) if referral.deadline_id else None
    return d if d is not None and d.status == "open" else None


def _received_at(data: dict[str, Any], errors: list, referral: Referral, now: datetime) -> datetime | None:
    raw = data.get("received_at")
    if raw is None or raw == "":
        errors.append({"field": "received_at", "label": "回复收到时间", "message": "必填"})
        return None
    try:
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime.combine(raw, time(12), tzinfo=SHANGHAI)
        elif isinstance(raw, str) and len(raw.strip()) == 10:
            value = datetime.combine(date.fromisoformat(raw.strip()), time(12), tzinfo=SHANGHAI)
        else:
            value = datetime.fromisoformat(str(raw))
    except ValueError:
        errors.append({"field": "received_at", "label": "回复收到时间", "message": "应为日期（如 2026-12-01）或带时区的时间"})
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    value = value.astimezone(timezone.utc)
    if to_local(value).date() > to_local(now).date():
        errors.append({"field": "received_at", "label": "回复收到时间", "message": "不能晚于今天"})
        return None
    if to_local(value).date() < to_local(referral.referred_at).date():
        errors.append({"field": "received_at", "label": "回复收到时间", "message": "不能早于移送日期"})
        return None
    return min(value, now)


def record_reply(session: Session, actor: User, referral_id: int, data: dict[str, Any], now: datetime) -> Referral:
    """The receiving body's reply (回复函): received on, its number, what it says, the result."""
    referral, case = _open_for_change(session, actor, referral_id)
    policy = referral_policy(referral.policy_version)
    errors: list[dict[str, str]] = []
    received = _received_at(data, errors, referral, now)
    reply_no = _text(data, errors, "reply_no", "回复文号", 64, one_line=True)
    content = _text(data, errors, "content", "回复内容", FACTS_MAX, required=True)
    result = data.get("result")
    if not isinstance(result, str) or result not in policy.results:
        errors.append({"field": "result", "label": "处理结果", "message": "请从列表中选择：" + "、".join(policy.results.values())})
    if errors:
        raise ValidationFailed(errors)
    referral.status = "replied"
    referral.reply_received_at, referral.reply_no, referral.reply_content = received, reply_no or None, content
    referral.reply_result, referral.reply_recorded_at, referral.reply_recorded_by_id = result, now, actor.id
    clock = _clock(session, referral)
    late = False
    if clock is not None:
        late = clock.due_at is not None and received > clock.due_at
        clocks.close_deadline(session, clock, "met", now)
    services.record_system_event(session, case, "referral_replied", {
        "referral_id": referral.id, "letter_no": referral.letter_no, "body_name": referral.body_name,
        "received_at": received.isoformat(), "reply_no": referral.reply_no, "result": result,
        "result_label": policy.results[result], "late": late}, now=now, actor=actor,
        comment=f"{referral.body_name}回复移送函{referral.letter_no}：{policy.results[result]}"
                + ("（逾期回复）" if late else ""))
    session.flush()
    return referral


def withdraw(session: Session, actor: User, referral_id: int, data: dict[str, Any], now: datetime) -> Referral:
    """Withdraw a referral still awaiting its reply (撤回), with the reason; its clock is cancelled."""
    referral, case = _open_for_change(session, actor, referral_id)
    errors: list[dict[str, str]] = []
    reason = _text(data, errors, "reason", "撤回理由", TEXT_MAX, required=True)
    if errors:
        raise ValidationFailed(errors)
    referral.status, referral.withdrawn_at, referral.withdrawn_by_id, referral.withdraw_reason = \
        "withdrawn", now, actor.id, reason
    clock = _clock(session, referral)
    if clock is not None:
        clocks.close_deadline(session, clock, "cancelled", now)
    services.record_system_event(session, case, "referral_withdrawn", {
        "referral_id": referral.id, "letter_no": referral.letter_no, "body_name": referral.body_name},
        now=now, actor=actor, comment=f"撤回移送函{referral.letter_no}：{reason}")
    session.flush()
    return referral
