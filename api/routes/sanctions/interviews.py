"""约谈 records (cases/interviews/, docs/interviews.md): open one from a 约谈通知书 or by hand, record
it held (attendees, minutes, commitments; issues the 约谈记录), add commitments, mark one met;
lists per case and per jurisdiction. Staff of the case's subtree write; an enterprise contact
reads the records that summoned its own unit."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api import responses
from api.deps import AppClock, CurrentUser, Db
from cases.interviews import reads, services

router = APIRouter(prefix="/api", tags=["interviews (约谈)"])


class Attendee(BaseModel):
    name: str = Field(description="姓名")
    unit: str = Field(description="单位")
    position: str = Field(description="职务")


class CommitmentIn(BaseModel):
    content: str = Field(description="承诺事项")
    responsible_person: str = Field(description="责任人")
    unit_id: Optional[int] = Field(None, description="责任单位：本次被约谈单位之一（units[].id）；只有一个被约谈单位时可省略")
    party: Optional[Literal["enterprise", "authority"]] = Field(
        None, description="或按类别指定责任单位：enterprise 本案责任单位 / authority 被约谈的住建部门")
    due_date: Optional[date] = Field(None, description="完成日期（北京时间，晚于今天）；或用 within + unit")
    within: Optional[int] = Field(None, description="期限天数（1—365），与 unit 一起使用")
    unit: Optional[Literal["calendar_day", "working_day"]] = Field(None, description="calendar_day 自然日 / working_day 工作日")


class InterviewCreate(BaseModel):
    """Either ``notice_document_id`` (a 约谈通知书: the record it opens; the ladder's notices open
    theirs at issue, so this answers the same record), or a record by hand for ``case_id``."""

    notice_document_id: Optional[int] = Field(None, description="约谈通知书（文书id）")
    case_id: Optional[int] = Field(None, description="案件id（人工登记的约谈）")
    measure: Literal["interview", "reminder"] = Field("interview", description="interview 约谈 / reminder 约谈提醒")
    reason: Optional[str] = Field(None, description="约谈事由")
    scheduled_at: Optional[datetime] = Field(None, description="约谈时间（不带时区时按北京时间）")
    place: Optional[str] = Field(None, description="约谈地点")
    summon_enterprise: bool = Field(False, description="约谈本案责任单位")
    summon_authority: bool = Field(False, description="约谈本案所在辖区的住建部门")


class HeldIn(BaseModel):
    held_at: datetime = Field(description="约谈召开时间（不晚于当前）")
    place: Optional[str] = Field(None, description="约谈地点（默认为通知的地点）")
    hosts: str = Field(description="约谈人")
    attendees: list[Attendee] = Field(description="参加人员（姓名、单位、职务）")
    minutes: str = Field(description="约谈内容（谈话记录）")
    summon_enterprise: bool = Field(False, description="本案责任单位一并参加约谈")
    commitments: list[CommitmentIn] = Field(default_factory=list, description="承诺事项，每项各自计时")


class CommitmentsIn(BaseModel):
    commitments: list[CommitmentIn]


class MetIn(BaseModel):
    note: str = Field(description="落实情况及佐证材料说明")


class CommitmentOut(BaseModel):
    """``status``: open 落实中 / overdue 逾期未落实 / met 已落实 / met_late 逾期后落实."""

    id: int
    interview_id: int
    case_id: int
    position: int
    content: str
    unit: Optional[dict[str, Any]] = None
    party: Literal["enterprise", "authority"]
    responsible_person: str
    due_on: date = Field(description="期限届满日（北京时间，24:00届满）")
    promised_on: Optional[date] = Field(None, description="承诺的完成日期（遇休息日顺延前）")
    due_at: Optional[datetime] = None
    deadline_id: Optional[int] = None
    status: str
    status_label: str
    countdown: Optional[str] = None
    missed_at: Optional[datetime] = None
    met_at: Optional[datetime] = None
    met_note: Optional[str] = None
    created_at: datetime


class InterviewOut(BaseModel):
    id: int
    case: dict[str, Any]
    jurisdiction: dict[str, Any] = Field(description="约谈机关")
    source: Literal["notice", "manual"]
    source_label: str
    measure: str
    measure_label: str
    reason: str
    scheduled_at: Optional[datetime] = None
    place: str
    status: Literal["scheduled", "held", "cancelled"]
    status_label: str
    held_at: Optional[datetime] = None
    held_place: Optional[str] = None
    hosts: Optional[str] = None
    attendees: list[dict[str, Any]]
    minutes: Optional[str] = None
    units: list[dict[str, Any]] = Field(description="被约谈单位")
    notice: Optional[dict[str, Any]] = Field(None, description="约谈通知书")
    record: Optional[dict[str, Any]] = Field(None, description="约谈记录")
    commitments: list[CommitmentOut]
    created_at: datetime


class InterviewPage(BaseModel):
    items: list[InterviewOut]
    total: int
    page: int
    page_size: int


class InterviewList(BaseModel):
    items: list[InterviewOut]


class CommitmentList(BaseModel):
    items: list[CommitmentOut]


def _one(s, user, interview_id: int, now) -> dict[str, Any]:
    return reads.interviews_json(s, [reads.get_interview(s, user, interview_id)], now)[0]


@router.post("/interviews", summary="登记约谈（依约谈通知书或人工登记）", response_model=InterviewOut)
def create_interview(body: InterviewCreate, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        iv = services.create_interview(s, user, body.model_dump(), now)
        item = _one(s, user, iv.id, now)
    return responses.fast_json(item)


@router.get("/interviews", summary="约谈记录清单", response_model=InterviewPage)
def list_interviews(user: CurrentUser, db: Db, clock: AppClock,
                    case_id: Optional[int] = Query(None, ge=1, le=2**31 - 1, description="案件"),
                    jurisdiction: Optional[str] = Query(None, max_length=12, description="约谈机关所在辖区（含下级）"),
                    status: Optional[str] = Query(None, max_length=16, description="scheduled / held / cancelled"),
                    page: int = Query(1, ge=1, le=100_000), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        body = reads.list_interviews(s, user, clock.now(), case_id=case_id, jurisdiction=(jurisdiction or "").strip() or None,
                                     status=status, page=page, page_size=page_size)
    return responses.fast_json(body)


@router.get("/interviews/{interview_id}", summary="约谈记录详情", response_model=InterviewOut)
def get_interview(interview_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        item = _one(s, user, interview_id, clock.now())
    return responses.fast_json(item)


@router.get("/cases/{case_id}/interviews", summary="本案的约谈记录", response_model=InterviewList)
def case_interviews(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        items = reads.case_interviews(s, user, case_id, clock.now())
    return responses.fast_json({"items": items})


@router.post("/interviews/{interview_id}/held", summary="登记约谈召开情况（参加人员、约谈内容、承诺事项），生成约谈记录",
             response_model=InterviewOut)
def record_held(interview_id: int, body: HeldIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    data = body.model_dump()
    data["commitments"] = [{k: v for k, v in c.items() if v is not None} for c in data["commitments"]]
    with db.transaction() as s:
        services.record_held(s, user, interview_id, data, now)
        item = _one(s, user, interview_id, now)
    return responses.fast_json(item)


@router.post("/interviews/{interview_id}/commitments", summary="补充承诺事项", response_model=CommitmentList)
def add_commitments(interview_id: int, body: CommitmentsIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    items = [{k: v for k, v in c.model_dump().items() if v is not None} for c in body.commitments]
    with db.transaction() as s:
        added = services.add_later(s, user, interview_id, items, now)
        out = reads.commitments_json(s, added, now)
    return responses.fast_json({"items": out})


@router.post("/interview-commitments/{commitment_id}/met", summary="登记承诺事项已落实（附佐证说明）",
             response_model=CommitmentOut)
def mark_met(commitment_id: int, body: MetIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        c = services.mark_met(s, user, commitment_id, body.note, now)
        out = reads.commitments_json(s, [c], now)[0]
    return responses.fast_json(out)
