"""The self-inspection ledger page (``/self-inspection``, docs/self-inspection.md): an enterprise
contact's own 自查整改台账 — what its unit found, rectified on time, or let go overdue (handed over) —
with the button to record a new one (``/cases/new/self_hazard``); for staff, every enterprise's
ledger in their jurisdiction, summed per enterprise. Read through the API route's own function
(``cases.selfcheck.ledger.ledger_page``), so a figure, its link and ``GET /api/self-inspection`` agree."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Query, Request

from api.pages.common import PageUser, render
from cases.ledger.validation import MAX_INT
from cases.selfcheck.ledger import STATUSES, check_status, ledger_page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30


@router.get("/self-inspection")
def self_inspection(request: Request, user: PageUser, status: Optional[str] = None,
                    enterprise_id: Optional[int] = Query(None, ge=1, le=MAX_INT),
                    page: int = Query(1, ge=1, le=100_000)):
    check_status(status)
    with request.app.state.db.session() as s:
        book = ledger_page(s, user, status=status, enterprise_id=enterprise_id, page=page, page_size=PAGE_SIZE)
    pages = max(1, -(-book["total"] // PAGE_SIZE))
    unit = next((r for r in book["summary"] if r["enterprise_id"] == enterprise_id), None) if enterprise_id else None
    return render(request, "self_inspection.html", user=user, title="企业自查整改台账", book=book, page=page,
                  pages=pages, status=status, statuses=STATUSES, enterprise_id=enterprise_id, unit=unit,
                  is_contact=user.role == "enterprise")
