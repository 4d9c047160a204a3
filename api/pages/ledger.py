"""The ledger page (台账, ``/ledger``): every filter of ``GET /api/cases`` plus the three date ranges,
a paginated table, and the two exports of exactly that selection — ``/ledger/export.xlsx`` and
``/ledger/export.csv``, the API's export code (api/exports.py) behind the session cookie."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from urllib.parse import urlencode

from api import exports
from api.pages.common import PageUser, render
from api.serialize import case_summaries
from cases.reads import case_lists
from cases.ledger.access import STAFF_ROLES, subtree_codes
from cases.reads.case_lists import due_date_of
from cases.ledger.labels import SORT_LABELS, field_label, options_of
from cases.ledger.validation import MAX_INT
from cases.models import Enterprise, Jurisdiction, User
from cases.platform.errors import ValidationFailed

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# The page counts the matching cases up to this many and says "超过10,000件" beyond (an exact count
# of every case of a province is a full read of the table: docs/performance.md "Pages at 1 M cases").
COUNT_LIMIT = 10_000
TEXT_PARAMS = ("kind", "state", "jurisdiction", "light", "q", "found_from", "found_to", "due_from", "due_to",
               "closed_from", "closed_to", "enterprise_id", "assignee", "sort", "rectification_due_from",
               "rectification_due_to", "rectified_on_time", "overdue_month", "moved_up", "campaign_id",
               "red_by", "measure_by", "measure_rung")
# The cockpit's links (api/pages/cockpit.py) carry these; the form keeps them as hidden fields.
COCKPIT_PARAMS = ("rectification_due_from", "rectification_due_to", "rectified_on_time", "overdue_month", "moved_up",
                  "red_by", "measure_by", "measure_rung")
DATE_RANGES = (("found", "发现日期"), ("due", "整改期限"), ("closed", "结案日期"))
SORTS = {"-created_at": "登记时间（新→旧）", "created_at": "登记时间（旧→新）", "-found_at": "发现时间（新→旧）",
         "found_at": "发现时间（旧→新）", "number": "案件编号", "-updated_at": "最近更新"}


def _form(request: Request) -> dict[str, str]:
    """What the GET form sent: blank fields are no filter (a form sends every field)."""
    params = request.query_params
    values = {name: (params.get(name) or "").strip()[:100] for name in TEXT_PARAMS}
    values["open_only"] = "1" if params.get("open_only") in ("1", "true", "on") else ""
    values["jurisdiction_only"] = "1" if params.get("jurisdiction_only") in ("1", "true", "on") else ""
    return values


def _filters(form: dict[str, str], user: User, db) -> tuple[dict[str, Any], str]:
    """The form's values as ``case_query`` filters and the sort; a bad value is a 422 naming it."""
    errors = []
    enterprise_id = None
    if form["enterprise_id"]:
        raw = form["enterprise_id"]
        if raw.isascii() and raw.isdigit() and int(raw) <= MAX_INT:
            enterprise_id = int(raw)
        else:  # a name typed or chosen without JavaScript: the picker's own resolution (visible units only)
            from api.pages.cases.pickers import resolve

            with db.session() as s:
                found, problem = resolve(s, user, "enterprises", raw)
            if problem is None:
                enterprise_id = found
            else:
                errors.append({"field": "enterprise_id", "label": "责任单位", "message": problem})
    assignee_id = None
    if form["assignee"] == "me":
        assignee_id = user.id
    elif form["assignee"]:
        errors.append({"field": "assignee", "label": field_label("assignee"), "message": "只能选择“我承办的”"})
    if errors:
        raise ValidationFailed(errors)
    filters = dict(kind=form["kind"] or None, state=form["state"] or None, jurisdiction=form["jurisdiction"] or None,
                   light=form["light"] or None, text=form["q"] or None, enterprise_id=enterprise_id,
                   assignee_id=assignee_id, open_only=bool(form["open_only"]),
                   jurisdiction_only=bool(form["jurisdiction_only"] and form["jurisdiction"]),
                   campaign_id=form["campaign_id"] or None,
                   **{name: form[name] or None for name in COCKPIT_PARAMS},
                   **{f"{key}_{end}": form[f"{key}_{end}"] or None for key, _ in DATE_RANGES for end in ("from", "to")})
    return filters, form["sort"] or "-created_at"


def _choices(request: Request, user: User) -> dict[str, Any]:
    """The selects' options: kinds and states (labels from the machine data), lights, the
    jurisdictions of the user's subtree, and for a staff user whose subtree has few, the enterprises."""
    out: dict[str, Any] = {"kinds": options_of("kind"), "states": options_of("state"), "lights": options_of("light"),
                           "sorts": SORTS, "jurisdictions": [], "staff": user.role in STAFF_ROLES, "campaigns": []}
    if user.role in STAFF_ROLES:
        from cases.campaigns.services import list_campaigns

        with request.app.state.db.session() as s:
            out["campaigns"] = [(c.id, c.name) for c in list_campaigns(s, user)]
            out["jurisdictions"] = s.execute(
                select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level)
                .where(Jurisdiction.code.in_(subtree_codes(user.jurisdiction_code)))
                .order_by(Jurisdiction.path).limit(400)).all()
    return out


def _cockpit_filters(form: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, value, Chinese text) of the cockpit's filters in the query: kept as hidden fields."""
    out = []
    for name in COCKPIT_PARAMS:
        value = form[name]
        if value:
            shown = {"true": "是", "false": "否"}.get(value, value) if name in ("rectified_on_time", "moved_up") else value
            if name == "measure_rung":
                from cases.reads.early_warning import rung_labels

                shown = rung_labels().get(value, value)
            out.append((name, value, f"{field_label(name)}：{shown}"))
    return out


def _export_query(request: Request) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v != ""]
    return urlencode(params)


@router.get("/ledger")
def ledger_page(request: Request, user: PageUser):
    form = _form(request)
    page_raw = request.query_params.get("page") or "1"
    page = int(page_raw) if page_raw.isascii() and page_raw.isdigit() and 0 < int(page_raw) <= 100_000 else 1
    ctx: dict[str, Any] = {"form": form, "rows": [], "total": 0, "capped": False, "page": page, "pages": 0, "errors": [],
                           "export_query": _export_query(request), "enterprise_name": None,
                           "date_ranges": DATE_RANGES, "cockpit_filters": _cockpit_filters(form),
                           **_choices(request, user)}
    status = 200
    try:
        filters, sort = _filters(form, user, request.app.state.db)
        with request.app.state.db.session() as s:
            result = case_lists.list_cases(s, user, sort=sort, page=page, page_size=PAGE_SIZE,
                                           count_limit=COUNT_LIMIT, **filters)
            summaries = case_summaries(s, result.items)
            ctx["rows"] = [{**summary, "due_date": due_date_of(case.clock_due_at) if case.closed_at is None else None}
                           for case, summary in zip(result.items, summaries)]
            if filters["enterprise_id"] is not None:
                ctx["enterprise_name"] = s.scalar(select(Enterprise.name).where(Enterprise.id == filters["enterprise_id"]))
        ctx["total"] = result.total
        ctx["capped"] = result.capped
        ctx["pages"] = (result.total + PAGE_SIZE - 1) // PAGE_SIZE
        if result.capped:  # the last page is unknown: go on while the page is full
            ctx["pages"] = max(ctx["pages"], page + 1) if len(result.items) == PAGE_SIZE else page
    except ValidationFailed as exc:  # shown next to the form, which keeps what was typed
        ctx["errors"] = exc.errors
        status = 422
    return render(request, "ledger.html", user=user, status_code=status, **ctx)


@router.get("/ledger/export.xlsx")
def ledger_xlsx(request: Request, user: PageUser):
    filters, sort = _filters(_form(request), user, request.app.state.db)
    clock = request.app.state.clock
    return exports.xlsx_response(request.app.state.db, user, now=clock.now(), today=clock.today(), sort=sort,
                                 filters=filters)


@router.get("/ledger/export.csv")
def ledger_csv(request: Request, user: PageUser):
    filters, sort = _filters(_form(request), user, request.app.state.db)
    clock = request.app.state.clock
    return exports.csv_response(request.app.state.db, user, now=clock.now(), today=clock.today(), sort=sort,
                                filters=filters)
