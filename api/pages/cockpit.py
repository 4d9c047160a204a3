"""The supervisor cockpit (督办驾驶舱, ``/cockpit``): counts by jurisdiction × kind × light with a
drill-down, the overdue list, the 挂牌督办 board with the listing authority's forms, the escalation
log, and the ranking and trend (``/cockpit/performance``).

Staff only (an enterprise contact gets the 403 page); officers read their own subtree as the API
lets them (``/api/stats/lights``, ``/api/overdue``, ``/api/supervisions``), and the forms call the
same services as the API (``cases/clocks/supervision.py``), which decide who may act. Every count
links to the ledger list (``/ledger?…``) that selects the same cases; the figures come from the
functions the API uses (api/routes/deadlines.py) and from ``cases/reads/stats.py``.
"""
from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from api.pages.common import CheckedForm, PageUser, redirect, render
from api.routes.deadlines import DecisionIn, LiftIn, overdue_page, read_light_counts, supervisions_page
from cases.clocks import supervision
from cases.reads import stats, supervision_board
from cases.calendar.calendar_store import get_calendar
from cases.clocks.countdown import countdown
from cases.ledger.access import STAFF_ROLES, in_subtree, require_role
from cases.reads.case_lists import due_date_of
from cases.ledger.labels import field_label, options_of
from cases.reads.light_stats import LIGHTS, empty_lights, rolled_up
from cases.models import User
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SECTIONS = (("/cockpit", "红黄绿灯统计"), ("/cockpit/overdue", "逾期清单"), ("/cockpit/supervisions", "挂牌督办"),
            ("/cockpit/escalations", "升级记录"), ("/cockpit/performance", "按期整改率与趋势"),
            ("/cockpit/early-warning", "预警"), ("/cockpit/enterprises", "企业排名"),
            ("/cockpit/repeat-offenders", "屡查屡犯"))


def ledger_url(**params: Any) -> str:
    """The ledger list of exactly these filters (the ledger page's query parameters)."""
    return "/ledger?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _staff(user: User) -> None:
    require_role(user, *STAFF_ROLES)  # 403 page for an enterprise contact


def _root(request: Request, s, user: User, code: str | None) -> stats.Subtree:
    """The subtree a cockpit page shows: ``?jurisdiction=`` within the user's own, else the user's."""
    code = (code or user.jurisdiction_code).strip()[:12]
    if not in_subtree(s, user.jurisdiction_code, code):
        raise NotFound(f"辖区“{code}”不存在或不在您的管辖范围内")
    tree = stats.subtree(s, code)
    if tree is None:
        raise NotFound(f"辖区“{code}”不存在")
    return tree


def _chain(tree: stats.Subtree, user: User) -> list[stats.Place]:
    """The breadcrumb: from the user's own jurisdiction down to the one shown."""
    codes = [p.code for p in tree.chain]
    return tree.chain[codes.index(user.jurisdiction_code):] if user.jurisdiction_code in codes else [tree.root]


def _page_number(raw: str | None) -> int:
    raw = raw or "1"
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= 100_000 else 1


def _ctx(request: Request, user: User, section: str, **extra: Any) -> dict[str, Any]:
    return {"sections": SECTIONS, "section": section, "kinds": options_of("kind"), "ledger_url": ledger_url, **extra}


# ---------------------------------------------------------------- counts by jurisdiction × kind × light


@router.get("/cockpit")
def cockpit(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12)):
    _staff(user)
    state = request.app.state
    now = state.clock.now()
    with state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
    own = tree.root.code == user.jurisdiction_code
    # At the user's own level the API's counts include the visible cases moved up above it (提级).
    rows, _ = read_light_counts(state.db, user, now, jurisdiction=None if own else tree.root.code)
    table, outside = rolled_up(rows, tree.row_of)
    kinds = options_of("kind")
    lines = []
    for place in tree.rows:
        by_kind = table.get(place.code, {})
        is_own_level = place.code == tree.root.code and bool(tree.children)
        if is_own_level and not by_kind:
            continue
        subtotal = empty_lights()
        for counts in by_kind.values():
            for lt in LIGHTS:
                subtotal[lt] += counts[lt]
        # The root's own level (本级) of a jurisdiction with children links to the ledger's
        # jurisdiction_only list (the jurisdiction without its subtree).
        lines.append({"place": place, "own_level": is_own_level,
                      "drill": place.code != tree.root.code,
                      "kinds": [(k, kinds.get(k, k), by_kind[k]) for k in kinds if k in by_kind]
                      + [(k, k, v) for k, v in by_kind.items() if k not in kinds],
                      "subtotal": subtotal})
    totals_by_kind: dict[str, dict[str, int]] = {}
    for by_kind in table.values():
        for k, counts in by_kind.items():
            acc = totals_by_kind.setdefault(k, empty_lights())
            for lt in LIGHTS:
                acc[lt] += counts[lt]
    totals = empty_lights()
    for counts in totals_by_kind.values():
        for lt in LIGHTS:
            totals[lt] += counts[lt]
    return render(request, "cockpit/counts.html", user=user, **_ctx(
        request, user, "/cockpit", tree=tree, chain=_chain(tree, user), lines=lines, lights=LIGHTS,
        totals=totals, totals_by_kind=[(k, kinds.get(k, k), totals_by_kind[k]) for k in kinds if k in totals_by_kind],
        outside=[(k, kinds.get(k, k), v) for k, v in outside.items()]))


# ---------------------------------------------------------------- overdue list


@router.get("/cockpit/overdue")
def overdue(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
            kind: str | None = Query(None, max_length=32), page: str | None = Query(None, max_length=8)):
    _staff(user)
    state = request.app.state
    now = state.clock.now()
    number = _page_number(page)
    kind = kind or None
    with state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        own = tree.root.code == user.jurisdiction_code
        result = overdue_page(s, user, now, kind=kind, jurisdiction=None if own else tree.root.code, page=number,
                              page_size=PAGE_SIZE)
        calendar = get_calendar(s)
    for item in result["items"]:
        item["due_date"] = due_date_of(item.get("next_due_at"))
        item["countdown"] = countdown(item.get("next_due_at"), item["due_date"], now, calendar)  # 已逾期N天
    pages = (result["total"] + PAGE_SIZE - 1) // PAGE_SIZE
    return render(request, "cockpit/overdue.html", user=user, **_ctx(
        request, user, "/cockpit/overdue", tree=tree, chain=_chain(tree, user), result=result, page=number,
        pages=pages, kind=kind or "", own=own))


# ---------------------------------------------------------------- 挂牌督办 board


STAGES = ("running", "due", "overdue", "extension_requested", "lifted")


def _board(request: Request, user: User, stage: str | None, page: int, *, errors: dict[int, list[str]] | None = None,
           status_code: int = 200, form: dict[str, Any] | None = None):
    _staff(user)
    state = request.app.state
    now = state.clock.now()
    stage = stage if stage in STAGES else None
    filters: dict[str, Any] = {}
    if stage in ("extension_requested", "lifted"):
        filters["status"] = stage
    elif stage:
        filters["clock_stage"] = stage
    with state.db.session() as s:
        result = supervisions_page(s, user, now=now, page=page, page_size=PAGE_SIZE, **filters)
        counts = supervision_board.stage_counts(s, user, now)
        calendar = get_calendar(s)
        for item in result["items"]:
            # The same test the services apply (the listing body or above, a supervisor).
            item["may_decide"] = supervision.may_decide(s, user, item["listing_authority"]["code"])
            d = item.get("deadline") or {}
            item["countdown"] = (countdown(d.get("due_at"), d.get("due_date"), now, calendar)
                                 if d.get("status") == "open" and item["status"] == "listed" else None)
    pages = (result["total"] + PAGE_SIZE - 1) // PAGE_SIZE
    return render(request, "cockpit/supervisions.html", user=user, status_code=status_code, **_ctx(
        request, user, "/cockpit/supervisions", result=result, page=page, pages=pages, stage=stage or "",
        stages=[(key, supervision_board.STAGE_LABELS[key], counts[key]) for key in STAGES],
        stage_labels=supervision_board.STAGE_LABELS, errors=errors or {}, form=form or {},
        days_bounds=_bounds(DecisionIn, "days")))


@router.get("/cockpit/supervisions")
def supervisions(request: Request, user: PageUser, stage: str | None = Query(None, max_length=32),
                 page: str | None = Query(None, max_length=8)):
    return _board(request, user, stage, _page_number(page))


def _bounds(model, name: str) -> tuple[int | None, int | None]:
    """The (ge, le) the API's request model declares for a field: the page checks the same bounds."""
    lo = hi = None
    for m in model.model_fields[name].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def _checked(model, data: dict[str, Any], labels: dict[str, str]):
    """The API's request model applied to the form; its errors in Chinese, each naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            label = labels.get(name) or field_label(name)
            if err["type"] in ("missing", "string_too_short"):
                message = "必填"
            elif name == "days":
                lo, hi = _bounds(model, "days")
                message = f"应为{lo}至{hi}之间的整数"
            elif err["type"] == "string_too_long":
                message = f"不能超过{err['ctx']['max_length']}个字"
            else:
                message = "取值无效"
            errors.append({"field": name, "label": label, "message": message})
        raise ValidationFailed(errors) from None


def _after_post(request: Request, user: User, supervision_id: int, form, perform, notice: str):
    stage = str(form.get("stage") or "")
    try:
        with request.app.state.db.transaction() as s:
            perform(s)
    except (Forbidden, ActionNotAllowed, ValidationFailed) as exc:
        status = 403 if isinstance(exc, Forbidden) else 409 if isinstance(exc, ActionNotAllowed) else 422
        messages = ([f"{e['label']}：{e['message']}" for e in exc.errors] if isinstance(exc, ValidationFailed)
                    else [exc.message])
        return _board(request, user, stage, 1, errors={supervision_id: messages}, status_code=status,
                      form={"id": supervision_id, **{k: str(v) for k, v in form.items() if k != "csrf_token"}})
    back = "/cockpit/supervisions" + (f"?{urlencode({'stage': stage})}" if stage in STAGES else "")
    return redirect(request, back, notice=notice)


@router.post("/cockpit/supervisions/{supervision_id}/decision")
def decide_extension(request: Request, user: PageUser, form: CheckedForm, supervision_id: int):
    """延期审批 by the listing authority: ``supervision.decide_extension``, as POST …/extension/decision."""
    raw_days = str(form.get("days") or "").strip()
    approved = {"true": True, "false": False}.get(str(form.get("approved") or ""))
    data = {"approved": approved, "days": raw_days or None, "opinion": str(form.get("opinion") or "").strip() or None}
    labels = {"approved": "是否同意延期", "days": "批准延期天数", "opinion": "审批意见"}
    now = request.app.state.clock.now()

    def perform(s):
        errors = [] if approved is not None else [
            {"field": "approved", "label": labels["approved"], "message": "请选择同意或不同意"}]
        try:
            body = _checked(DecisionIn, {**data, "approved": bool(approved)}, labels)
        except ValidationFailed as exc:
            errors += exc.errors
        if errors:
            raise ValidationFailed(errors)
        supervision.decide_extension(s, user, supervision_id, body.approved, body.days, body.opinion, now)

    return _after_post(request, user, supervision_id, form, perform,
                       "已同意督办延期" if approved else "已不同意督办延期，督办期限恢复计算")


@router.post("/cockpit/supervisions/{supervision_id}/lift")
def lift(request: Request, user: PageUser, form: CheckedForm, supervision_id: int):
    """摘牌 by the listing authority: ``supervision.lift``, as POST /api/supervisions/{id}/lift."""
    data = {"opinion": str(form.get("opinion") or "").strip()}
    now = request.app.state.clock.now()

    def perform(s):
        body = _checked(LiftIn, data, {"opinion": "核查意见"})
        supervision.lift(s, user, supervision_id, body.opinion, now)

    return _after_post(request, user, supervision_id, form, perform, "已摘牌")


# ---------------------------------------------------------------- escalation log


@router.get("/cockpit/escalations")
def escalations(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                all: str | None = Query(None, max_length=8), page: str | None = Query(None, max_length=8)):
    _staff(user)
    number = _page_number(page)
    everything = all in ("1", "true", "on")
    with request.app.state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        log = stats.escalation_log(s, user, tree.root.code, page=number, page_size=PAGE_SIZE,
                                   rungs=None if everything else stats.MEASURE_RUNGS)
    names = {p.code: p.name for p in tree.chain}
    names.update({c.code: c.name for c in tree.children})
    pages = (log["total"] + PAGE_SIZE - 1) // PAGE_SIZE
    return render(request, "cockpit/escalations.html", user=user, **_ctx(
        request, user, "/cockpit/escalations", tree=tree, chain=_chain(tree, user), log=log, page=number, pages=pages,
        everything=everything, names=names))


# ---------------------------------------------------------------- ranking and trend


def _period(raw_from: str | None, raw_to: str | None, today: date) -> tuple[date, date, list[dict[str, str]]]:
    errors = []
    values = {}
    for name, raw, default, label in (("from", raw_from, date(today.year, 1, 1), "统计起始日期"),
                                      ("to", raw_to, today, "统计截止日期")):
        values[name] = default
        if raw:
            try:
                values[name] = date.fromisoformat(raw.strip())
            except ValueError:
                errors.append({"field": name, "label": label, "message": f"应为日期（YYYY-MM-DD），收到“{raw[:20]}”"})
    if values["from"] > values["to"]:
        errors.append({"field": "to", "label": "统计截止日期", "message": "不能早于统计起始日期"})
        values = {"from": date(today.year, 1, 1), "to": today}
    return values["from"], values["to"], errors


@router.get("/cockpit/performance")
def performance(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                period_from: str | None = Query(None, alias="from", max_length=20),
                period_to: str | None = Query(None, alias="to", max_length=20)):
    _staff(user)
    state = request.app.state
    now, today = state.clock.now(), state.clock.today()
    start, end, errors = _period(period_from, period_to, today)
    with state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        ranking = stats.ranking(s, user, tree, start, end, now, get_calendar(s))
        trend = stats.monthly_trend(s, user, tree.root.code, today, now)
    return render(request, "cockpit/performance.html", user=user, status_code=422 if errors else 200, **_ctx(
        request, user, "/cockpit/performance", tree=tree, chain=_chain(tree, user), ranking=ranking, start=start,
        end=end, errors=errors, trend=trend, chart=_chart(trend)))


def _chart(trend: list[dict[str, Any]]) -> dict[str, Any]:
    """Bar geometry of the 12-month SVG (opened, closed, overdue side by side per month)."""
    width, height, top, bottom = 720, 240, 16, 40
    peak = max([1] + [m[k] for m in trend for k in ("opened", "closed", "overdue")])
    slot = width / max(1, len(trend))
    bar = slot / 4
    usable = height - top - bottom
    months = []
    for i, m in enumerate(trend):
        x0 = i * slot + bar / 2
        bars = []
        for j, key in enumerate(("opened", "closed", "overdue")):
            h = round(usable * m[key] / peak, 1)
            bars.append({"key": key, "x": round(x0 + j * bar, 1), "y": round(top + usable - h, 1), "h": h,
                         "w": round(bar - 2, 1), "n": m[key]})
        months.append({"bars": bars, "label_x": round(i * slot + slot / 2, 1), "month": m})
    return {"width": width, "height": height, "months": months, "base": height - bottom, "peak": peak}


# ---------------------------------------------------------------- early warning (预警)


@router.get("/cockpit/early-warning")
def early_warning_page(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                       days: str | None = Query(None, max_length=4)):
    """Per district: the open cases that turn red, and that climb a measure rung, by 24:00 of the N-th
    working day (cases/reads/early_warning.py); every figure links to its ledger list."""
    from cases.reads import early_warning

    _staff(user)
    n = int(days) if days and days.isascii() and days.isdigit() and 1 <= int(days) <= 60 else 5
    state = request.app.state
    now = state.clock.now()
    with state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        win = early_warning.window(now, n, get_calendar(s))
        figures = early_warning.figures(s, user, tree, now, win)
    labels = early_warning.rung_labels()
    used = [r for r in labels if any(r in row["rungs"] for row in figures["rows"])]
    return render(request, "cockpit/early_warning.html", user=user, **_ctx(
        request, user, "/cockpit/early-warning", tree=tree, chain=_chain(tree, user), figures=figures, win=win,
        days=n, choices=early_warning.DAY_CHOICES, rung_labels=labels, used_rungs=used))


# ---------------------------------------------------------------- enterprise rankings (企业排名)


@router.get("/cockpit/enterprises")
def enterprise_ranking_page(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                            period_from: str | None = Query(None, alias="from", max_length=20),
                            period_to: str | None = Query(None, alias="to", max_length=20)):
    """停工通知书/在建项目 and 信用分 per unit of the subtree (cases/reads/enterprise_ranking.py)."""
    from cases.reads import enterprise_ranking as ranking

    _staff(user)
    state = request.app.state
    today = state.clock.today()
    start, end, errors = _period(period_from, period_to, today)
    with state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        stop_work = ranking.stop_work_ranking(s, tree.root.code, start, end)
        credit = ranking.credit_ranking(s, tree.root.code)
    return render(request, "cockpit/enterprises.html", user=user, status_code=422 if errors else 200, **_ctx(
        request, user, "/cockpit/enterprises", tree=tree, chain=_chain(tree, user), stop_work=stop_work,
        credit=credit, start=start, end=end, errors=errors))


# ---------------------------------------------------------------- repeat offenders (屡查屡犯)


@router.get("/cockpit/repeat-offenders")
def repeat_offenders_page(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12)):
    """Enterprises reaching a repeat-offender pattern, with the proposal and the cases behind it."""
    from cases.ledger.access import subtree_codes
    from cases.reads.repeat_offenders import flagged
    from api.pages.sanctions.patterns import open_flags

    _staff(user)
    state = request.app.state
    now = state.clock.now()
    with state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        items = flagged(s, sorted(s.scalars(subtree_codes(tree.root.code))), now)
        flags = open_flags(s, user, tree.root.code)  # the recorded flags awaiting a decision (cases/patterns/)
    return render(request, "cockpit/repeat_offenders.html", user=user, **_ctx(
        request, user, "/cockpit/repeat-offenders", tree=tree, chain=_chain(tree, user), items=items, **flags))
