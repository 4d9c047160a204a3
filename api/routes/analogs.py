"""类比排查 (举一反三) tasks: the list with its filters, a case's tasks, cancelling one
(cases/analogs/, docs/analogs.md). Staff only; an enterprise contact gets 403."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api import responses
from api.deps import AppClock, CurrentUser, Db
from cases.analogs import reads, services

router = APIRouter(prefix="/api", tags=["analogous checks (类比排查)"])


class ProjectRef(BaseModel):
    id: int
    name: Optional[str] = None
    address: Optional[str] = None
    status: Optional[str] = None


class PlaceRef(BaseModel):
    code: str
    name: Optional[str] = None
    authority_name: Optional[str] = None


class CaseRef(BaseModel):
    id: int
    number: Optional[str] = None
    title: Optional[str] = None
    kind: Optional[str] = None
    kind_label: Optional[str] = None


class InspectionRef(BaseModel):
    id: int
    number: Optional[str] = Field(None, description="检查记录文号")
    inspected_on: Optional[date] = None
    findings: int = Field(0, description="不合格项数")
    summary: str = ""


class Cancellation(BaseModel):
    at: Optional[datetime] = None
    by: dict[str, Any]
    reason: Optional[str] = None


class AnalogTaskOut(BaseModel):
    """One 类比排查 task. ``status``: open (进行中), overdue (已逾期: open after 24:00 Beijing of
    ``due_on``), done (已完成: an inspection record closed it), cancelled (已撤销)."""

    id: int
    status: Literal["open", "overdue", "done", "cancelled"]
    status_label: str
    reason: Literal["same_enterprise", "same_category"] = Field(description="same_enterprise 同一企业其他在建项目 / same_category 同类隐患")
    reason_label: str
    category: Optional[str] = Field(None, description="hazard category (2022 catalogue category code)")
    category_label: Optional[str] = None
    trigger: Optional[str] = Field(None, description="major_hazard_registered / major_hazard_reclassified / accident_graded")
    trigger_label: Optional[str] = None
    rank: int
    basis: dict[str, Any] = Field(description="why the project was chosen (open cases of the category, last record …)")
    project: ProjectRef
    jurisdiction: PlaceRef = Field(description="the project's jurisdiction: the district that inspects")
    source_case: CaseRef
    due_on: date = Field(description="legal due date (Beijing); due at 24:00 of it")
    due_at: datetime
    countdown: Optional[str] = Field(None, description="还剩N个工作日 / 今日到期 / 已逾期N天 (open tasks)")
    countdown_state: Optional[str] = None
    created_at: datetime
    remind_at: Optional[datetime] = None
    reminded_at: Optional[datetime] = None
    overdue_notified_at: Optional[datetime] = None
    done_at: Optional[datetime] = None
    inspection: Optional[InspectionRef] = Field(None, description="the inspection record that closed it")
    findings: int = Field(0, description="failed items of that inspection")
    cases_found: list[CaseRef] = Field(default_factory=list, description="cases made from its failed items")
    cancelled: Optional[Cancellation] = None
    record_url: Optional[str] = Field(None, description="page to record the inspection that closes it (open tasks)")


class AnalogTaskPage(BaseModel):
    items: list[AnalogTaskOut]
    total: int
    page: int
    page_size: int


class CaseAnalogTasks(BaseModel):
    items: list[AnalogTaskOut]


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=services.REASON_MAX, description="撤销理由（例如：项目已竣工）")


@router.get("/analog-tasks", summary="类比排查任务清单", response_model=AnalogTaskPage)
def list_analog_tasks(
        user: CurrentUser, db: Db, clock: AppClock,
        source_case_id: Optional[int] = Query(None, ge=1, le=2**31 - 1, description="来源案件（提出任务的案件）"),
        jurisdiction: Optional[str] = Query(None, max_length=12, description="项目所在辖区（含下级）"),
        jurisdiction_only: bool = Query(False, description="仅本级（不含下级）"),
        status: Optional[str] = Query(None, max_length=64, description="open / overdue / done / cancelled，可逗号分隔"),
        with_findings: Optional[bool] = Query(None, description="true: 排查发现问题的（检查记录有不合格项）"),
        project_id: Optional[int] = Query(None, ge=1, le=2**31 - 1, description="被排查的项目"),
        page: int = Query(1, ge=1, le=100_000), page_size: int = Query(50, ge=1, le=200)):
    now = clock.now()
    with db.session() as s:
        body = reads.list_tasks(s, user, now, page=page, page_size=page_size, source_case_id=source_case_id,
                                jurisdiction=(jurisdiction or "").strip() or None, jurisdiction_only=jurisdiction_only,
                                status=reads.parse_statuses(status), with_findings=with_findings, project_id=project_id)
    return responses.fast_json(body)


@router.get("/cases/{case_id}/analog-tasks", summary="本案提出的类比排查任务", response_model=CaseAnalogTasks)
def case_analog_tasks(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        items = reads.case_tasks(s, user, case_id, clock.now())
    return responses.fast_json({"items": items})


@router.post("/analog-tasks/{task_id}/cancel", summary="撤销类比排查任务（监管负责人，须说明理由）",
             response_model=AnalogTaskOut)
def cancel_analog_task(task_id: int, body: CancelIn, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        task = services.cancel_task(s, user, task_id, body.reason, now)
        item = reads.tasks_json(s, [task], now)[0]
    return responses.fast_json(item)
