"""Campaigns (专项整治 / 专项行动): create, list, read, edit; a round's coverage per district and the
project lists behind its figures (cases/campaigns/, docs/campaigns.md)."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import responses
from api.deps import AppClock, CurrentUser, Db
from cases.campaigns import coverage as cov
from cases.campaigns import services

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


class RoundIn(BaseModel):
    name: str | None = Field(None, max_length=100, description="轮次名称（默认“第N轮”）")
    starts_on: str | None = Field(None, description="轮次开始日期 YYYY-MM-DD（默认：专项行动开始日期）")
    due_on: str = Field(description="完成时限 YYYY-MM-DD（北京时间，当日24时到期）")


class CampaignIn(BaseModel):
    """A new campaign, organised by the caller's own jurisdiction (a city or province)."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "name": "2轮全覆盖精准排查", "starts_on": "2026-04-01", "ends_on": "2026-09-30",
        "rounds": [{"name": "第一轮", "starts_on": "2026-04-01", "due_on": "2026-06-30"},
                   {"name": "第二轮", "starts_on": "2026-07-01", "due_on": "2026-09-30"}],
        "scope_codes": [], "project_kinds": ["building", "municipal"], "coverage_target": 100,
        "description": "对辖区内所有在建房屋市政工程开展两轮全覆盖精准排查"}})

    name: str = Field(max_length=200, description="专项行动名称")
    starts_on: str = Field(description="开始日期 YYYY-MM-DD")
    ends_on: str = Field(description="结束日期 YYYY-MM-DD")
    rounds: list[RoundIn] = Field(description="轮次（按顺序，至少一轮，均在专项行动期间内）")
    scope_codes: list[str] = Field(default_factory=list, description="整治范围：行政区划代码（空：组织单位全辖区）")
    project_kinds: list[Literal["building", "municipal"]] = Field(
        default_factory=list, description="工程类别：building 房屋建筑工程 / municipal 市政基础设施工程（空：全部）")
    coverage_target: int = Field(100, description="每轮覆盖率目标（%），1–100")
    description: str = Field("", max_length=4000, description="工作要求")


class CampaignPatch(BaseModel):
    """Only the fields given change; ``rounds`` replaces the list (a round with inspections cannot be removed)."""

    name: str | None = Field(None, max_length=200)
    starts_on: str | None = None
    ends_on: str | None = None
    rounds: list[RoundIn] | None = None
    scope_codes: list[str] | None = None
    project_kinds: list[Literal["building", "municipal"]] | None = None
    coverage_target: int | None = None
    description: str | None = Field(None, max_length=4000)
    status: Literal["active", "ended", "cancelled"] | None = Field(None, description="active 进行中 / ended 已结束 / cancelled 已撤销")


def _payload(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, exclude_none=True)


@router.post("", status_code=201, summary="发起专项行动（市级、省级督办/审批人员或系统管理员）")
def create_campaign(body: CampaignIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        campaign = services.create_campaign(s, user, body.model_dump(), now=clock.now())
        return services.campaign_json(services.view(s, user, campaign))


@router.get("", summary="专项行动列表（本级、上级组织且覆盖本辖区的，及下级组织的）")
def list_campaigns(user: CurrentUser, db: Db,
                   status: Literal["active", "ended", "cancelled"] | None = Query(None, description="状态")):
    with db.session() as s:
        return responses.fast_json({"items": [services.campaign_json(services.view(s, user, c))
                                              for c in services.list_campaigns(s, user, status=status)]})


@router.get("/{campaign_id}", summary="专项行动详情（含轮次）")
def get_campaign(campaign_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        campaign = services.get_campaign(s, user, campaign_id)
        return services.campaign_json(services.view(s, user, campaign))


@router.patch("/{campaign_id}", summary="修改专项行动（组织单位及上级）")
def patch_campaign(campaign_id: int, body: CampaignPatch, user: CurrentUser, db: Db, clock: AppClock):
    data = _payload(body)
    if body.rounds is not None:
        data["rounds"] = [r.model_dump() for r in body.rounds]
    with db.transaction() as s:
        campaign = services.update_campaign(s, user, campaign_id, data, now=clock.now())
        return services.campaign_json(services.view(s, user, campaign))


@router.get("/{campaign_id}/coverage", summary="某一轮各区县覆盖情况（每个数字附其清单链接）")
def coverage(campaign_id: int, user: CurrentUser, db: Db, clock: AppClock,
             round: int = Query(1, ge=1, le=services.MAX_ROUNDS, description="轮次序号")):
    with db.session() as s:
        campaign = services.get_campaign(s, user, campaign_id)
        return responses.fast_json(cov.coverage_json(cov.coverage(s, campaign, round, user, now=clock.now())))


@router.get("/{campaign_id}/projects", summary="覆盖情况背后的项目清单（在建 / 已检查 / 未检查）")
def projects(campaign_id: int, user: CurrentUser, db: Db,
             round: int = Query(1, ge=1, le=services.MAX_ROUNDS, description="轮次序号"),
             district: str | None = Query(None, max_length=12, description="区县代码（空：您可查看的全部区县）"),
             status: Literal["inspected", "pending"] | None = Query(None, description="inspected 已检查 / pending 未检查（空：全部在建项目）")):
    with db.session() as s:
        campaign = services.get_campaign(s, user, campaign_id)
        items = cov.list_projects(s, user, campaign, round, district=district or None, status=status)
        return responses.fast_json({"items": items, "total": len(items)})

