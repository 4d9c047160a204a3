"""Published enterprise rankings per city (issue 12 part 8; cases/rankings/, docs/patterns.md): a
supervisor of the city or above publishes (freezes) the ranking for a period; anyone reads the city's
latest publication without logging in. The published rows carry enterprises' names, credit codes and
figures only."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AppClock, CurrentUser, Db
from cases.rankings import publish as publication

router = APIRouter(prefix="/api", tags=["enterprise ranking (企业排名公示)"])


class PublishIn(BaseModel):
    # Checked by the service (422 naming 设区市 / 统计起始日期 / 统计截止日期), not by the schema.
    city: Optional[str] = Field(None, description="设区市行政区划代码（如 3205 或 320500）")
    period_from: Optional[str] = Field(None, alias="from", description="统计起始日期 YYYY-MM-DD（默认当年1月1日）")
    period_to: Optional[str] = Field(None, alias="to", description="统计截止日期 YYYY-MM-DD（默认今天）")


class StopWorkRow(BaseModel):
    rank: int
    name: str
    credit_code: str
    orders: int = Field(description="期间内责令停工通知书份数")
    active_projects: int = Field(description="在建项目数")
    ratio: Optional[float] = Field(None, description="停工通知书/在建项目（无在建项目时为空）")


class CreditRow(BaseModel):
    rank: int
    name: str
    credit_code: str
    credit_score: Optional[int] = None


class PublicationOut(BaseModel):
    id: int
    city_code: str
    city_name: str
    authority_name: str = Field(description="发布机关")
    period_from: date
    period_to: date
    published_at: datetime
    score_source: str = Field(description="信用分的来源（enterprise_credit_score：企业信用分）")
    stop_work: list[StopWorkRow]
    credit: list[CreditRow]


class PublicRanking(BaseModel):
    city_code: str
    publication: Optional[PublicationOut] = Field(None, description="最新发布的排名；尚未发布时为空")


class PublicationSummary(BaseModel):
    id: int
    city_code: str
    city_name: str
    authority_name: str
    period_from: date
    period_to: date
    published_at: datetime
    published_by: str
    stop_work_rows: int
    credit_rows: int


class PublicationList(BaseModel):
    items: list[PublicationSummary]


def publish_ranking(s, user, body: dict[str, Any], clock):
    from cases.reads.case_lists import legal_date

    start = legal_date("from", body.get("from"))
    end = legal_date("to", body.get("to"))
    pub = publication.publish(s, user, body.get("city"), start, end, clock.now(), clock.today())
    return publication.as_dict(s, pub)


@router.post("/enterprise-rankings/publications", status_code=201, response_model=PublicationOut,
             summary="发布企业排名（设区市，督办/审批人员）：冻结当前排名为公示快照")
def create_publication(body: PublishIn, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        return publish_ranking(s, user, body.model_dump(by_alias=True), clock)


@router.get("/enterprise-rankings/publications", response_model=PublicationList,
            summary="企业排名发布记录（设区市，最新在前）")
def list_publications(user: CurrentUser, db: Db, city: Optional[str] = Query(None, max_length=12)):
    with db.session() as s:
        return {"items": publication.history(s, user, city)}


@router.get("/public/enterprise-ranking", response_model=PublicRanking,
            summary="企业排名公示（无需登录）：设区市最新发布的排名")
def public_ranking(db: Db, city: Optional[str] = Query(None, max_length=12)):
    with db.session() as s:
        pub = publication.latest(s, city)
    return {"city_code": publication.city_code(city), "publication": pub}
