"""Where causes are recorded: the ledger's ``deduct_credit`` effect (a major hazard registered or a
hazard reclassified into one), the transition hook (an accident graded with a responsible unit; a
report clock met after its due instant), and the rung hook both firing paths call (the
rectification ladder's ``overdue`` rung, the supervision ladder's ``interview`` rung, an accident
report clock's ``overdue`` rung). Which rung records what is policy data (credit-vN.yaml
``rungs``); each cause has its source key, so both paths, retries and re-registrations record once:

- ``major_hazard:<case>`` · ``accident:<case>`` · ``rung:<deadline>:<rung>`` · ``report:<deadline>``
  (the report clock's overdue rung and its late meeting share the key: 漏报 then 迟报 is one record)
  · ``commitment:<commitment>`` (an enterprise's 约谈 commitment not kept, heard through the hook of
  cases/interviews/hooks.py; recorded only under a table that has the item, credit-v2 on).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.credit import services as credit
from cases.ledger.accident import GRADE_LABELS
from cases.models import Case, CaseEvent, CreditRecord, Deadline, Document
from state_machines.credit_policy import credit_policy


def record_major_hazard(session: Session, case: Case, enterprise_id: int, authority_code: str, now: datetime,
                        actor=None) -> dict[str, Any] | None:
    """The ``deduct_credit`` effect's body: once per case (a reopened case registered again, or the
    same case reclassified, records nothing more). Returns the event payload's ``credit_deduction``."""
    title = case.title or ""
    record = credit.record_cause(session, enterprise_id=enterprise_id, cause="major_hazard",
                                 source_key=f"major_hazard:{case.id}", authority_code=authority_code, now=now,
                                 case_id=case.id, actor=actor,
                                 summary=f"{case.number}（{title}）：重大事故隐患，责令停工并挂牌督办")
    if record is None:
        return None
    return {"enterprise_id": enterprise_id, "points": record.points, "record_id": record.id,
            "table_version": record.table_version, "item_code": record.item_code}


def _accident(session: Session, case: Case, now: datetime) -> dict[str, Any] | None:
    grade = case.accident_grade
    if not grade or not case.enterprise_id:
        return None
    cause = f"accident_{grade}"
    key = f"accident:{case.id}"
    existing = session.scalar(select(CreditRecord).where(CreditRecord.source_key == key))
    if existing is not None:
        if credit.regrade(session, existing, cause, now, f"事故重新定级为{GRADE_LABELS[grade]}"):
            return {"record_id": existing.id, "regraded": grade, "points": existing.points}
        return None
    d = case.details or {}
    record = credit.record_cause(
        session, enterprise_id=case.enterprise_id, cause=cause, source_key=key, authority_code=case.jurisdiction_code,
        now=now, case_id=case.id,
        summary=(f"{case.number}（{case.title}）：{GRADE_LABELS[grade]}，死亡{int(d.get('deaths') or 0)}人、"
                 f"重伤{int(d.get('serious_injuries') or 0)}人"))
    return {"record_id": record.id, "points": record.points, "cause": cause} if record else None


def _late_reports(session: Session, case: Case, now: datetime) -> list[int]:
    """Report clocks of this accident met after their due instant (迟报), recorded once each."""
    keys = credit_policy().report_keys
    if not keys or not case.enterprise_id:
        return []
    out = []
    for d in session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.key.in_(keys),
                                                    Deadline.status == "met")):
        if d.closed_at is None or d.due_at is None or d.closed_at <= d.due_at:
            continue
        record = _report_record(session, case, d, now, "迟报")
        if record is not None:
            out.append(record.id)
    return out


def _report_record(session: Session, case: Case, d: Deadline, now: datetime, what: str) -> CreditRecord | None:
    from cases.platform.clock import to_local

    due = to_local(d.due_at)
    return credit.record_cause(
        session, enterprise_id=case.enterprise_id, cause="late_report", source_key=f"report:{d.id}",
        authority_code=case.jurisdiction_code, now=now, case_id=case.id,
        summary=(f"{case.number}（{case.title}）：{d.label}{what}"
                 f"（时限{due.year}年{due.month}月{due.day}日{due.hour:02d}:{due.minute:02d}）"))


def _on_transition(session: Session, ctx, event: CaseEvent) -> None:
    from cases.ledger import services

    case = ctx.case
    if case.kind != "accident":
        return
    summary: dict[str, Any] = {}
    if "accident_grade" in ctx.changes or ctx.action.name == "register":
        graded = _accident(session, case, ctx.now)
        if graded:
            summary["accident"] = graded
    late = _late_reports(session, case, ctx.now)
    if late:
        summary["late_report_records"] = late
    if summary:
        services.add_to_event_payload(event, credit_records=summary)


def _on_create(session: Session, case: Case, event: CaseEvent) -> None:
    """A case is created in its initial state: nothing graded or reported yet."""


def record_rung_firings(session: Session, firings: Iterable[tuple[int, int, str, str, str | None]],
                        now: datetime) -> int:
    """The rung hook, called by both firing paths after a batch's rungs (and their letters) are
    written, in the same transaction: ``(case id, deadline id, ladder, rung, deadline key)`` each.
    The letter the rung issued (cause ``rung:<deadline>:<rung>``) is the record's document."""
    policy = credit_policy()
    wanted = [(cid, did, rung, cause) for cid, did, ladder, rung, key in firings
              if (cause := policy.rung_cause(ladder, rung, key))]
    if not wanted:
        return 0
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({w[0] for w in wanted})))}
    # by enterprise: the score's row locks (services.refresh_score) are taken in one order by every batch
    wanted.sort(key=lambda w: (cases[w[0]].enterprise_id or 0 if w[0] in cases else 0, w[1]))
    n = 0
    for case_id, deadline_id, rung, cause in wanted:
        case = cases.get(case_id)
        if case is None or not case.enterprise_id:
            continue
        doc = session.scalar(select(Document).where(Document.case_id == case_id,
                                                    Document.cause == f"rung:{deadline_id}:{rung}")
                             .order_by(Document.id).limit(1))
        if cause == "late_report":
            d = session.get(Deadline, deadline_id)
            record = _report_record(session, case, d, now, "漏报（逾期未报送）") if d is not None else None
        else:
            d = session.get(Deadline, deadline_id)
            what = {"overdue_rectification": f"{d.label if d else '整改期限'}已逾期，未完成整改",
                    "interview": "挂牌督办事项逾期，被约谈"}.get(cause, "")
            record = credit.record_cause(
                session, enterprise_id=case.enterprise_id, cause=cause, source_key=f"rung:{deadline_id}:{rung}",
                authority_code=doc.issuing_jurisdiction_code if doc else case.jurisdiction_code, now=now,
                case_id=case_id, document=doc, summary=f"{case.number}（{case.title}）：{what}")
        n += record is not None
    return n


def record_commitment_missed(session: Session, commitment, interview, event: CaseEvent) -> CreditRecord | None:
    """An 约谈 commitment's clock ran out (the interviews' hook, once per commitment): a record against
    the enterprise that made it, by the authority that held the 约谈, under the current table if it
    has the item (a table without it records nothing). A bureau's commitment is not an enterprise's."""
    from cases.models import InterviewUnit

    policy = credit_policy()
    unit = session.get(InterviewUnit, commitment.unit_id)
    if "commitment_missed" not in policy.items or unit is None or not unit.enterprise_id:
        return None
    case = session.get(Case, commitment.case_id)
    due = commitment.due_on
    return credit.record_cause(
        session, enterprise_id=unit.enterprise_id, cause="commitment_missed", source_key=f"commitment:{commitment.id}",
        authority_code=interview.jurisdiction_code, now=event.at, case_id=commitment.case_id,
        summary=f"{case.number if case else ''}：约谈承诺“{commitment.content}”未于{due.year}年{due.month}月{due.day}日前落实")


def install() -> None:
    from cases.interviews import hooks as interview_hooks
    from cases.ledger import services

    services.register_hooks("credit", transition=_on_transition, creation=_on_create)
    if record_commitment_missed not in interview_hooks.COMMITMENT_MISSED:
        interview_hooks.on_commitment_missed(record_commitment_missed)


install()
