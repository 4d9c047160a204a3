"""Complaint pages (投诉举报): the public form ``/complaint`` and status lookup ``/complaint/status`` (no
login), the staff list ``/complaints`` and the reply and merge forms of the case page.

The public pages read and write through the same functions as the public JSON routes
(``api.routes.complaints``): the per-address allowance, the lookup code shown once, the status with
the official reply and nothing about people or units. Their forms carry the CSRF field of
``api.pages.common`` (a nonce cookie and an HMAC; anonymous users have no session, the token binds
the nonce alone) and a honeypot field that people never see. The lookup code is posted, never put
in a URL (it would stay in histories and logs).
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from api.pages.common import CheckedForm, PageUser, error_page, redirect, render, verify_csrf
from api.routes.complaints import lookup_public, submit_public
from cases.complaints import CHANNELS, REPLY_STATUS, codes, reads, services
from cases.ledger.access import visible_cases_clause
from cases.models import Case
from cases.platform.errors import NotFound, ValidationFailed

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
HONEYPOT = "website"  # hidden from people (class hp); a bot that fills it is answered as if filed
FIELDS = ("jurisdiction_code", "content", "location", "named_unit", "contact_name", "contact_phone")


def _districts(request: Request) -> list[dict[str, Any]]:
    with request.app.state.db.session() as s:
        return reads.public_districts(s)


def _form_page(request: Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               error: str | None = None, status_code: int = 200):
    return render(request, "complaint/form.html", status_code=status_code, title="投诉举报",
                  districts=_districts(request), values=values or {}, errors=errors or {}, error=error,
                  limits={"content": services.CONTENT_MAX})


@router.get("/complaint")
def complaint_form(request: Request):
    return _form_page(request)


@router.post("/complaint")
async def complaint_submit(request: Request):
    form = await request.form()
    verify_csrf(request, form)
    values = {name: str(form.get(name) or "") for name in FIELDS}
    if str(form.get(HONEYPOT) or "").strip():
        # A bot: nothing is filed; it gets a page that looks like success and a code that finds nothing.
        return render(request, "complaint/submitted.html", title="举报已受理", code=codes.new_code(), status=None)
    try:
        out = submit_public(request, values)
    except codes.RateLimited as exc:
        return _form_page(request, values=values, error=exc.message, status_code=429)
    except ValidationFailed as exc:
        errors = {e["field"]: e["message"] for e in exc.errors}
        return _form_page(request, values=values, errors=errors, error="请检查标出的项目", status_code=422)
    return render(request, "complaint/submitted.html", title="举报已受理", code=out["lookup_code"], status=out)


@router.get("/complaint/status")
def status_form(request: Request):
    return render(request, "complaint/status.html", title="举报办理查询", status=None, error=None)


@router.post("/complaint/status")
async def status_lookup(request: Request):
    form = await request.form()
    verify_csrf(request, form)
    code = str(form.get("lookup_code") or "")[:64]
    try:
        status = lookup_public(request, code)
    except codes.RateLimited as exc:
        return render(request, "complaint/status.html", title="举报办理查询", status=None, error=exc.message,
                      status_code=429)
    except NotFound as exc:
        return render(request, "complaint/status.html", title="举报办理查询", status=None, error=exc.message,
                      status_code=404)
    return render(request, "complaint/status.html", title="举报办理查询", status=status, error=None)


# ---------------------------------------------------------------- staff


@router.get("/complaints")
def complaint_list(request: Request, user: PageUser, status: str | None = Query(None, max_length=20),
                   channel: str | None = Query(None, max_length=20), q: str | None = Query(None, max_length=100),
                   page: int = Query(1, ge=1, le=100_000)):
    status = status if status in REPLY_STATUS else None
    channel = channel if channel in CHANNELS else None
    text = (q or "").strip() or None
    with request.app.state.db.session() as s:
        listed = reads.list_complaints(s, user, request.app.state.clock.now(), status=status, channel=channel,
                                       q=text, page=page, page_size=PAGE_SIZE)
    pages = max(1, -(-listed["total"] // PAGE_SIZE))
    return render(request, "complaint/list.html", user=user, title="群众举报", listed=listed,
                  statuses=REPLY_STATUS, channels=CHANNELS, page=page, pages=pages,
                  selected={"status": status or "", "channel": channel or "", "q": q or ""},
                  filtered=bool(status or channel or text))


def case_complaints_view(s, user, case_id: int, now) -> list[dict[str, Any]]:
    """The case page's complaints (staff only: contacts read none of it)."""
    if user.role not in reads.STAFF:
        return []
    return reads.case_complaints(s, user, case_id, now)


@router.post("/cases/{case_id}/complaints/reply")
def reply_form(case_id: int, request: Request, user: PageUser, form: CheckedForm):
    text = str(form.get("reply") or "")
    now = request.app.state.clock.now()
    try:
        with request.app.state.db.transaction() as s:
            replied = services.reply(s, user, case_id, text, now)
    except ValidationFailed as exc:
        return error_page(request, 422, exc.message, links=[(f"/cases/{case_id}#complaints", "返回案件")])
    return redirect(request, f"/cases/{case_id}#complaints", f"已答复举报人（{len(replied)}件举报）")


@router.post("/cases/{case_id}/complaints/merge")
def merge_form(case_id: int, request: Request, user: PageUser, form: CheckedForm):
    raw = str(form.get("into_case_id") or "").strip()
    into: Any = int(raw) if raw.isdigit() and len(raw) <= 10 else raw
    now = request.app.state.clock.now()
    try:
        with request.app.state.db.transaction() as s:
            into = _case_by_number_or_id(s, user, into)
            target, moved = services.merge(s, user, case_id, into, now, comment=str(form.get("comment") or "") or None)
            number = target.number
    except ValidationFailed as exc:
        return error_page(request, 422, exc.message, links=[(f"/cases/{case_id}#complaints", "返回案件")])
    return redirect(request, f"/cases/{target.id}#complaints", f"已将{len(moved)}件重复举报并入案件{number}")


def _case_by_number_or_id(s, user, value: Any) -> Any:
    """The merge form takes the target's case number (320508-YH-2026-000001) or its id."""
    if isinstance(value, str) and value:
        found = s.scalar(select(Case.id).where(Case.number == value.upper(), visible_cases_clause(user)))
        if found is None:
            raise ValidationFailed([{"field": "into_case_id", "label": "并入案件",
                                     "message": f"案件“{value[:40]}”不存在或不在您的管辖范围内"}])
        return found
    if value == "":
        raise ValidationFailed([{"field": "into_case_id", "label": "并入案件", "message": "请填写并入的案件编号"}])
    return value

