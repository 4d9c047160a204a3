"""The self-inspection ledger (自查整改台账, docs/self-inspection.md): an enterprise contact's own
self-found hazards, and for the regulator every enterprise's in its jurisdiction, with the
per-enterprise summary whose figures the list's filters reproduce (cases/selfcheck/ledger.py)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Query

from api import responses
from api.deps import CurrentUser, Db
from cases.ledger.validation import MAX_INT
from cases.selfcheck.ledger import ledger_page

router = APIRouter(prefix="/api", tags=["self-inspection"])

_STATUS_HELP = ("自查状态：rectifying（自查整改中）、rectified_on_time（按期整改）、rectified_late（逾期后整改）、"
                "handed_over（逾期移交监管部门）")


@router.get("/self-inspection", summary="企业自查整改台账（企业联系人：本单位；监管人员：本辖区及下级各企业）")
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
