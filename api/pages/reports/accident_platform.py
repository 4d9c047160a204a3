"""Cookie-authenticated twins of the accident platform exports (api/routes/reports/accident_platform.py):
the same functions, so the 事故信息报送表 page and the cockpit can link to the downloads."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Query, Request

from api.pages.common import PageUser
from api.routes.reports import accident_platform as api_routes

router = APIRouter(include_in_schema=False)


@router.get("/cases/{case_id:int}/accident-report/platform.xlsx")
def case_platform_xlsx(case_id: int, request: Request, user: PageUser):
    return api_routes.case_platform_xlsx(case_id, user, request.app.state.db, request.app.state.clock)


@router.get("/reports/accident-platform.xlsx")
def platform_list_xlsx(request: Request, user: PageUser, jurisdiction: Optional[str] = Query(None, max_length=12),
                       period_from: Optional[str] = Query(None, alias="from"), period_to: Optional[str] = Query(None, alias="to")):
    return api_routes.platform_list_xlsx(user, request.app.state.db, request.app.state.clock, jurisdiction,
                                         period_from, period_to)


@router.get("/reports/accident-platform.csv")
def platform_list_csv(request: Request, user: PageUser, jurisdiction: Optional[str] = Query(None, max_length=12),
                      period_from: Optional[str] = Query(None, alias="from"), period_to: Optional[str] = Query(None, alias="to")):
    return api_routes.platform_list_csv(user, request.app.state.db, request.app.state.clock, jurisdiction,
                                        period_from, period_to)
