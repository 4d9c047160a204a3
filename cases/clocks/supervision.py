"""挂牌督办: listing a case for supervision by a higher authority, its deadline, extension and lifting."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger import case_hints, services
from cases.issuance import outbox
from cases.ledger.access import in_subtree, require_role, visible_cases_clause
from cases.platform.clock import to_local
from cases.platform.config import get_settings
from cases.issuance.docnumbers import issue_document_number
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed
from cases.ledger.identifiers import LEVEL_LABEL
from cases.models import Case, CaseEvent, Deadline, Jurisdiction, Supervision, User
from cases.ledger.rules import ActionContext

STATUS_LABELS = {"listed": "督办中", "extension_requested": "延期申请中", "lifted": "已摘牌"}
REASON_LABELS = {"major_hazard": "重大事故隐患", "overdue": "逾期未整改", "accident": "事故查处"}


def parent_jurisdiction(session: Session, code: str) -> Jurisdiction:
    j = session.get(Jurisdiction, code)
    if j is not None and j.parent_code:
        return session.get(Jurisdiction, j.parent_code)
    return j  # the top of the tree lists its own


def active_supervision(session: Session, case_id: int) -> Supervision | None:
    if case_hints.no_supervision(session, case_id):  # the transition's locked read said none
        return None
    return session.scalars(select(Supervision).where(Supervision.case_id == case_id, Supervision.status != "lifted")
                           .order_by(Supervision.id.desc())).first()


def case_supervisions(session: Session, case_id: int) -> list[Supervision]:
    """Every listing of a case, lifted ones too, the earliest first (the case page's record)."""
    return list(session.scalars(select(Supervision).where(Supervision.case_id == case_id).order_by(Supervision.id)))


def list_case(session: Session, case: Case, *, reason: str, requirements: str, start_at: datetime, amount: int,
              unit: str, now: datetime, listing: Jurisdiction | None = None, letter: bool = False,
              cause: str | None = None) -> Supervision:
    from cases.clocks.deadlines import deadline_summary, get_policy, open_deadline

    existing = active_supervision(session, case.id)
    if existing is not None:
        return existing  # one live listing per case
    listing = listing or parent_jurisdiction(session, case.jurisdiction_code)
    year = to_local(now).year
    overrides = get_settings().doc_number_prefixes
    notice_no = issue_document_number(session, listing, "supervision_notice", year, overrides)
    sup = Supervision(case_id=case.id, listing_jurisdiction_code=listing.code,
                      supervised_jurisdiction_code=case.jurisdiction_code, level=listing.level, notice_no=notice_no,
                      reason=reason, requirements=requirements, status="listed", listed_at=now, history=[])
    session.add(sup)
    session.flush()
    policy = get_policy()
    d = open_deadline(session, case=case, key="supervision", label=policy.supervision["label"],
                      ladder=policy.supervision["ladder"], start_at=start_at, amount=amount, unit=unit, now=now,
                      supervision_id=sup.id)
    letter_no = issue_document_number(session, listing, "supervision_letter", year, overrides) if letter else None
    services.record_system_event(session, case, "listed", {
        "supervision_id": sup.id, "notice_no": notice_no, "letter_no": letter_no, "listing_jurisdiction": listing.code,
        "listing_authority": listing.authority_name, "reason": reason, "deadline": deadline_summary(d)},
        now=now, comment=f"{listing.authority_name}{LEVEL_LABEL.get(listing.level, '')}挂牌督办（{REASON_LABELS.get(reason, reason)}）")
    from cases.issuance import documents

    variables = notice_variables(session, case, sup, d, listing)
    cause = cause or f"supervision:{sup.id}"
    # Stored as documents (numbered, rendered to PDF with a hash, linked from the case) and sent.
    documents.record(session, case, "supervision_notice", number=notice_no, issuer=listing, cause=cause, now=now,
                     snapshot=variables, recipients=outbox.resolve_recipients(
                         session, case, [outbox.AUTHORITY, outbox.ASSIGNEE, outbox.ENTERPRISE_CONTACT]))
    if letter_no:
        documents.record(session, case, "supervision_letter", number=letter_no, issuer=listing, cause=cause, now=now,
                         snapshot={**variables, "doc_number": letter_no, **_overdue_facts(session, case, now),
                                   "next_measure": "约谈"},
                         recipients=outbox.resolve_recipients(session, case, [outbox.AUTHORITY]))
    return sup


def _overdue_facts(session: Session, case: Case, now: datetime) -> dict[str, Any]:
    """What the 督办函 says was missed: the case's overdue deadline (not the new supervision one)."""
    d = session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.status == "open",
                                               Deadline.supervision_id.is_(None), Deadline.due_at <= now)
                        .order_by(Deadline.due_at)).first()
    if d is None or d.due_date is None:
        return {}
    return {"task": d.label, "original_due_date": d.due_date.isoformat(),
            "overdue_days": max(0, (to_local(now).date() - d.due_date).days)}


def notice_variables(session: Session, case: Case, sup: Supervision, d: Deadline, listing: Jurisdiction) -> dict[str, Any]:
    supervised = session.get(Jurisdiction, sup.supervised_jurisdiction_code)
    return {
        "case_number": case.number, "case_title": case.title, "doc_number": sup.notice_no,
        "issuing_authority": listing.authority_name, "listing_authority": listing.authority_name,
        "supervised_unit": supervised.authority_name if supervised else "", "requirements": [sup.requirements],
        "deadline_at": d.due_at.isoformat() if d.due_at else None,
        "due_date": d.due_date.isoformat() if d.due_date else None, "deadline_provisional": d.provisional,
        "reason": REASON_LABELS.get(sup.reason, sup.reason), "public_posting": True,
        # printed as 根据…的规定: laws by name, not a phrase ending in 规定
        "legal_basis": "《中华人民共和国安全生产法》《建设工程安全生产管理条例》",
    }


def on_transition(session: Session, ctx: ActionContext, event: CaseEvent) -> None:
    """Major hazards are listed at registration (and when a hazard is reclassified as one)."""
    case = ctx.case
    if case.kind == "major_hazard" and ctx.action.name in ("register", "reclassify"):
        from cases.clocks.deadlines import open_deadlines

        rect = open_deadlines(session, case.id, "rectification")
        if rect:
            d = rect[-1]
            sup = list_case(session, case, reason="major_hazard",
                            requirements="按期完成重大事故隐患整改，经核查合格后申请摘牌销号", start_at=d.start_at,
                            amount=d.amount, unit=d.unit, now=ctx.now)
            event.payload = {**(event.payload or {}), "supervision": {"id": sup.id, "notice_no": sup.notice_no}}


# ---------------------------------------------------------------- officer actions


def get_supervision(session: Session, actor: User, supervision_id: int) -> tuple[Supervision, Case]:
    # The same answer whether it does not exist or is not the caller's to see.
    missing = NotFound(f"督办事项（编号{supervision_id}）不存在或不在您的管辖范围内")
    sup = session.get(Supervision, supervision_id) if abs(supervision_id) <= 2**31 - 1 else None
    if sup is None:
        raise missing
    case = session.scalars(select(Case).where(Case.id == sup.case_id, visible_cases_clause(actor))).first()
    if case is None and not (actor.role != "enterprise" and in_subtree(session, actor.jurisdiction_code, sup.listing_jurisdiction_code)):
        raise missing
    case = case or session.get(Case, sup.case_id)
    return sup, case


def _listing_authority_member(session: Session, actor: User, sup: Supervision) -> bool:
    return may_decide(session, actor, sup.listing_jurisdiction_code)


def may_decide(session: Session, actor: User, listing_code: str) -> bool:
    """Who decides a listing's extension and lifts it: a supervisor of the listing body itself or of
    an authority above it."""
    return actor.role == "supervisor" and in_subtree(session, actor.jurisdiction_code, listing_code)


def _supervision_deadline(session: Session, sup: Supervision) -> Deadline | None:
    return session.scalars(select(Deadline).where(Deadline.supervision_id == sup.id, Deadline.key == "supervision",
                                                  Deadline.status == "open")).first()


DECISION_KEY = "extension_decision"


def _decision_deadline(session: Session, sup: Supervision) -> Deadline | None:
    """The listing body's clock for deciding the supervision's extension request."""
    return session.scalars(select(Deadline).where(Deadline.supervision_id == sup.id, Deadline.key == DECISION_KEY,
                                                  Deadline.status == "open")).first()


def _open_decision_clock(session: Session, case: Case, sup: Supervision, now: datetime) -> Deadline | None:
    from cases.clocks.deadlines import get_policy, open_deadline

    cfg = get_policy().supervision.get("extension_decision")
    if not cfg:
        return None
    return open_deadline(session, case=case, key=DECISION_KEY, label=cfg["label"], ladder=cfg["ladder"], start_at=now,
                         amount=int(cfg["amount"]), unit=cfg["unit"], now=now, supervision_id=sup.id, party="approver")


def _cn_date(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _carry_over(session: Session, case: Case, sup_deadline: Deadline, now: datetime) -> list[Deadline]:
    """An approved supervision extension moves the case's own 整改期限 with it: each open
    rectification clock that would end before the supervision's new due date is extended to end
    on it (the listing body's approval is not capped by the case's own max_extension)."""
    from cases.clocks.deadlines import get_calendar, get_policy, open_deadlines, recompute_due, schedule_timers, warn_at_for

    target = sup_deadline.due_date
    if target is None:
        return []
    cal = get_calendar(session)
    moved = []
    for d in open_deadlines(session, case.id, "rectification"):
        if d.due_date is None or d.due_date >= target:
            continue  # paused for the case's own request, or already later
        base, cap = list(d.extensions or []), d.max_extension
        d.max_extension = None

        def due_with(extra: int):
            d.extensions = [*base, extra]
            recompute_due(d, cal)
            return d.due_date

        hi = 1
        while due_with(hi) < target and hi < 4096:
            hi *= 2
        lo = 1
        while lo < hi:  # the least extension that reaches the supervision's due date
            mid = (lo + hi) // 2
            if due_with(mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        due_with(lo)
        d.max_extension = None if cap is None else max(cap, sum(int(x) for x in d.extensions))
        d.warn_at = warn_at_for(d, cal, get_policy())
        session.flush()
        schedule_timers(session, d, now, cal)
        moved.append(d)
    return moved


def request_extension(session: Session, actor: User, supervision_id: int, days: Any, reason: Any, now: datetime) -> Supervision:
    from cases.clocks.deadlines import schedule_timers  # noqa: F401

    sup, case = get_supervision(session, actor, supervision_id)
    require_role(actor, "officer", "supervisor")
    errors = []
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 60:
        errors.append({"field": "days", "label": "延期天数", "message": "应为1至60之间的整数"})
    if not isinstance(reason, str) or not reason.strip():
        errors.append({"field": "reason", "label": "理由", "message": "必填"})
    if errors:
        raise ValidationFailed(errors)
    if sup.status != "listed":
        raise ActionNotAllowed(f"督办事项当前状态为“{STATUS_LABELS[sup.status]}”，不能申请延期", state=sup.status)
    sup.status = "extension_requested"
    sup.extension_request = {"days": days, "reason": reason, "requested_at": now.isoformat(),
                             "by": {"id": actor.id, "name": actor.display_name}}
    d = _supervision_deadline(session, sup)
    if d is not None:  # the clock stops while the listing body reviews the request
        _pause(session, d, now)
    decision = _open_decision_clock(session, case, sup, now)  # … and the listing body's clock to decide runs
    payload = {"supervision_id": sup.id, "days": days, "reason": reason}
    if decision is not None:
        from cases.clocks.deadlines import deadline_summary

        payload["decision_deadline"] = deadline_summary(decision)
    services.record_system_event(session, case, "supervision_extension_requested", payload, now=now, actor=actor)
    return sup


def decide_extension(session: Session, actor: User, supervision_id: int, approved: Any, days: Any, opinion: Any,
                     now: datetime) -> Supervision:
    sup, case = get_supervision(session, actor, supervision_id)
    if not _listing_authority_member(session, actor, sup):
        raise Forbidden("只有挂牌督办机关（或其上级）的督办人员可以审批延期")
    if sup.status != "extension_requested":
        raise ActionNotAllowed("没有待审批的督办延期申请", state=sup.status)
    if not isinstance(approved, bool):
        raise ValidationFailed([{"field": "approved", "label": "是否同意", "message": "应为是或否（true/false）"}])
    requested = (sup.extension_request or {}).get("days")
    granted = days if isinstance(days, int) and not isinstance(days, bool) and days > 0 else requested
    from cases.clocks.deadlines import close_deadline

    clock = _decision_deadline(session, sup)
    if clock is not None:
        close_deadline(session, clock, "met", now)
    d = _supervision_deadline(session, sup)
    moved: list[Deadline] = []
    if d is not None:
        _resume(session, d, now, extend_by=granted if approved else None)
        if approved:
            moved = _carry_over(session, case, d, now)
    decision = {**(sup.extension_request or {}), "approved": approved, "granted_days": granted if approved else 0,
                "opinion": opinion, "decided_at": now.isoformat(), "decided_by": {"id": actor.id, "name": actor.display_name}}
    sup.history = [*(sup.history or []), decision]
    sup.extension_request = None
    sup.status = "listed"
    payload = {"supervision_id": sup.id, **decision}
    comment = None
    if approved and d is not None and d.due_date is not None:
        payload["supervision_due_date"] = d.due_date.isoformat()
        comment = f"督办延期已批准：督办期限延至{_cn_date(d.due_date)}"
        if moved:
            payload["rectification_due_date"] = moved[-1].due_date.isoformat()
            comment += f"，整改期限同步延至{_cn_date(moved[-1].due_date)}"
    services.record_system_event(session, case, "supervision_extension_decided", payload, now=now, actor=actor,
                                 comment=comment)
    return sup


def lift(session: Session, actor: User, supervision_id: int, opinion: Any, now: datetime) -> Supervision:
    """摘牌: only the listing body, and only once the case's rectification has been verified."""
    sup, case = get_supervision(session, actor, supervision_id)
    if not _listing_authority_member(session, actor, sup):
        raise Forbidden("只有挂牌督办机关（或其上级）的督办人员可以摘牌")
    if sup.status == "lifted":
        raise ActionNotAllowed("督办事项已摘牌", state=sup.status)
    if case.state not in ("verified", "closed"):
        raise ActionNotAllowed("案件尚未经核查合格，不能摘牌", state=case.state)
    if not isinstance(opinion, str) or not opinion.strip():
        raise ValidationFailed([{"field": "opinion", "label": "核查意见", "message": "必填"}])
    from cases.clocks.deadlines import close_deadline

    d = _supervision_deadline(session, sup)
    if d is not None:
        close_deadline(session, d, "met", now)
    clock = _decision_deadline(session, sup)
    if clock is not None:  # a request nobody decided is moot once the listing is lifted
        close_deadline(session, clock, "cancelled", now)
    sup.status = "lifted"
    sup.lifted_at = now
    sup.lifted_by_id = actor.id
    sup.lift_opinion = opinion
    services.record_system_event(session, case, "supervision_lifted",
                                 {"supervision_id": sup.id, "notice_no": sup.notice_no, "opinion": opinion}, now=now,
                                 actor=actor, comment="挂牌督办机关核查后摘牌")
    return sup


def _pause(session: Session, d: Deadline, now: datetime) -> None:
    from cases.clocks.deadlines import get_calendar, get_policy, recompute_due, schedule_timers, warn_at_for

    if any(p[1] is None for p in d.pauses or []):
        return
    d.pauses = [*(d.pauses or []), [now.isoformat(), None]]
    cal = get_calendar(session)
    recompute_due(d, cal)
    d.warn_at = warn_at_for(d, cal, get_policy())
    session.flush()
    schedule_timers(session, d, now, cal)


def _resume(session: Session, d: Deadline, now: datetime, extend_by: int | None) -> None:
    from cases.clocks.deadlines import get_calendar, get_policy, recompute_due, schedule_timers, warn_at_for

    d.pauses = [[p[0], p[1] or now.isoformat()] for p in d.pauses or []]
    if extend_by:
        d.extensions = [*(d.extensions or []), int(extend_by)]
    cal = get_calendar(session)
    recompute_due(d, cal)
    d.warn_at = warn_at_for(d, cal, get_policy())
    session.flush()
    schedule_timers(session, d, now, cal)


def supervision_json(session: Session, sup: Supervision) -> dict[str, Any]:
    return supervisions_json(session, [sup])[0]


def supervisions_json(session: Session, sups: list[Supervision]) -> list[dict[str, Any]]:
    """Several supervisions in a fixed number of statements (two), however many there are: their
    authorities and their clocks (the supervision's latest deadline, the open decision clock)."""
    if not sups:
        return []
    codes = {x.listing_jurisdiction_code for x in sups} | {x.supervised_jurisdiction_code for x in sups}
    places = {j.code: j for j in session.scalars(select(Jurisdiction).where(Jurisdiction.code.in_(codes)))}
    latest: dict[int, Deadline] = {}
    decision: dict[int, Deadline] = {}
    for d in session.scalars(select(Deadline).where(Deadline.supervision_id.in_([x.id for x in sups]),
                                                    Deadline.key.in_(("supervision", DECISION_KEY)))
                             .order_by(Deadline.id.desc())):
        if d.key == "supervision":
            latest.setdefault(d.supervision_id, d)
        elif d.status == "open":
            decision.setdefault(d.supervision_id, d)
    return [_supervision_json(x, places[x.listing_jurisdiction_code], places[x.supervised_jurisdiction_code],
                              latest.get(x.id), decision.get(x.id)) for x in sups]


def _supervision_json(sup: Supervision, listing: Jurisdiction, supervised: Jurisdiction, d: Deadline | None,
                      clock: Deadline | None) -> dict[str, Any]:
    return {
        "id": sup.id, "case_id": sup.case_id, "notice_no": sup.notice_no, "status": sup.status,
        "status_label": STATUS_LABELS.get(sup.status), "reason": sup.reason, "reason_label": REASON_LABELS.get(sup.reason),
        "listing_authority": {"code": listing.code, "name": listing.authority_name, "level": listing.level},
        "supervised_authority": {"code": supervised.code, "name": supervised.authority_name},
        "requirements": sup.requirements, "listed_at": sup.listed_at, "lifted_at": sup.lifted_at,
        "lift_opinion": sup.lift_opinion, "extension_request": sup.extension_request, "history": sup.history or [],
        "deadline": {"due_at": d.due_at, "due_date": d.due_date, "provisional": d.provisional, "status": d.status,
                     "paused": d.due_at is None} if d else None,
        "decision_deadline": {"label": clock.label, "due_at": clock.due_at, "due_date": clock.due_date,
                              "party": clock.party} if clock else None,
    }
