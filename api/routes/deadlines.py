"""Deadlines, traffic lights, listed supervision, escalation log, queues and the legal calendar."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import lazyload

from api import responses
from api.deps import AppClock, CurrentUser, Db
from api.serialize import case_summaries
from cases.clocks import deadlines as dl
from cases.clocks import lights
from cases.ledger import policy, services
from cases.reads import case_lists
from cases.clocks import supervision
from cases.reads import supervision_board
from cases.ledger.access import STAFF_ONLY_DEADLINE_KEYS, STAFF_ROLES, require_role
from cases.calendar.calendar_store import get_calendar
from cases.platform.errors import ValidationFailed
from cases.clocks.legal_time import compute_due
from cases.reads.light_stats import fold_due, fold_open_counts, light_count_rows, light_table
from cases.models import Case, CalendarYear, Deadline, Jurisdiction, RungFiring, Supervision

router = APIRouter(prefix="/api", tags=["deadlines & supervision"])

LIGHT_RANK = {"red": 0, "yellow": 1, "green": 2, "none": 3}


def _with_lights(s, cases: list[Case], now: datetime) -> list[dict[str, Any]]:
    items = case_summaries(s, cases, now)  # computes the lights at ``now`` (one statement for the page)
    due = {c.id: c.clock_due_at for c in cases}  # the next due is on the case row (Case.clock_due_at)
    for item in items:
        item["light_label"] = dl.LIGHT_LABELS[item["light"]]
        item["next_due_at"] = due.get(item["id"])
    return items


def _urgency_query(user, now: datetime, **filters):
    from sqlalchemy import case as sql_case

    light = lights.light_expression(now)
    rank = sql_case((light == "red", 0), (light == "yellow", 1), (light == "green", 2), else_=3)
    stmt = case_lists.case_query(user, now=now, **filters).where(Case.closed_at.is_(None))
    return stmt, light, rank


@router.get("/queue", summary="我的待办（按紧急程度排序：红灯、黄灯、绿灯，再按到期时间）")
def my_queue(user: CurrentUser, db: Db, clock: AppClock, page: int = Query(1, ge=1),
             page_size: int = Query(50, ge=1, le=200)):
    now = clock.now()
    with db.session() as s:
        return responses.fast_json(queue_page(s, user, now, page=page, page_size=page_size))


def queue_page(s, user, now: datetime, *, page: int = 1, page_size: int = 50, with_counts: bool = False,
               **filters) -> dict[str, Any]:
    """The user's queue (most urgent first) as the API and the workbench show it; ``filters`` are
    ``case_lists.case_query``'s (kind, state, text, light …). Each item carries its running clocks
    (``deadlines``) and the one due next (``next_clock``: label, whose clock, due date, countdown —
    还剩N个工作日 / 已逾期N天 / 已暂停). ``with_counts``: also ``counts`` by light over the queue with
    the same filters except the light (the workbench's counts, each a link to that light)."""
    awaiting = _awaiting_decision(s, user)
    light_filter = filters.pop("light", None)

    def queue(**extra):
        stmt, light, rank = _urgency_query(user, now, **filters, **extra)
        if user.role != "enterprise":  # an enterprise contact's queue is every open case of their unit
            # Their own cases, and the cases waiting for their decision (an approver's clock).
            stmt = stmt.where(or_(Case.assignee_id == user.id, Case.id.in_(awaiting)) if awaiting
                              else Case.assignee_id == user.id)
        return stmt, light, rank

    counts = None
    if with_counts:
        base, light, _ = queue()
        by_light = dict(s.execute(base.order_by(None).with_only_columns(light, func.count()).group_by(light)).all())
        counts = {k: int(by_light.get(k, 0)) for k in ("red", "yellow", "green", "none")}
        counts["total"] = sum(counts.values())
    stmt, light, rank = queue(light=light_filter) if light_filter else queue()
    if counts is not None and not light_filter:
        total = counts["total"]
    else:
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    nd = lights.next_due_expression()  # the case row's clock summary: no sub-query per case
    rows = list(s.scalars(stmt.order_by(rank, nd.asc().nulls_last(), Case.id).limit(page_size).offset((page - 1) * page_size)
                          .options(lazyload(Case.related))))  # summaries: no related units
    items = _with_lights(s, rows, now)
    clocks = _open_clocks(s, [c.id for c in rows], now)
    calendar = get_calendar(s) if rows else None
    for item in items:
        item["deadlines"] = clocks.get(item["id"], [])
        item["next_clock"] = _next_clock(item["deadlines"], now, calendar)
    out = {"items": items, "total": total, "page": page, "page_size": page_size}
    if counts is not None:
        out["counts"] = counts
    return out


def _next_clock(clocks: list[dict[str, Any]], now: datetime, calendar) -> dict[str, Any] | None:
    """The clock due next among a case's running ones (else a paused one), with its countdown."""
    from cases.clocks.countdown import countdown

    if not clocks:
        return None
    running = [c for c in clocks if not c["paused"]]
    chosen = min(running, key=lambda c: datetime.fromisoformat(c["due_at"])) if running else clocks[0]
    due_at = datetime.fromisoformat(chosen["due_at"]) if chosen["due_at"] else None
    due_date = date.fromisoformat(chosen["due_date"]) if chosen["due_date"] else None
    cd = countdown(due_at, due_date, now, calendar)
    return {**chosen, "countdown": cd.text, "countdown_state": cd.state, "countdown_days": cd.days}


def _awaiting_decision(s, user) -> list[int]:
    """Visible open cases with a running approver's clock (an extension request, a listing's
    extension request) that this user may decide: the supervisors nearest the case, or of the listing body."""
    from cases.issuance import outbox

    if user.role != "supervisor":
        return []
    rows = s.execute(select(Deadline, Supervision.listing_jurisdiction_code).outerjoin(
        Supervision, Supervision.id == Deadline.supervision_id).where(
        Deadline.status == "open", Deadline.party == "approver",
        Deadline.case_id.in_(case_lists.case_query(user).where(Case.closed_at.is_(None)).with_only_columns(Case.id)))).all()
    out: list[int] = []
    for d, listing in rows:
        case = s.get(Case, d.case_id)
        if any(u.id == user.id for u in outbox.approvers(s, case, listing)):
            out.append(d.case_id)
    return out


def _open_clocks(s, case_ids: list[int], now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Each case's running clocks as a queue shows them: whose, until when, light (paused: since when)."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not case_ids:
        return out
    for d in s.scalars(select(Deadline).where(Deadline.case_id.in_(case_ids), Deadline.status == "open",
                                              Deadline.affects_light.is_(True)).order_by(Deadline.id)):
        out.setdefault(d.case_id, []).append({**dl.deadline_summary(d), "supervision_id": d.supervision_id,
                                              "light": "paused" if d.due_at is None else lights.light_of([d], now)})
    return out


@router.get("/overdue", summary="逾期案件（红灯，本辖区及下级）")
def overdue(user: CurrentUser, db: Db, clock: AppClock, kind: str | None = None, jurisdiction: str | None = None,
            page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    now = clock.now()
    with db.session() as s:
        return responses.fast_json(overdue_page(s, user, now, kind=kind, jurisdiction=jurisdiction, page=page,
                                                page_size=page_size))


def overdue_page(s, user, now: datetime, *, kind: str | None = None, jurisdiction: str | None = None, page: int = 1,
                 page_size: int = 50) -> dict[str, Any]:
    """One page of the overdue list as the API and the cockpit (/cockpit/overdue) show it, longest overdue first."""
    # Red = an open case whose earliest live due (on the case row) has passed; the page is a range
    # of ix_cases_open_clock_due read in due order with LIMIT (docs/performance.md "Scale").
    stmt = (case_lists.case_query(user, kind=kind, jurisdiction=jurisdiction)
            .where(Case.closed_at.is_(None), Case.clock_due_at <= now))
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(s.scalars(stmt.order_by(Case.clock_due_at.asc(), Case.id).limit(page_size).offset((page - 1) * page_size)
                          .options(lazyload(Case.related))))  # summaries: no related units
    return {"items": _with_lights(s, rows, now), "total": total, "page": page, "page_size": page_size}


@router.get("/stats/lights", summary="统计：辖区 × 案件类型 × 红黄绿灯")
def light_counts(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str | None = None):
    now = clock.now()
    rows, names = read_light_counts(db, user, now, jurisdiction=jurisdiction)
    return responses.fast_json({**light_table(rows, names), "at": now})


def read_light_counts(db, user, now: datetime, *, jurisdiction: str | None = None):
    """(``light_count_rows``, {code: name}) for the API's counts and the cockpit; folds the open
    counts afterwards when the read saw many signed rows."""
    with db.session() as s:
        # From the case rows' clock summaries, as index ranges per visible jurisdiction (cases/reads/light_stats.py).
        rows = light_count_rows(s, user, now, jurisdiction=jurisdiction)
        names = dict(s.execute(select(Jurisdiction.code, Jurisdiction.name)).all())
        fold = fold_due(s)
    if fold:  # the open counts carry many signed rows since the last fold: collapse them (cheap, rare)
        with db.transaction() as s:
            fold_open_counts(s)
    return rows, names


@router.get("/cases/{case_id}/deadlines", summary="案件期限（含历史、暂停与延期）")
def case_deadlines(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        return case_deadline_list(s, user, case_id, clock.now())


def case_deadline_list(s, user, case_id: int, now: datetime) -> dict[str, Any]:
    """Every deadline of a visible case (history, pauses, extensions) and its light: the API's
    /api/cases/{id}/deadlines and the case page."""
    case = services.get_case(s, user, case_id)
    rows = list(s.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)))
    if user.role not in STAFF_ROLES:  # a referral's reply clock is staff's (cases/referrals)
        rows = [d for d in rows if d.key not in STAFF_ONLY_DEADLINE_KEYS]
    return {"light": lights.light_of(rows, now, closed=case.closed_at is not None),
            "items": [deadline_json(d, now) for d in rows]}


def deadline_json(d: Deadline, now: datetime) -> dict[str, Any]:
    return {
        "id": d.id, "key": d.key, "label": d.label, "status": d.status,
        "status_label": dl.STATUS_LABELS.get(d.status, d.status), "supervision_id": d.supervision_id,
        "party": d.party, "party_label": dl.PARTY_LABELS.get(d.party, d.party), "paused_since": dl.paused_since(d),
        "start_at": d.start_at, "amount": d.amount, "unit": d.unit, "extensions": d.extensions or [],
        "pauses": d.pauses or [], "paused": d.status == "open" and d.due_at is None, "due_at": d.due_at,
        "due_date": d.due_date, "warn_at": d.warn_at, "provisional": d.provisional,
        "calendar_version": d.calendar_version, "affects_light": d.affects_light,
        "light": lights.light_of([d], now) if d.status == "open" else None, "closed_at": d.closed_at,
    }


@router.get("/cases/{case_id}/escalations", summary="案件升级记录（每个期限每级只触发一次）")
def case_escalations(case_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return {"items": case_escalation_list(s, user, case_id)}


def case_escalation_list(s, user, case_id: int) -> list[dict[str, Any]]:
    """The rungs fired on a visible case's deadlines, in order (the API and the case page)."""
    services.get_case(s, user, case_id)
    rows = s.execute(select(RungFiring, Deadline.label, Deadline.key).join(Deadline, Deadline.id == RungFiring.deadline_id)
                     .where(RungFiring.case_id == case_id).order_by(RungFiring.fired_at, RungFiring.id)).all()
    staff = user.role in STAFF_ROLES
    return [{"id": f.id, "deadline_id": f.deadline_id, "deadline": label, "deadline_key": key,
             "rung": f.rung, "label": f.label, "scheduled_at": f.scheduled_at, "fired_at": f.fired_at,
             "effects": f.effects} for f, label, key in rows if staff or key not in STAFF_ONLY_DEADLINE_KEYS]


@router.get("/supervisions", summary="挂牌督办事项（本辖区挂牌或被督办的）")
def list_supervisions(user: CurrentUser, db: Db, status: str | None = Query(None, description="listed / extension_requested / lifted，可逗号分隔"),
                      page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        return responses.fast_json(supervisions_page(s, user, status=status, page=page, page_size=page_size))


def supervisions_page(s, user, *, status: str | None = None, clock_stage: str | None = None,
                      now: datetime | None = None, page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """One page of the supervisions the user's subtree listed or is supervised in (the API and the
    cockpit's board). ``clock_stage`` (the board): ``due`` — the 督办期限 is running and past its warn
    instant, ``overdue`` — past its due instant, both of listings not yet lifted."""
    require_role(user, *STAFF_ROLES)
    stmt = supervision_board.visible_supervisions(user)
    if status:
        stmt = stmt.where(Supervision.status.in_(status.split(",")))
    if clock_stage:
        stmt = stmt.where(supervision_board.clock_stage_clause(clock_stage, now))
    total = s.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(s.scalars(stmt.order_by(Supervision.listed_at.desc(), Supervision.id.desc())
                          .limit(page_size).offset((page - 1) * page_size)))
    # Only the four columns shown (a whole Case would also load its related units).
    cases = {c.id: c for c in s.execute(select(Case.id, Case.number, Case.title, Case.state)
                                        .where(Case.id.in_([r.case_id for r in rows])))}
    items = supervision.supervisions_json(s, rows)  # two statements for the page, not four per row
    for r, j in zip(rows, items):
        c = cases.get(r.case_id)
        j["case"] = {"id": c.id, "number": c.number, "title": c.title, "state": c.state} if c else None
    return {"items": items, "total": total, "page": page, "page_size": page_size}


@router.get("/supervisions/{supervision_id}", summary="督办事项详情")
def get_supervision(supervision_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        sup, _ = supervision.get_supervision(s, user, supervision_id)
        return supervision.supervision_json(s, sup)


class ExtensionIn(BaseModel):
    days: int = Field(ge=1, le=60, description="申请延期天数（工作日）")
    reason: str = Field(min_length=1, max_length=2000)


class DecisionIn(BaseModel):
    approved: bool
    days: int | None = Field(None, ge=1, le=60)
    opinion: str | None = Field(None, max_length=2000)


class LiftIn(BaseModel):
    opinion: str = Field(min_length=1, max_length=4000, description="核查意见")


@router.post("/supervisions/{supervision_id}/extension", summary="申请督办延期（期限暂停至审批）")
def supervision_extension(supervision_id: int, body: ExtensionIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        sup = supervision.request_extension(s, user, supervision_id, body.days, body.reason, clock.now())
        return supervision.supervision_json(s, sup)


@router.post("/supervisions/{supervision_id}/extension/decision", summary="审批督办延期（挂牌机关）")
def supervision_decision(supervision_id: int, body: DecisionIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        sup = supervision.decide_extension(s, user, supervision_id, body.approved, body.days, body.opinion, clock.now())
        return supervision.supervision_json(s, sup)


@router.post("/supervisions/{supervision_id}/lift", summary="摘牌（挂牌机关核查后）")
def supervision_lift(supervision_id: int, body: LiftIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        sup = supervision.lift(s, user, supervision_id, body.opinion, clock.now())
        return supervision.supervision_json(s, sup)


@router.get("/calendar/deadline", summary="期限预览：到期时间、到期日、是否暂定")
def preview_deadline(db: Db, clock: AppClock, user: CurrentUser,
                     amount: int = Query(ge=0, le=3650),
                     unit: Literal["hour", "calendar_day", "working_day"] | None = Query(None),
                     start: datetime | None = Query(None, description="起算时间（ISO 8601；无时区按北京时间）；默认现在"),
                     rule: str | None = Query(None, description="期限规则（案件类型.期限，如 hazard.rectification）："
                                                                "按该规则定单位，十日以内的整改期限按工作日计算")):
    from cases.platform.clock import SHANGHAI

    if rule:
        kind, _, key = rule.partition(".")
        found = dl.get_policy().rule(kind, key)
        if found is None:
            raise ValidationFailed([{"field": "rule", "label": "期限规则", "message": f"没有期限规则“{rule}”"}])
        unit = found.unit_for(amount)
    if unit is None:
        raise ValidationFailed([{"field": "unit", "label": "期限单位",
                                 "message": "必填：hour（小时）、calendar_day（自然日）或 working_day（工作日）"}])
    start = start or clock.now()
    if start.tzinfo is None:
        start = start.replace(tzinfo=SHANGHAI)
    with db.session() as s:
        cal = get_calendar(s)
    try:
        r = compute_due(start.astimezone(timezone.utc), amount, unit, cal)
    except ValueError as exc:
        raise ValidationFailed([{"field": "start", "label": "起算时间", "message": str(exc)}]) from None
    return {"start": start, "amount": amount, "unit": unit, "due_at": r.due_at, "due_date": r.due_date,
            "provisional": r.provisional, "calendar_version": r.calendar_version}


@router.get("/calendar/years", summary="已载入的节假日安排")
def calendar_years(user: CurrentUser, db: Db):
    from cases.clocks.legal_time import PACKAGE_YEARS

    with db.session() as s:
        rows = list(s.scalars(select(CalendarYear).order_by(CalendarYear.year)))
        return {"package_years": sorted(PACKAGE_YEARS), "loaded": [
            {"year": r.year, "notice": r.notice, "digest": r.digest, "loaded_at": r.loaded_at, "loaded_by": r.loaded_by}
            for r in rows]}


@router.post("/admin/calendar/years", summary="载入某年国务院放假安排（管理员）；重新计算相关期限")
def load_calendar_year(user: CurrentUser, db: Db, clock: AppClock, notice: dict[str, Any] = Body(...)):
    require_role(user, "admin")
    try:
        with db.transaction() as s:
            policy.require_root_admin(s, user, "节假日安排")  # one legal calendar for the province
            return dl.load_calendar_year(s, notice, loaded_by=user.username, now=clock.now())
    except ValueError as exc:
        raise ValidationFailed([{"field": "notice", "label": "放假安排", "message": str(exc)}]) from None
