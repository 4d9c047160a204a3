"""The self-inspection ledger (自查整改台账, docs/self-inspection.md): an enterprise contact's own
self-found hazards, and for the regulator every enterprise's in its jurisdiction, with the
per-enterprise summary whose figures the list's filters reproduce (cases/selfcheck/ledger.py)."""
from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api import responses
from api.deps import CurrentUser, Db
from cases.ledger.validation import MAX_INT
from cases.selfcheck.ledger import ledger_page

router = APIRouter(prefix="/api", tags=["self-inspection"])


class Ref(BaseModel):
    id: Optional[int] = None
    name: Optional[str] = None


class SelfInspectionRow(BaseModel):
    """One self-found hazard on the ledger."""

    id: int
    number: str = Field(description="案件编号（移交后为新编号）")
    self_number: str = Field(description="自查编号（ZC）")
    title: str
    kind: str = Field(description="self_hazard，移交后为 hazard")
    state: str
    state_label: str
    status: Literal["rectifying", "rectified_on_time", "rectified_late", "handed_over"]
    status_label: str
    severity: Optional[str] = None
    enterprise: Ref
    project: Optional[Ref] = None
    found_at: Optional[str] = None
    self_due_date: Optional[str] = Field(None, description="自查整改期限（YYYY-MM-DD，北京时间）")
    rectified_at: Optional[str] = None
    closed_at: Optional[str] = None


class EnterpriseSummary(BaseModel):
    """Per enterprise: found = the sum of the four statuses."""

    enterprise_id: Optional[int] = None
    enterprise_name: str
    found: int
    rectifying: int
    rectified_on_time: int
    rectified_late: int
    handed_over: int


class SelfInspectionPage(BaseModel):
    items: list[SelfInspectionRow]
    total: int
    page: int
    page_size: int
    summary: list[EnterpriseSummary]

_STATUS_HELP = ("自查状态：rectifying（自查整改中）、rectified_on_time（按期整改）、rectified_late（逾期后整改）、"
                "handed_over（逾期移交监管部门）")


@router.get("/self-inspection", response_model=SelfInspectionPage, summary="企业自查整改台账（企业联系人：本单位；监管人员：本辖区及下级各企业）")
def self_inspection(user: CurrentUser, db: Db,
                    status: Optional[str] = Query(None, description=_STATUS_HELP),
                    enterprise_id: Optional[int] = Query(None, ge=1, le=MAX_INT, description="企业编号"),
                    page: int = Query(1, ge=1, le=100000), page_size: int = Query(50, ge=1, le=200)):
    """``items``: the self-found hazards, newest first (``status`` narrows them); ``summary``: per
    enterprise, how many it found and how many are in each status — each figure is the ``total``
    of this list with that ``enterprise_id`` and ``status``. A handed-over hazard is listed with its
    new number (``number``) and its self-inspection number (``self_number``)."""
    with db.session() as s:
        return responses.fast_json(ledger_page(s, user, status=status, enterprise_id=enterprise_id,
                                               page=page, page_size=page_size))
