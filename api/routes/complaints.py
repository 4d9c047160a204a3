"""Public complaints (投诉举报): the public JSON routes (no login, rate-limited per client address), the
12345 referral, the staff list and detail, a case's complaints, the reply and the merge of duplicates.
The pages (api/pages/complaints.py) call the same functions. docs/complaints.md."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import AppClock, CurrentUser, Db
from api.responses import OrjsonResponse
from api.routes.auth import client_address
from cases.complaints import codes, reads, services
from cases.models import Case, Deadline
from cases.platform.errors import NotFound

router = APIRouter(prefix="/api", tags=["complaints"])

RATE_LIMITED = {429: {"description": "同一网络地址提交或查询过于频繁（Retry-After）"}}


class PublicComplaint(BaseModel):
    jurisdiction_code: str = Field(max_length=12, description="事发地所在区县（或市）的行政区划代码，见 /api/public/complaint-districts")
    content: str = Field(max_length=services.CONTENT_MAX, description="举报内容：发生了什么")
    location: Optional[str] = Field(None, max_length=300, description="地点")
    named_unit: Optional[str] = Field(None, max_length=200, description="涉及的项目或单位（如知道）")
    contact_name: Optional[str] = Field(None, max_length=64, description="联系人（可不填；仅承办机关可见）")
    contact_phone: Optional[str] = Field(None, max_length=32, description="联系电话（可不填；仅承办机关可见）")


class Referral(BaseModel):
    referral_no: str = Field(max_length=64, description="12345工单号：同一工单号再次提交返回首次受理的举报")
    content: str = Field(max_length=services.CONTENT_MAX, description="举报内容")
    submitted_at: Optional[datetime] = Field(None, description="市民来电/留言时间（带时区），不填为受理时间")
    jurisdiction_code: Optional[str] = Field(None, max_length=12, description="承办辖区，不填为项目所在辖区或本人辖区")
    project_id: Optional[int] = Field(None, description="涉及的工程项目（如已识别）")
    location: Optional[str] = Field(None, max_length=300, description="地点")
    named_unit: Optional[str] = Field(None, max_length=200, description="举报人所述项目或单位")
    contact_name: Optional[str] = Field(None, max_length=64, description="联系人")
    contact_phone: Optional[str] = Field(None, max_length=32, description="联系电话")


class Reply(BaseModel):
    reply: str = Field(max_length=services.REPLY_MAX, description="答复内容（举报人凭查询码可见）")


class Merge(BaseModel):
    into_case_id: int = Field(description="并入的案件编号（保留办理的案件）")
    comment: Optional[str] = Field(None, max_length=2000, description="备注")


def rate_limited_response(exc: codes.RateLimited) -> OrjsonResponse:
    return OrjsonResponse({"error": exc.code, "message": exc.message, "retry_after": exc.retry_after},
                          status_code=429, headers={"Retry-After": str(exc.retry_after)})


def client_key_of(request: Request) -> str:
    return codes.client_key(request.app.state.signing_key.secret, client_address(request))


def reply_due_date(s, case_id: int) -> str | None:
    due = s.scalar(select(Deadline.due_date).where(Deadline.case_id == case_id, Deadline.key == services.REPLY_RULE,
                                                   Deadline.status == "open"))
    return due.isoformat() if due else None


def submit_public(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """File a public complaint; what the complainant is shown once (raises RateLimited, ValidationFailed)."""
    state = request.app.state
    now = state.clock.now()
    with state.db.transaction() as s:
        complaint, code = services.submit_public(s, data, now, client_key=client_key_of(request),
                                                 limit=state.settings.complaint_submits_per_hour)
        status = reads.public_view(s, complaint, s.get(Case, complaint.case_id))
        status["reply_due_date"] = reply_due_date(s, complaint.case_id)
    return {"lookup_code": code, **status,
            "message": "举报已受理。请牢记查询码：凭查询码可查询办理情况和答复，查询码只显示这一次。"}


@router.post("/public/complaints", status_code=201, summary="群众举报（无需登录）：返回查询码（仅显示一次）",
             responses=RATE_LIMITED)
def post_public_complaint(body: PublicComplaint, request: Request):
    try:
        return OrjsonResponse(submit_public(request, body.model_dump()), status_code=201)
    except codes.RateLimited as exc:
        return rate_limited_response(exc)


def lookup_public(request: Request, lookup_code: str) -> dict[str, Any]:
    """The public status by code (raises RateLimited; NotFound for an unknown code, counted first)."""
    state = request.app.state
    with state.db.transaction() as s:
        found = reads.public_status(s, lookup_code, state.clock.now(), client_key=client_key_of(request),
                                    limit=state.settings.complaint_bad_lookups_per_hour)
    if found is None:
        raise NotFound(reads.UNKNOWN_CODE)
    return found


@router.get("/public/complaints/{lookup_code}", summary="凭查询码查询举报的办理情况与答复（无需登录）",
            responses=RATE_LIMITED)
def get_public_complaint(lookup_code: str, request: Request):
    try:
        return lookup_public(request, lookup_code[:64])
    except codes.RateLimited as exc:
        return rate_limited_response(exc)


@router.get("/public/complaint-districts", summary="举报可选的市、区县（无需登录）")
def get_public_districts(db: Db):
    with db.session() as s:
        return {"items": reads.public_districts(s)}


@router.post("/complaints/referrals", status_code=201,
             summary="12345转办：按工单号受理举报（同一工单号再次提交返回首次受理的举报，不再给出查询码）",
             responses={200: {"description": "该工单号已受理：返回首次受理的举报"}})
def post_referral(body: Referral, user: CurrentUser, db: Db, clock: AppClock):
    data = body.model_dump(exclude_none=True)
    if body.submitted_at is not None:
        data["submitted_at"] = body.submitted_at
    now = clock.now()
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                complaint, code = services.refer_12345(s, user, data, now)
                out = reads.get_complaint(s, user, complaint.id, now)
            break
        except IntegrityError:  # the same 工单号 filed at the same moment: answer with that one
            if attempt == 2:
                raise
    return OrjsonResponse({**out, "lookup_code": code, "created": code is not None},
                          status_code=201 if code is not None else 200)


Status = Literal["pending", "replied", "overdue"]
Channel = Literal["public_web", "hotline_12345"]


@router.get("/complaints", summary="群众举报列表（本辖区及下级；状态：pending 待答复、replied 已答复、overdue 逾期未答复）")
def get_complaints(user: CurrentUser, db: Db, clock: AppClock, status: Optional[Status] = None,
                   channel: Optional[Channel] = None, q: Optional[str] = Query(None, max_length=100),
                   page: int = Query(1, ge=1, le=100_000), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        return reads.list_complaints(s, user, clock.now(), status=status, channel=channel, q=(q or "").strip() or None,
                                     page=page, page_size=page_size)


@router.get("/complaints/{complaint_id}", summary="一件群众举报（含举报人联系方式：仅能看到该案件的监管人员可见）")
def get_complaint(complaint_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        return reads.get_complaint(s, user, complaint_id, clock.now())


@router.get("/cases/{case_id}/complaints", summary="案件办理的群众举报（含并入的重复举报）")
def get_case_complaints(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        return {"items": reads.case_complaints(s, user, case_id, clock.now())}


@router.post("/cases/{case_id}/complaints/reply", summary="答复举报人：答复本案件全部未答复的举报人，满足答复期限")
def post_reply(case_id: int, body: Reply, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        services.reply(s, user, case_id, body.reply, now)
        return {"items": reads.case_complaints(s, user, case_id, now)}


@router.post("/cases/{case_id}/complaints/merge",
             summary="合并重复举报：本案件（已发现）以“重复举报”不予立案，举报转入目标案件办理")
def post_merge(case_id: int, body: Merge, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        into, moved = services.merge(s, user, case_id, body.into_case_id, now, comment=body.comment)
        return {"case_id": case_id, "into_case_id": into.id, "into_case_number": into.number,
                "moved": [c.id for c in moved], "items": reads.case_complaints(s, user, into.id, now)}

