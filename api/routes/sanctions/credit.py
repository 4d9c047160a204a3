"""Credit records (不良行为记录), appeals and decisions, the blacklist / exposure lists, and the
public exposure list with its export (cases/credit/, docs/credit.md). The pages
(api/pages/sanctions/credit.py) call the same functions."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Optional
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api import responses
from api.deps import AppClock, CurrentUser, Db
from cases.clocks.legal_time import shanghai_date
from cases.credit import export, reads, services

router = APIRouter(prefix="/api", tags=["credit (不良行为记录、黑名单、曝光)"])


class Ref(BaseModel):
    id: int
    number: Optional[str] = None
    title: Optional[str] = None


class RecordEvent(BaseModel):
    action: str = Field(description="recorded / appealed / upheld / corrected / withdrawn / regraded / expired")
    action_label: str
    at: datetime
    actor: Optional[dict[str, Any]] = Field(None, description="who (None: the system)")
    reason: Optional[str] = None
    points_before: Optional[int] = None
    points_after: Optional[int] = None


class CreditRecordOut(BaseModel):
    """One 不良行为记录: its cause, the case and document behind it, the item and points of the
    deduction table version it was computed under, its validity and its trail."""

    id: int
    enterprise_id: int
    cause: str = Field(description="major_hazard / accident_<grade> / overdue_rectification / interview / "
                                   "refused_stop_work / late_report / commitment_missed")
    cause_label: str
    item_code: str
    item_label: str
    table_version: int = Field(description="the deduction table (credit-vN.yaml) it was computed under")
    points: int
    original_points: int
    summary: str
    case: Optional[Ref] = None
    document: Optional[Ref] = None
    authority_code: str
    authority_name: str
    recorded_at: datetime
    valid_from: date
    valid_until: date = Field(description="in force until the day before (Beijing)")
    status: Literal["active", "appealed", "withdrawn", "expired"]
    status_label: str
    in_force: bool
    events: list[RecordEvent]


class ListingOut(BaseModel):
    id: int
    list: Literal["blacklist", "exposure"]
    list_label: str
    enterprise: dict[str, Any]
    score: int
    table_version: int
    reason: str
    authority_code: str
    authority_name: str
    listed_at: datetime
    listed_on: date
    until: date = Field(description="the period ends; lifted by the sweep once the score is above the threshold")
    active: bool
    lifted_at: Optional[datetime] = None
    lifted_reason: Optional[str] = None


class EnterpriseCreditOut(BaseModel):
    enterprise: dict[str, Any]
    score: int = Field(description="base − points of the records in force today (derived, never edited)")
    base_score: int
    table_version: int
    thresholds: list[dict[str, Any]]
    records: list[CreditRecordOut]
    listings: list[ListingOut]


class ListingsOut(BaseModel):
    items: list[ListingOut]


class PublicExposureItem(BaseModel):
    enterprise_name: str
    credit_code: str
    causes: str
    score: int
    listed_on: date
    until: date
    authority_name: str


class PublicExposureOut(BaseModel):
    items: list[PublicExposureItem]
    as_of: date


class AppealIn(BaseModel):
    reason: str = Field(max_length=2000, description="申诉理由（必填）")


class DecisionIn(BaseModel):
    outcome: Literal["upheld", "corrected", "withdrawn"] = Field(description="upheld 维持 / corrected 更正 / withdrawn 撤销")
    reason: str = Field(max_length=2000, description="处理理由（必填）")
    points: Optional[int] = Field(None, ge=0, le=1000, description="更正后分值（更正时必填，低于原分值）")


class ManualIn(BaseModel):
    case_id: int = Field(ge=1, le=2**31 - 1, description="案件")
    cause: Literal["refused_stop_work"] = Field(description="refused_stop_work 拒不执行停工指令")
    facts: str = Field(max_length=2000, description="事实经过（必填）")


def _one(s, record, now) -> dict[str, Any]:
    return reads.records_out(s, [record], shanghai_date(now))[0]


@router.get("/enterprises/{enterprise_id}/credit", summary="企业信用：信用分（由在效记录计算）、不良行为记录及处理经过、黑名单和曝光记录",
            response_model=EnterpriseCreditOut)
def get_enterprise_credit(enterprise_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        body = reads.enterprise_credit(s, user, enterprise_id, clock.now())
    return responses.fast_json(body)


@router.post("/credit-records", status_code=201, summary="登记不良行为（无案件动作对应的事由，如拒不执行停工指令；须关联案件）",
             response_model=CreditRecordOut)
def post_credit_record(body: ManualIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        record = services.record_manual(s, user, case_id=body.case_id, cause=body.cause, facts=body.facts, now=now)
        out = _one(s, record, now)
    return responses.fast_json(out, status_code=201)


@router.post("/credit-records/{record_id}/appeal", summary="企业申诉不良行为记录（本企业联系人，说明理由）",
             response_model=CreditRecordOut)
def post_appeal(record_id: int, body: AppealIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        record = services.appeal(s, user, record_id, body.reason, now)
        out = _one(s, record, now)
    return responses.fast_json(out)


@router.post("/credit-records/{record_id}/decision", summary="处理申诉（作出记录的机关）：维持、更正分值或撤销",
             response_model=CreditRecordOut)
def post_decision(record_id: int, body: DecisionIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        record = services.decide(s, user, record_id, body.outcome, body.reason, now, points=body.points)
        out = _one(s, record, now)
    return responses.fast_json(out)


@router.get("/credit-listings", summary="黑名单、曝光名单（本辖区及下级登记的企业；默认仅当前在列）", response_model=ListingsOut)
def get_listings(user: CurrentUser, db: Db,
                 list: Optional[Literal["blacklist", "exposure"]] = Query(None, description="blacklist 黑名单 / exposure 曝光"),
                 active: bool = Query(True, description="false: 含已移出的历史记录")):
    with db.session() as s:
        items = reads.staff_listings(s, user, list, active=active)
    return responses.fast_json({"items": items})


@router.get("/public/exposure", summary="曝光名单（无需登录）：当前曝光的企业、不良行为、日期和作出机关", response_model=PublicExposureOut)
def get_public_exposure(db: Db, clock: AppClock):
    now = clock.now()
    with db.session() as s:
        items = reads.public_exposure(s, now)
    return responses.fast_json({"items": items, "as_of": shanghai_date(now)})


def export_response(db, now: datetime, ext: str) -> Response:
    with db.session() as s:
        items = reads.public_exposure(s, now)
    today = shanghai_date(now).strftime("%Y%m%d")
    name = f"曝光名单-{today}.{ext}"
    headers = {"Content-Disposition": f"attachment; filename=\"exposure-{today}.{ext}\"; filename*=UTF-8''{quote(name)}",
               "Cache-Control": "no-store"}
    if ext == "xlsx":
        return Response(export.xlsx_bytes(items), headers=headers,
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(export.csv_bytes(items), headers=headers, media_type="text/csv; charset=utf-8")


@router.get("/public/exposure/export.xlsx", summary="曝光名单导出 .xlsx（无需登录）",
            response_class=Response, responses={200: {"content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def get_public_exposure_xlsx(db: Db, clock: AppClock):
    return export_response(db, clock.now(), "xlsx")


@router.get("/public/exposure/export.csv", summary="曝光名单导出 CSV（UTF-8，带BOM；无需登录）",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def get_public_exposure_csv(db: Db, clock: AppClock):
    return export_response(db, clock.now(), "csv")
