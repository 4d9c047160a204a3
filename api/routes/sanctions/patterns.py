"""屡查屡犯 flags (issue 12 part 2; cases/patterns/, docs/patterns.md): the flags the sweep recorded
for the jurisdiction's subtree, one flag with its trail, and the supervisor's 已阅 and decision.
Staff read; supervisors of the flag's jurisdiction or above act; enterprise contacts get 403."""
from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AppClock, CurrentUser, Db
from cases.patterns import flags

router = APIRouter(prefix="/api", tags=["repeat offenders (屡查屡犯)"])


class FlagCase(BaseModel):
    id: int
    number: str
    title: Optional[str] = None
    at: str = Field(description="when the event counted happened (registration, or the 整改期限 falling due), ISO instant")


class TrailEntry(BaseModel):
    action: str = Field(description="flagged 系统标记 / acknowledged 已阅 / decided 已处理")
    action_label: str
    by: Optional[str] = None
    at: datetime
    decision: Optional[str] = None
    decision_label: Optional[str] = None
    note: Optional[str] = None


class FlagOut(BaseModel):
    """One flag: the pattern's label, basis and proposal as of the policy version it was computed under;
    ``cases``: the events behind it (each counted by one flag per window)."""

    id: int
    enterprise_id: int
    enterprise_name: Optional[str] = None
    enterprise_credit_code: Optional[str] = None
    pattern: str
    label: str
    basis: str
    proposal: str
    policy_version: int
    window_days: int
    threshold: int
    found: int
    jurisdiction_code: str
    triggered_at: datetime
    flagged_at: datetime
    status: Literal["open", "acknowledged", "handled"]
    status_label: str
    decision: Optional[str] = None
    decision_label: Optional[str] = None
    decision_note: Optional[str] = None
    decided_at: Optional[datetime] = None
    cases: list[FlagCase]
    trail: Optional[list[TrailEntry]] = None


class FlagList(BaseModel):
    jurisdiction: str
    items: list[FlagOut]


class DecisionIn(BaseModel):
    # Checked by the service (422 naming 处理措施 / 处理说明 with the options), not by the schema.
    decision: Optional[str] = Field(None, description="处理措施：" + "、".join(f"{k}（{v}）" for k, v in flags.DECISIONS.items()))
    note: Optional[str] = Field(None, description=f"处理说明（必填，不超过{flags.NOTE_MAX}字）")


@router.get("/repeat-offender-flags", summary="屡查屡犯提示清单（本辖区及下级，默认未处理的）", response_model=FlagList)
def list_flags(user: CurrentUser, db: Db, jurisdiction: Optional[str] = Query(None, max_length=12),
               status: Literal["open", "handled", "all"] = Query("open", description="open 未处理（含已阅）/ handled 已处理 / all 全部")):
    from api.routes.reports.statistics import staff_subtree_code

    with db.session() as s:
        code = staff_subtree_code(s, user, jurisdiction)
        return {"jurisdiction": code, "items": flags.list_flags(s, user, code, status=None if status == "all" else status)}


@router.get("/repeat-offender-flags/{flag_id}", summary="屡查屡犯提示详情（含处理记录）", response_model=FlagOut)
def get_flag(flag_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return flags.as_dict(s, flags.get_flag(s, user, flag_id), trail=True)


@router.post("/repeat-offender-flags/{flag_id}/acknowledge", summary="屡查屡犯提示：标记已阅（督办/审批人员）",
             response_model=FlagOut)
def acknowledge_flag(flag_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        return flags.as_dict(s, flags.acknowledge(s, user, flag_id, clock.now()), trail=True)


@router.post("/repeat-offender-flags/{flag_id}/decision", summary="屡查屡犯提示：作出处理决定（督办/审批人员，须说明）",
             response_model=FlagOut)
def decide_flag(flag_id: int, body: DecisionIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        return flags.as_dict(s, flags.decide(s, user, flag_id, body.decision, body.note, clock.now()), trail=True)
