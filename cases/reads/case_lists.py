"""Lists of cases: the filters every list and the ledger share (case_query), their checked options
and sorts, and one page of a user's visible cases."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select, func, not_, or_, select
from sqlalchemy.orm import Session, lazyload

from cases.platform import clock
from cases.platform.clock import SHANGHAI
from cases.ledger.access import visible_cases_clause
from cases.platform.errors import ValidationFailed
from cases.ledger.labels import SORT_LABELS, describe_options, field_label, options_of
from cases.models import Case, CaseEnterprise, Enterprise, User
from cases.ledger.services import CasePage


# ---------------------------------------------------------------- list

SORTS = {
    "created_at": Case.created_at, "updated_at": Case.updated_at, "found_at": Case.found_at,
    "number": Case.number, "state": Case.state, "kind": Case.kind, "title": Case.title,
}


def case_query(
    actor: User,
    *,
    kind: str | None = None,
    state: str | None = None,
    jurisdiction: str | None = None,
    assignee_id: int | None = None,
    enterprise_id: int | None = None,
    text: str | None = None,
    accident_grade: str | None = None,
    appraisal_grade: str | None = None,
    open_only: bool = False,
    light: str | None = None,
    found_from: date | str | None = None,
    found_to: date | str | None = None,
    due_from: date | str | None = None,
    due_to: date | str | None = None,
    closed_from: date | str | None = None,
    closed_to: date | str | None = None,
    jurisdiction_only: bool = False,
    rectification_due_from: date | str | None = None,
    rectification_due_to: date | str | None = None,
    rectified_on_time: bool | str | None = None,
    overdue_month: str | None = None,
    moved_up: bool | str | None = None,
    campaign_id: int | str | None = None,
    red_by: date | str | None = None,
    measure_by: date | str | None = None,
    measure_rung: str | None = None,
    now: datetime | None = None,
) -> Select:
    """The visible cases matching the filters (every list, the ledger and its exports). The date
    ranges are legal dates (Asia/Shanghai), both ends inclusive: ``found_*`` on 发现时间
    (``Case.found_at``), ``closed_*`` on 结案时间 (``Case.closed_at``), ``due_*`` on the case's
    current due date — the earliest due of its live clocks (``Case.clock_due_at``; a closed case or
    one whose clocks are all paused has none, so a due range never selects it): see ``due_date_of``.
    ``jurisdiction_only``: the jurisdiction itself without its subtree (the cockpit's 本级); the
    rectification and overdue filters select the cases behind the cockpit's ranking and trend
    (``clock_filters``); ``moved_up``: the visible cases moved by 提级 above the actor's own
    jurisdiction (seen through their origin; the cockpit's 已提级至上级的案件). ``campaign_id``: the
    cases found in that 专项整治 campaign (``Case.campaign_id``, the campaign's coverage figures:
    cases/campaigns/coverage.py)."""
    stmt = select(Case).where(visible_cases_clause(actor))
    if _flag("moved_up", moved_up):
        from cases.ledger.access import subtree_codes

        stmt = stmt.where(Case.origin_jurisdiction_code != Case.jurisdiction_code,
                          Case.jurisdiction_code.not_in(subtree_codes(actor.jurisdiction_code)))
    if campaign_id is not None and campaign_id != "":
        stmt = stmt.where(Case.campaign_id == _campaign_id(campaign_id))
    for clause in early_warning_filters(red_by=red_by, measure_by=measure_by, measure_rung=measure_rung, now=now):
        stmt = stmt.where(clause)
    for clause in clock_filters(jurisdiction=jurisdiction, jurisdiction_only=jurisdiction_only,
                                rectification_due_from=rectification_due_from,
                                rectification_due_to=rectification_due_to, rectified_on_time=rectified_on_time,
                                overdue_month=overdue_month, now=now):
        stmt = stmt.where(clause)
    for clause in date_range_clauses(found_from=found_from, found_to=found_to, due_from=due_from, due_to=due_to,
                                     closed_from=closed_from, closed_to=closed_to):
        stmt = stmt.where(clause)
    if light:
        from cases.clocks.lights import light_expression

        lights = light.split(",")
        unknown = [x for x in lights if x not in ("red", "yellow", "green", "none")]
        if unknown:
            raise ValidationFailed([{"field": "light", "label": "红黄绿灯", "message":
                                     f"取值“{unknown[0]}”无效，{describe_options(options_of('light'))}（可逗号分隔）"}])
        stmt = stmt.where(light_expression(now or clock.now()).in_(lights))
    if kind:
        _check_options("kind", kind)
        stmt = stmt.where(Case.kind.in_(kind.split(",")))
    if state:
        _check_options("state", state)
        stmt = stmt.where(Case.state.in_(state.split(",")))
    if jurisdiction and jurisdiction_only:
        stmt = stmt.where(Case.jurisdiction_code == jurisdiction)
    elif jurisdiction:
        from cases.ledger.access import subtree_codes

        stmt = stmt.where(Case.jurisdiction_code.in_(subtree_codes(jurisdiction)))
    if assignee_id is not None:
        stmt = stmt.where(Case.assignee_id == assignee_id)
    if enterprise_id is not None:
        related = select(CaseEnterprise.case_id).where(CaseEnterprise.enterprise_id == enterprise_id)
        stmt = stmt.where(or_(Case.enterprise_id == enterprise_id, Case.id.in_(related)))
    if text:
        # autoescape: a typed % or _ is searched for literally, not as a LIKE wildcard
        # and the responsible unit's name (责任单位: a search by enterprise finds its cases)
        t = text.strip()
        named = select(Enterprise.id).where(Enterprise.name.icontains(t, autoescape=True))
        stmt = stmt.where(or_(*(c.icontains(t, autoescape=True)
                                for c in (Case.number, Case.previous_numbers, Case.title, Case.description,
                                          Case.location)), Case.enterprise_id.in_(named)))
    if accident_grade:
        stmt = stmt.where(Case.accident_grade == accident_grade)
    if appraisal_grade:
        stmt = stmt.where(Case.appraisal_grade == appraisal_grade)
    if open_only:
        stmt = stmt.where(Case.closed_at.is_(None))
    return stmt


def _campaign_id(raw: int | str) -> int:
    text = str(raw).strip()
    if isinstance(raw, bool) or not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
        raise ValidationFailed([{"field": "campaign_id", "label": field_label("campaign_id"),
                                 "message": f"应为专项行动编号（整数），收到“{text[:20]}”"}])
    return int(text)


# ---------------------------------------------------------------- the cockpit's figures as filters

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _flag(name: str, raw: bool | str | None) -> bool | None:
    if raw is None or raw == "" or isinstance(raw, bool):
        return raw if isinstance(raw, bool) else None
    value = {"true": True, "1": True, "on": True, "false": False, "0": False}.get(str(raw).strip().lower())
    if value is None:
        raise ValidationFailed([{"field": name, "label": field_label(name),
                                 "message": f"应为 true（是）或 false（否），收到“{str(raw)[:20]}”"}])
    return value


def _month(raw: str | None) -> date | None:
    """``YYYY-MM`` → the first day of that month, or a 422 naming the field."""
    if raw is None or raw == "":
        return None
    m = _MONTH.fullmatch(str(raw).strip())
    if m is None or not 1 <= int(m.group(2)) <= 12 or not 1900 <= int(m.group(1)) <= 2100:
        raise ValidationFailed([{"field": "overdue_month", "label": field_label("overdue_month"),
                                 "message": f"应为年月（YYYY-MM，如 2026-11），收到“{str(raw)[:20]}”"}])
    return date(int(m.group(1)), int(m.group(2)), 1)


def clock_filters(*, jurisdiction: str | None, jurisdiction_only: bool | str | None,
                  rectification_due_from: date | str | None, rectification_due_to: date | str | None,
                  rectified_on_time: bool | str | None, overdue_month: str | None,
                  now: datetime | None) -> list[ColumnElement[bool]]:
    """The cases behind the cockpit's 按期整改率 and trend (cases/reads/stats.py, whose clauses
    these reuse): ``rectification_due_from/_to`` — a rectification clock due in the range that the
    rate counts (decided: met, or past its due instant); with ``rectified_on_time`` every such clock
    of the case met by its due instant (true) or at least one not (false); ``overdue_month`` — a light-bearing clock due in that
    month (up to now) and not done by its due instant (the trend's 逾期). Bad values: a 422 each."""
    from cases.reads import stats
    from cases.models import Deadline

    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for name, check in (("jurisdiction_only", lambda: _flag("jurisdiction_only", jurisdiction_only)),
                        ("rectified_on_time", lambda: _flag("rectified_on_time", rectified_on_time)),
                        ("rectification_due_from", lambda: legal_date("rectification_due_from", rectification_due_from)),
                        ("rectification_due_to", lambda: legal_date("rectification_due_to", rectification_due_to)),
                        ("overdue_month", lambda: _month(overdue_month))):
        try:
            values[name] = check()
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            values[name] = None
    lo, hi = values["rectification_due_from"], values["rectification_due_to"]
    if lo is not None and hi is not None and lo > hi:
        errors.append({"field": "rectification_due_to", "label": field_label("rectification_due_to"),
                       "message": f"不能早于{field_label('rectification_due_from')}（{lo.isoformat()}）"})
    if values["jurisdiction_only"] and not jurisdiction:
        errors.append({"field": "jurisdiction_only", "label": field_label("jurisdiction_only"),
                       "message": f"须同时指定{field_label('jurisdiction')}"})
    if errors:
        raise ValidationFailed(errors)
    now = now or clock.now()
    out: list[ColumnElement[bool]] = []
    on_time = values["rectified_on_time"]
    if lo is not None or hi is not None or on_time is not None:
        clocks = stats.rectification_due_clauses(lo, hi, now)
        out.append(Case.id.in_(select(Deadline.case_id).where(*clocks)))
        if on_time is not None:  # a case is late when any of its clocks due in the range was
            late = Case.id.in_(select(Deadline.case_id).where(*clocks, stats.on_time_clause().is_not(True)))
            out.append(not_(late) if on_time else late)
    first = values["overdue_month"]
    if first is not None:
        following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        out.append(Case.id.in_(select(Deadline.case_id).where(
            Deadline.affects_light, Deadline.due_at >= day_start(first), Deadline.due_at < day_start(following),
            stats.late_clause(now))))
    return out


def early_warning_filters(*, red_by: date | str | None, measure_by: date | str | None, measure_rung: str | None,
                          now: datetime | None) -> list[ColumnElement[bool]]:
    """The cases behind the cockpit's 预警 (cases/reads/early_warning.py, whose clauses these are):
    ``red_by`` — not red now, red by 24:00 of that day; ``measure_by`` — a measure rung of the ladder
    due by 24:00 of that day (``measure_rung``: only that rung). Bad values: a 422 each."""
    from cases.clocks.legal_time import end_of_day_utc
    from cases.reads import early_warning
    from cases.reads.stats import MEASURE_RUNGS

    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for name, raw in (("red_by", red_by), ("measure_by", measure_by)):
        try:
            values[name] = legal_date(name, raw)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            values[name] = None
    rung = (measure_rung or "").strip() or None
    if rung is not None and rung not in MEASURE_RUNGS:
        labels = early_warning.rung_labels()
        errors.append({"field": "measure_rung", "label": field_label("measure_rung"), "message": "只能是 " + "、".join(
            f"{r}（{labels.get(r, r)}）" for r in MEASURE_RUNGS) + f"，收到“{rung[:20]}”"})
    if rung is not None and values["measure_by"] is None and not errors:
        errors.append({"field": "measure_rung", "label": field_label("measure_rung"),
                       "message": f"须同时指定{field_label('measure_by')}"})
    if errors:
        raise ValidationFailed(errors)
    now = now or clock.now()
    out: list[ColumnElement[bool]] = []
    if values["red_by"] is not None:
        out.append(early_warning.turning_red_clause(now, end_of_day_utc(values["red_by"])))
    if values["measure_by"] is not None:
        out.append(early_warning.climbing_clause(now, end_of_day_utc(values["measure_by"]), rung))
    return out


# ---------------------------------------------------------------- date ranges

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_RANGES = {"found": Case.found_at, "due": Case.clock_due_at, "closed": Case.closed_at}


def day_start(d: date) -> datetime:
    """00:00 of Shanghai date ``d`` as a UTC instant."""
    return datetime.combine(d, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def due_date_of(due_at: datetime | None) -> date | None:
    """The legal due date of a due instant. A day-based deadline is due at 24:00 of its last day
    (= 00:00 of the next, cases/clocks/legal_time.py ``end_of_day_utc``), so the due date of an
    instant ``t`` is the Shanghai day ``D`` with day_start(D) < t <= day_start(D + 1)."""
    if due_at is None:
        return None
    return (due_at - timedelta(microseconds=1)).astimezone(SHANGHAI).date()


def legal_date(name: str, raw: date | str | None) -> date | None:
    """A filter's ``YYYY-MM-DD`` (a legal date) or a 422 naming the field by its label."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        value = raw
    else:
        text = str(raw).strip()
        value = None
        if _DATE.fullmatch(text):
            try:
                value = date.fromisoformat(text)
            except ValueError:
                value = None
        if value is None:
            raise ValidationFailed([{"field": name, "label": field_label(name),
                                     "message": f"应为日期（YYYY-MM-DD，如 2026-11-23），收到“{text[:20]}”"}])
    if not 1900 <= value.year <= 2100:
        raise ValidationFailed([{"field": name, "label": field_label(name), "message": "年份应在1900至2100之间"}])
    return value


def date_range_clauses(**ranges: date | str | None) -> list[ColumnElement[bool]]:
    """``found_from=…, due_to=…`` → WHERE clauses on the instants (inclusive Shanghai dates);
    every bad value is named at once, and a range whose start is after its end too."""
    errors: list[dict[str, str]] = []
    values: dict[str, date | None] = {}
    for name, raw in ranges.items():
        try:
            values[name] = legal_date(name, raw)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            values[name] = None
    clauses = []
    for key, column in DATE_RANGES.items():
        lo, hi = values.get(f"{key}_from"), values.get(f"{key}_to")
        if lo is not None and hi is not None and lo > hi:
            errors.append({"field": f"{key}_to", "label": field_label(f"{key}_to"),
                           "message": f"不能早于{field_label(f'{key}_from')}（{lo.isoformat()}）"})
            continue
        if key == "due":  # due at 24:00 of D belongs to D: the day is (start of D, start of D+1]
            if lo is not None or hi is not None:
                # Only an open case has a current due date; said here, PostgreSQL can also use the
                # partial index of open cases by their due instant (ix_cases_open_clock_due).
                clauses.append(Case.closed_at.is_(None))
            if lo is not None:
                clauses.append(column > day_start(lo))
            if hi is not None:
                clauses.append(column <= day_start(hi + timedelta(days=1)))
        else:  # an instant during D: [start of D, start of D+1)
            if lo is not None:
                clauses.append(column >= day_start(lo))
            if hi is not None:
                clauses.append(column < day_start(hi + timedelta(days=1)))
    if errors:
        raise ValidationFailed(errors)
    return clauses


def _check_options(name: str, raw: str) -> None:
    """A comma-separated filter of known values; an unknown one is named with what is allowed."""
    options = options_of(name)
    unknown = [x for x in raw.split(",") if x not in options]
    if unknown:
        raise ValidationFailed([{"field": name, "label": field_label(name), "message":
                                 f"取值“{unknown[0]}”无效，{describe_options(options)}（可逗号分隔）"}])


def list_cases(session: Session, actor: User, *, sort: str = "-created_at", page: int = 1, page_size: int = 20,
               count_limit: int | None = None, **filters: Any) -> CasePage:
    """One page of the visible cases matching ``filters`` and how many match. With ``count_limit``
    the count stops after that many (the ledger page: docs/performance.md "Pages at 1 M cases"):
    more than that gives ``total == count_limit`` and ``capped``; otherwise the count is exact."""
    stmt = case_query(actor, **filters)
    counted = stmt.order_by(None).with_only_columns(Case.id)
    if count_limit is not None:
        counted = counted.limit(count_limit + 1)
    total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    capped = count_limit is not None and total > count_limit
    order = sort_order(sort)
    # A page lists summaries: the related units (selectin by default) load only if someone asks.
    items = list(session.scalars(stmt.order_by(*order).limit(page_size).offset((page - 1) * page_size)
                                 .options(lazyload(Case.related))))
    return CasePage(items=items, total=count_limit if capped else total, page=page, page_size=page_size,
                    capped=capped)


def sort_order(sort: str) -> list:
    """``-created_at,number`` → ORDER BY clauses (ties broken by id, newest first) or a 422."""
    order = []
    for key in sort.split(","):
        desc = key.startswith("-")
        column = SORTS.get(key.lstrip("-+"))
        if column is None:
            raise ValidationFailed([{"field": "sort", "label": "排序", "message": f"不支持按“{key}”排序，"
                                     + describe_options({k: SORT_LABELS.get(k, k) for k in SORTS})
                                     + "（前缀 - 表示倒序，可逗号分隔）"}])
        order.append(column.desc() if desc else column.asc())
    order.append(Case.id.desc())
    return order
