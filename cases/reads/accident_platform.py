"""The accident report as the national platform's form wants it (issue 12 part 6): the fields of the
全国房屋市政工程生产安全事故信息报送 form in their order, each with its Chinese label and the value as a
clerk keys it (dates in Beijing time, the loss in 万元, 是/否 for the 迟报 flag) — per case
(:func:`platform_record`) and for a jurisdiction's subtree over a period (:func:`platform_records`).
Read from :func:`cases.reads.accident_report.accident_report` (the same facts and clocks as the
报送表 page), so the two never disagree. Writers: JSON (the API) and .xlsx/CSV (api/routes/reports/)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, lazyload

from cases.ledger.access import subtree_codes, visible_cases_clause
from cases.models import Case, User
from cases.platform.clock import SHANGHAI
from cases.reads.accident_report import accident_report, accident_reports
from cases.reads.case_lists import day_start

# (key, label) in the platform form's order.
FIELDS: tuple[tuple[str, str], ...] = (
    ("case_number", "案件编号"),
    ("unit_name", "事故发生单位"),
    ("unit_credit_code", "统一社会信用代码"),
    ("occurred_at", "事故发生时间"),
    ("location", "事故发生地点"),
    ("project_name", "工程名称"),
    ("project_address", "工程地址"),
    ("builder", "建设单位"),
    ("contractor", "施工单位"),
    ("supervisor", "监理单位"),
    ("accident_type", "事故类别"),
    ("grade", "事故等级"),
    ("deaths", "死亡人数"),
    ("serious_injuries", "重伤人数"),
    ("minor_injuries", "轻伤人数"),
    ("direct_loss", "直接经济损失（万元）"),
    ("brief", "事故简要经过"),
    ("reporting_authority", "报告单位"),
    ("flash_reported_at", "快报报告时间"),
    ("flash_status", "快报情况"),
    ("detailed_reported_at", "详细报告时间"),
    ("detailed_status", "详细报告情况"),
    ("late", "迟报"),
    ("missing", "漏报"),
)
LABELS = dict(FIELDS)


def cn_instant(value: Any) -> str:
    """2026年11月23日 14时30分 (Beijing) for an aware datetime or its ISO text; '' for none."""
    if value in (None, ""):
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        return str(value)
    at = at.astimezone(SHANGHAI)
    return f"{at.year}年{at.month}月{at.day}日 {at.hour:02d}时{at.minute:02d}分"


def wan_yuan(value: Any) -> str:
    """A loss in yuan as 万元 with up to four decimals, as the form takes it ('' if unknown)."""
    if value in (None, ""):
        return ""
    amount = (Decimal(str(value)) / Decimal(10000)).quantize(Decimal("0.0001"))
    text = format(amount.normalize(), "f")
    return text


def flatten(report: dict[str, Any]) -> dict[str, Any]:
    """The report of :func:`accident_report` as the form's values, keyed by FIELDS."""
    parties = {p["role"]: "、".join(p["names"]) for p in report["parties"]}
    clocks = {r["key"]: r for r in report["reporting"]}
    flash, detailed = clocks.get("report_up"), clocks.get("detailed_report")
    unit, project = report.get("unit") or {}, report.get("project") or {}
    return {
        "case_number": report["case_number"], "unit_name": unit.get("name", ""),
        "unit_credit_code": unit.get("credit_code", ""), "occurred_at": cn_instant(report.get("occurred_at")),
        "location": report.get("location") or "", "project_name": project.get("name", ""),
        "project_address": project.get("address") or "", "builder": parties.get("builder", ""),
        "contractor": parties.get("contractor", ""), "supervisor": parties.get("supervisor", ""),
        "accident_type": report.get("accident_type_label") or report.get("accident_type") or "",
        "grade": report.get("grade_label") or "待定级",
        "deaths": report.get("deaths") or 0, "serious_injuries": report.get("serious_injuries") or 0,
        "minor_injuries": report.get("minor_injuries") or 0, "direct_loss": wan_yuan(report.get("direct_loss")),
        "brief": report.get("brief") or "", "reporting_authority": report["reporting_authority"],
        "flash_reported_at": cn_instant(flash["done_at"]) if flash else "",
        "flash_status": flash["status_label"] if flash else "",
        "detailed_reported_at": cn_instant(detailed["done_at"]) if detailed else "",
        "detailed_status": detailed["status_label"] if detailed else "",
        "late": "是" if any(r["status"] == "late" for r in report["reporting"]) else "否",
        "missing": "是" if any(r["status"] == "missed" for r in report["reporting"]) else "否",
    }


def as_fields(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "label": label, "value": values[k]} for k, label in FIELDS]


def platform_record(session: Session, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    """One accident: {case_id, fields: [{key, label, value}] in the form's order} (404/409 as the 报送表)."""
    return {"case_id": case_id, "fields": as_fields(flatten(accident_report(session, user, case_id, now)))}


def platform_records(session: Session, user: User, root_code: str, start: date, end: date,
                     now: datetime) -> list[dict[str, Any]]:
    """The accidents of ``root_code``'s subtree (now there, or reported there before 提级) that
    occurred between ``start`` and ``end`` (Beijing dates, both included), by time of occurrence.
    An accident's found_at is never before it occurred, so the query narrows on found_at and the
    occurrence decides."""
    codes = subtree_codes(root_code)
    cases = list(session.scalars(select(Case).where(
        Case.kind == "accident", Case.found_at >= day_start(start),
        or_(Case.jurisdiction_code.in_(codes), Case.origin_jurisdiction_code.in_(codes)),
        visible_cases_clause(user)).options(lazyload(Case.related)).order_by(Case.id)))
    out = []
    for case_id, report in accident_reports(session, cases, now).items():
        occurred = report.get("occurred_at")
        at = datetime.fromisoformat(occurred) if isinstance(occurred, str) else occurred
        if at is None or not (day_start(start) <= at < day_start(end + timedelta(days=1))):
            continue
        out.append((at, {"case_id": case_id, **flatten(report)}))
    out.sort(key=lambda r: (r[0], r[1]["case_id"]))
    return [r for _, r in out]
