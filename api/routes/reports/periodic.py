"""Periodic reports (定期报表, cases/reports/, docs/reports.md): the figures of a period as of a
cut-off, a jurisdiction's submission (a frozen, numbered version), its re-run with the events
recorded after its cut-off, the city's board of its districts, and the .xlsx / PDF exports.
Staff within the jurisdiction's subtree; a jurisdiction submits only its own; enterprises 403."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api import responses
from api.deps import AppClock, CurrentUser, Db
from cases.models import Jurisdiction, ReportSubmission, User
from cases.platform.errors import ValidationFailed
from cases.reports import export, services

router = APIRouter(prefix="/api/reports/periodic", tags=["periodic reports (定期报表)"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

JURISDICTION = Query(..., max_length=12, description="辖区代码（区县报本级；市级汇总其下辖区）")
KIND = Query(..., max_length=8, description="报告周期：month 月报 / quarter 季报 / half 半年报 / year 年报")
PERIOD = Query(..., max_length=8, description="报告期：2026-03 / 2026-Q1 / 2026-H1 / 2026")
CUTOFF = Query(None, max_length=40, description="统计截止时点（ISO 8601，缺省为当前时间）：按此时点前已记录的事件计算")


class SubmitIn(BaseModel):
    jurisdiction: str = Field(max_length=12, description="报送辖区（只能是本人所属辖区）")
    period_kind: str = Field(max_length=8, description="month / quarter / half / year")
    period: str = Field(max_length=8, description="2026-03 / 2026-Q1 / 2026-H1 / 2026")
    note: Optional[str] = Field(None, max_length=2000, description="更正说明（重新报送时必填）")


class Report(BaseModel):
    """Figures per row (the children and the root's own level) and their total; ``cutoff``: the
    instant the figures are as of; ``deadline``: the reporting deadline of the period (policy data)."""

    jurisdiction: dict[str, Any]
    period: dict[str, Any]
    cutoff: str
    definitions_version: int
    policy_version: int
    deadline: str
    rows: list[dict[str, Any]]
    total: dict[str, Any]


class Submission(BaseModel):
    id: int
    jurisdiction_code: str
    period_kind: str
    period_key: str
    period_label: str
    version: int
    doc_number: str = Field(description="文号, e.g. 姑苏建质报〔2026〕3号")
    cutoff_at: str
    submitted_at: str
    submitted_by_id: int
    submitted_by: Optional[str] = None
    deadline: str
    deadline_label: str
    late: bool
    late_days: int
    note: Optional[str] = None
    policy_version: int
    definitions_version: int
    figures: Optional[dict[str, Any]] = Field(None, description="the frozen report (the Report shape)")


class SubmissionList(BaseModel):
    items: list[Submission]


def _cutoff(value: Optional[str]) -> Optional[datetime]:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise ValidationFailed([{"field": "cutoff", "label": "统计截止时点",
                                 "message": "应为带时区的 ISO 8601 时间，例如 2026-04-01T00:00:00+08:00"}])
    return t


def _names(s, subs) -> dict[int, str]:
    ids = {x.submitted_by_id for x in subs}
    return {u.id: u.display_name for u in (s.get(User, i) for i in ids) if u}


@router.get("", summary="定期报表：按统计截止时点计算（可重算历史报告期）", response_model=Report)
def compute(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str = JURISDICTION, period_kind: str = KIND,
            period: str = PERIOD, cutoff: Optional[str] = CUTOFF):
    with db.session() as s:
        rep = services.report(s, user, jurisdiction.strip(), period_kind, period, cutoff=_cutoff(cutoff), now=clock.now())
    return responses.fast_json(services.public(rep))


@router.post("/submissions", status_code=201, summary="报送定期报表（冻结当前数据，生成文号；再次报送为更正版本）",
             response_model=Submission)
def submit(body: SubmitIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        sub = services.submit(s, user, body.jurisdiction.strip(), body.period_kind, body.period, now=clock.now(),
                              note=body.note)
        out = services.submission_json(sub, _names(s, [sub]))
    return responses.fast_json(out, status_code=201)


@router.get("/submissions", summary="本辖区的报送记录（各版本）", response_model=SubmissionList)
def list_submissions(user: CurrentUser, db: Db, jurisdiction: str = JURISDICTION,
                     period_kind: Optional[str] = Query(None, max_length=8, description="报告周期（与报告期同时给出）"),
                     period: Optional[str] = Query(None, max_length=8, description="报告期")):
    with db.session() as s:
        subs = services.submissions(s, user, jurisdiction.strip(), period_kind, period)
        names = _names(s, subs)
        items = [services.submission_json(x, names, figures=False) for x in subs]
    return responses.fast_json({"items": items})


@router.get("/submissions/{submission_id:int}", summary="一份已报送的报表（冻结的数据）", response_model=Submission)
def get_submission(submission_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        sub = services.get_submission(s, user, submission_id)
        out = services.submission_json(sub, _names(s, [sub]))
    return responses.fast_json(out)


@router.get("/submissions/{submission_id}/rerun",
            summary="重算已报送的报表：按原截止时点重算应与报送数据一致；与当前数据的差异及截止时点后记录的事件")
def rerun(submission_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        out = services.rerun(s, user, submission_id, now=clock.now())
    return responses.fast_json(out)


@router.get("/overview", summary="市级汇总：各下级辖区的报送情况（已报、未报、迟报天数）与汇总核对")
def overview(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str = JURISDICTION, period_kind: str = KIND,
             period: str = PERIOD):
    with db.session() as s:
        out = services.overview(s, user, jurisdiction.strip(), period_kind, period, now=clock.now())
    return responses.fast_json(out)


def _file(data: bytes, media: str, name: str, ascii_name: str) -> Response:
    return Response(content=data, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


def report_file(s, user: User, rep: dict[str, Any], sub: Optional[ReportSubmission], fmt: str) -> Response:
    """The .xlsx or PDF of a report (a submission's frozen one when ``sub``); shared with the pages."""
    sub_json = services.submission_json(sub, figures=False) if sub else None
    j = s.get(Jurisdiction, rep["jurisdiction"]["code"])
    stem = f"{rep['jurisdiction']['name']}{rep['period']['label']}统计报表" + (f"（第{sub.version}版）" if sub else "")
    ascii_stem = f"report-{rep['jurisdiction']['code']}-{rep['period']['key']}" + (f"-v{sub.version}" if sub else "")
    if fmt == "xlsx":
        return _file(export.xlsx_bytes(rep, sub_json), XLSX, stem + ".xlsx", ascii_stem + ".xlsx")
    from notifications.documents.periodic_report import render_report

    _, pdf = render_report(rep, sub_json, authority=j.authority_name if j else "")
    return _file(pdf, "application/pdf", stem + ".pdf", ascii_stem + ".pdf")


@router.get("/export.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}}, summary="导出定期报表（.xlsx，按统计截止时点）")
def export_xlsx(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str = JURISDICTION, period_kind: str = KIND,
                period: str = PERIOD, cutoff: Optional[str] = CUTOFF):
    with db.session() as s:
        rep = services.report(s, user, jurisdiction.strip(), period_kind, period, cutoff=_cutoff(cutoff), now=clock.now())
        return report_file(s, user, rep, None, "xlsx")


@router.get("/export.pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}}, summary="导出定期报表（PDF，按统计截止时点）")
def export_pdf(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str = JURISDICTION, period_kind: str = KIND,
               period: str = PERIOD, cutoff: Optional[str] = CUTOFF):
    with db.session() as s:
        rep = services.report(s, user, jurisdiction.strip(), period_kind, period, cutoff=_cutoff(cutoff), now=clock.now())
        return report_file(s, user, rep, None, "pdf")


@router.get("/submissions/{submission_id}.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}}}, summary="导出已报送的报表（.xlsx，冻结的数据与文号）")
def submission_xlsx(submission_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        sub = services.get_submission(s, user, submission_id)
        return report_file(s, user, sub.figures, sub, "xlsx")


@router.get("/submissions/{submission_id}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}}, summary="导出已报送的报表（PDF，冻结的数据与文号）")
def submission_pdf(submission_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        sub = services.get_submission(s, user, submission_id)
        return report_file(s, user, sub.figures, sub, "pdf")
