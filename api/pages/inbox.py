"""The inbox (``/inbox``): the user's in-app messages, newest first, and marking them read.

Read and marked through the API's own functions (``api.routes.notifications.inbox_page``,
``mark_inbox_read``), so the page, ``/api/inbox`` and the header's unread count agree."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, redirect, render
from api.routes.notifications import inbox_page, mark_all_inbox_read, mark_inbox_read

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30


@router.get("/inbox")
def inbox(request: Request, user: PageUser, page: int = Query(1, ge=1, le=100_000), unread_only: bool = False):
    state = request.app.state
    with state.db.session() as s:
        box = inbox_page(s, user, state.settings, unread_only=unread_only, page=page, page_size=PAGE_SIZE)
    pages = max(1, -(-box["total"] // PAGE_SIZE))
    return render(request, "inbox.html", user=user, title="站内信", box=box, page=page, pages=pages,
                  unread_only=unread_only)


def _back(form) -> str:
    """Back to the inbox page the form was on (only an /inbox address)."""
    back = str(form.get("back") or "/inbox")
    return back if back.startswith("/inbox") and not back.startswith("//") else "/inbox"


@router.post("/inbox/{message_id}/read")
def read_one(request: Request, message_id: int, user: PageUser, form: CheckedForm):
    state = request.app.state
    with state.db.transaction() as s:
        mark_inbox_read(s, user, message_id, state.clock.now())
    return redirect(request, _back(form), notice="已标为已读")


@router.post("/inbox/read-all")
def read_all(request: Request, user: PageUser, form: CheckedForm):
    state = request.app.state
    with state.db.transaction() as s:
        n = mark_all_inbox_read(s, user, state.clock.now())
    return redirect(request, _back(form), notice=f"已将{n}条站内信标为已读" if n else "没有未读的站内信")
