"""企业排名公示: the public page of a city's latest published ranking (no login) with its .xlsx and CSV,
and the staff page that publishes it (``/cockpit/enterprises/publish``) — the same services as
``/api/public/enterprise-ranking`` and ``POST /api/enterprise-rankings/publications``."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, redirect, render
from api.routes.reports.rankings import publish_ranking
from api.routes.reports.tables import XLSX, csv_bytes, download, xlsx_bytes
from cases.platform.clock import SHANGHAI
from cases.platform.errors import Forbidden, NotFound, ValidationFailed
from cases.rankings import publish as publication

router = APIRouter(include_in_schema=False)

STOP_HEADERS = ("名次", "企业名称", "统一社会信用代码", "责令停工通知书（份）", "在建项目（个）", "停工通知书/在建项目")
CREDIT_HEADERS = ("名次", "企业名称", "统一社会信用代码", "信用分")


def _cn(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _latest(request: Request, city: str | None):
    with request.app.state.db.session() as s:
        return publication.latest(s, city)


@router.get("/public/enterprise-ranking")
def public_page(request: Request, city: str | None = Query(None, max_length=12)):
    try:
        pub = _latest(request, city)
    except ValidationFailed as exc:
        return render(request, "reports/public_ranking.html", status_code=422, title="企业排名公示", pub=None,
                      error=exc.errors[0]["message"], city=city or "")
    return render(request, "reports/public_ranking.html", title="企业排名公示", pub=pub, error=None, city=city or "")


def _rows(pub):
    stop = [(r["rank"], r["name"], r["credit_code"], r["orders"], r["active_projects"],
             "—" if r["ratio"] is None else r["ratio"]) for r in pub["stop_work"]]
    credit = [(r["rank"], r["name"], r["credit_code"], r["credit_score"]) for r in pub["credit"]]
    title = [f"{pub['city_name']}企业排名公示", f"发布机关：{pub['authority_name']}　发布日期：{_cn(pub['published_at'].astimezone(SHANGHAI).date())}",
             f"统计期间：{_cn(pub['period_from'])}至{_cn(pub['period_to'])}"]
    return title, stop, credit


def _export(request: Request, city: str | None, ext: str):
    pub = _latest(request, city)
    if pub is None:
        raise NotFound("该设区市尚未发布企业排名")
    title, stop, credit = _rows(pub)
    name = f"企业排名公示-{pub['city_code']}-{pub['published_at'].astimezone(SHANGHAI):%Y%m%d}.{ext}"
    ascii_name = f"enterprise-ranking-{pub['city_code']}.{ext}"
    if ext == "xlsx":
        import io

        import xlsxwriter

        # two sheets in one book: written by tables.xlsx_bytes one at a time, so compose here
        from api.routes.reports import tables

        buf = io.BytesIO()
        book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
        bold = book.add_format({"bold": True})
        for sheet, headers, rows in (("停工通知书与在建项目之比", STOP_HEADERS, stop), ("信用分", CREDIT_HEADERS, credit)):
            ws = book.add_worksheet(sheet)
            for r, line in enumerate(title):
                ws.write_string(r, 0, line, bold)
            base = len(title) + 1
            for c, h in enumerate(headers):
                ws.write_string(base, c, h, bold)
                ws.set_column(c, c, max(8, len(h) * 2 + 2))
            for r, row in enumerate(rows, base + 1):
                for c, v in enumerate(row):
                    v = tables._cell(v)
                    ws.write_number(r, c, v) if isinstance(v, (int, float)) else ws.write_string(r, c, v)
        book.close()
        return download(buf.getvalue(), name, ascii_name, XLSX)
    data = csv_bytes(title + ["一、责令停工通知书与在建项目之比"], STOP_HEADERS, stop)
    data += csv_bytes(["", "二、信用分"], CREDIT_HEADERS, credit)[3:]  # one file, the BOM once
    return download(data, name, ascii_name, "text/csv; charset=utf-8")


@router.get("/public/enterprise-ranking.xlsx")
def public_xlsx(request: Request, city: str | None = Query(None, max_length=12)):
    return _export(request, city, "xlsx")


@router.get("/public/enterprise-ranking.csv")
def public_csv(request: Request, city: str | None = Query(None, max_length=12)):
    return _export(request, city, "csv")


def _publish_page(request: Request, user, city: str | None, *, errors=None, values=None, status_code=200):
    code = publication.city_code(city or user.jurisdiction_code)
    with request.app.state.db.session() as s:
        try:
            items = publication.history(s, user, code)
        except ValidationFailed:
            items = []
    return render(request, "reports/publish_ranking.html", user=user, status_code=status_code, items=items,
                  city=code or "", errors=errors or {}, values=values or {}, can_publish=user.role == "supervisor")


@router.get("/cockpit/enterprises/publish")
def publish_page(request: Request, user: PageUser, city: str | None = Query(None, max_length=12)):
    from cases.ledger.access import STAFF_ROLES, require_role

    require_role(user, *STAFF_ROLES)
    return _publish_page(request, user, city)


@router.post("/cockpit/enterprises/publish")
def publish_submit(request: Request, user: PageUser, form: CheckedForm):
    values = {k: str(form.get(k) or "") for k in ("city", "from", "to")}
    try:
        with request.app.state.db.transaction() as s:
            pub = publish_ranking(s, user, {k: v or None for k, v in values.items()}, request.app.state.clock)
    except ValidationFailed as exc:
        return _publish_page(request, user, values["city"], errors={e["field"]: e["message"] for e in exc.errors},
                             values=values, status_code=422)
    except (Forbidden, NotFound) as exc:
        return redirect(request, "/cockpit/enterprises/publish", f"未发布：{exc}")
    return redirect(request, f"/public/enterprise-ranking?city={pub['city_code']}", "已发布企业排名")
