"""The accident report for the national platform (issue 12 part 6; cases/reads/accident_platform.py,
docs/patterns.md): per case and for a jurisdiction's subtree over a period, the form's fields in their
order with Chinese labels — JSON, .xlsx, CSV. Whoever reads the case reads its record; the list is
staff-only within their subtree."""
from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import AppClock, CurrentUser, Db
from api.routes.reports.tables import XLSX, csv_bytes, download, xlsx_bytes
from cases.reads import accident_platform as platform

router = APIRouter(prefix="/api", tags=["accident reports (事故信息报送)"])


class Field_(BaseModel):
    key: str
    label: str
    value: Any


class PlatformRecord(BaseModel):
    case_id: int
    fields: list[Field_]


class Column(BaseModel):
    key: str
    label: str


class PlatformList(BaseModel):
    jurisdiction: str
    period_from: str
    period_to: str
    columns: list[Column]
    items: list[dict[str, Any]]


def _period(s, user, clock, jurisdiction, period_from, period_to):
    from api.routes.reports.statistics import staff_subtree_code
    from cases.reads.case_lists import legal_date

    code = staff_subtree_code(s, user, jurisdiction)
    today = clock.today()
    start = legal_date("from", period_from) or today.replace(month=1, day=1)
    end = legal_date("to", period_to) or today
    return code, start, end


_FROM = Query(None, alias="from", description="事故发生日期起（YYYY-MM-DD，默认当年1月1日）")
_TO = Query(None, alias="to", description="事故发生日期止（YYYY-MM-DD，默认今天）")


@router.get("/cases/{case_id}/accident-report/platform", summary="事故信息（全国平台填报格式）：按平台字段顺序，含中文标签",
            response_model=PlatformRecord)
def case_platform_record(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        return platform.platform_record(s, user, case_id, clock.now())


@router.get("/cases/{case_id}/accident-report/platform.xlsx", summary="事故信息（全国平台填报格式）下载 .xlsx")
def case_platform_xlsx(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        record = platform.platform_record(s, user, case_id, clock.now())
    number = next(f["value"] for f in record["fields"] if f["key"] == "case_number")
    data = xlsx_bytes("事故信息", ["全国房屋市政工程生产安全事故信息报送"], ["字段", "内容"],
                      [(f["label"], f["value"]) for f in record["fields"]])
    return download(data, f"事故信息报送-{number}.xlsx", f"accident-{case_id}.xlsx", XLSX)


def _list(db, user, clock, jurisdiction, period_from, period_to):
    with db.session() as s:
        code, start, end = _period(s, user, clock, jurisdiction, period_from, period_to)
        items = platform.platform_records(s, user, code, start, end, clock.now())
    return code, start, end, items


@router.get("/reports/accident-platform", summary="事故信息报送清单（全国平台填报格式，按辖区和期间）",
            response_model=PlatformList)
def platform_list(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: Optional[str] = Query(None, max_length=12),
                  period_from: Optional[str] = _FROM, period_to: Optional[str] = _TO):
    code, start, end, items = _list(db, user, clock, jurisdiction, period_from, period_to)
    return {"jurisdiction": code, "period_from": start.isoformat(), "period_to": end.isoformat(),
            "columns": [{"key": k, "label": label} for k, label in platform.FIELDS], "items": items}


def _table(code, start, end, items):
    title = [f"全国房屋市政工程生产安全事故信息报送清单（{code}）",
             f"事故发生期间：{start.year}年{start.month}月{start.day}日至{end.year}年{end.month}月{end.day}日，共{len(items)}起"]
    return title, [label for _, label in platform.FIELDS], [[r[k] for k, _ in platform.FIELDS] for r in items]


@router.get("/reports/accident-platform.xlsx", summary="事故信息报送清单下载 .xlsx")
def platform_list_xlsx(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: Optional[str] = Query(None, max_length=12),
                       period_from: Optional[str] = _FROM, period_to: Optional[str] = _TO):
    code, start, end, items = _list(db, user, clock, jurisdiction, period_from, period_to)
    title, headers, rows = _table(code, start, end, items)
    return download(xlsx_bytes("事故信息报送", title, headers, rows),
                    f"事故信息报送-{code}-{start:%Y%m%d}-{end:%Y%m%d}.xlsx", f"accidents-{code}.xlsx", XLSX)


@router.get("/reports/accident-platform.csv", summary="事故信息报送清单下载 CSV")
def platform_list_csv(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: Optional[str] = Query(None, max_length=12),
                      period_from: Optional[str] = _FROM, period_to: Optional[str] = _TO):
    code, start, end, items = _list(db, user, clock, jurisdiction, period_from, period_to)
    title, headers, rows = _table(code, start, end, items)
    return download(csv_bytes(title, headers, rows), f"事故信息报送-{code}-{start:%Y%m%d}-{end:%Y%m%d}.csv",
                    f"accidents-{code}.csv", "text/csv; charset=utf-8")
