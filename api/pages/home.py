"""The workbench (``/``): the user's queue, most urgent first — red, yellow, green, then by due date.

Read through ``api.routes.deadlines.queue_page`` (what ``/api/queue`` serves), with its filters (kind,
state, light and the text search of ``cases.reads.case_lists.case_query``) and the counts by light.
An enterprise contact's queue is its unit's open cases (本单位案件); a supervisor's includes the
cases waiting for their decision (an extension request)."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.pages.common import PageUser, render
from api.routes.deadlines import queue_page
from cases.ledger.labels import options_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LIGHTS = ("red", "yellow", "green")


@router.get("/")
def workbench(request: Request, user: PageUser, page: int = Query(1, ge=1, le=100_000),
              kind: str | None = Query(None, max_length=200), state: str | None = Query(None, max_length=200),
              light: str | None = Query(None, max_length=40), q: str | None = Query(None, max_length=100)):
    now = request.app.state.clock.now()
    filters = {"kind": kind or None, "state": state or None, "light": light or None,
               "text": (q or "").strip() or None}
    with request.app.state.db.session() as s:
        queue = queue_page(s, user, now, page=page, page_size=PAGE_SIZE, with_counts=True, **filters)
        analogs = _analog_counts(s, user, now) if user.role in ("officer", "supervisor") else None
    pages = max(1, -(-queue["total"] // PAGE_SIZE))
    title = "本单位案件" if user.role == "enterprise" else "我的待办"
    return render(request, "workbench.html", user=user, title=title, queue=queue, counts=queue["counts"],
                  kinds=options_of("kind"), states=options_of("state"), lights=LIGHTS,
                  selected={"kind": kind or "", "state": state or "", "light": light or "", "q": q or ""},
                  filtered=any(filters.values()), page=page, pages=pages, analogs=analogs)


def _analog_counts(s, user, now) -> dict[str, int]:
    """类比排查 waiting in the user's own jurisdiction (and below): to be checked, and of those overdue —
    the numbers the linked /analog-tasks lists show (cases/analogs/reads.py)."""
    from sqlalchemy import func, select

    from cases.analogs.reads import task_query

    def count(statuses: list[str]) -> int:
        stmt = task_query(user, now, jurisdiction=user.jurisdiction_code, status=statuses)
        return s.scalar(select(func.count()).select_from(stmt.subquery())) or 0

    return {"waiting": count(["open", "overdue"]), "overdue": count(["overdue"])}
