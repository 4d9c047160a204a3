"""The workbench (``/``): the user's queue, most urgent first."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.pages.common import PageUser, render
from api.routes.deadlines import queue_page

router = APIRouter(include_in_schema=False)


@router.get("/")
def workbench(request: Request, user: PageUser, page: int = Query(1, ge=1, le=100_000)):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        queue = queue_page(s, user, now, page=page, page_size=50)
    return render(request, "workbench.html", user=user, queue=queue)
