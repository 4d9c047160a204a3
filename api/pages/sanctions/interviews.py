"""约谈 pages (cases/interviews/, docs/interviews.md): the list (``/interviews``), a record's page with
the form to record it held and to mark commitments met (``/interviews/{id}``), and opening one by
hand for a case (``/interviews/new?case_id=``). Same services and visibility as the API; the case
page shows the case's records (``case/_interviews.html``). Forms work without JavaScript."""
from __future__ import annotations

from math import ceil
from typing import Any

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, redirect, render
from cases.interviews import reads, services
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
ATTENDEE_ROWS, COMMITMENT_ROWS = 6, 4


def _int(raw: Any) -> int | None:
    raw = str(raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= 2**31 - 1 else None


def _problems(exc: ValidationFailed) -> str:
    return "；".join(f"{e.get('label')}{e.get('message')}" for e in exc.errors)


def case_interviews_view(s, user, case_id: int, now) -> list[dict[str, Any]]:
    """The case page's section (empty for a user who sees none)."""
    try:
        return reads.case_interviews(s, user, case_id, now)
    except NotFound:
        return []


@router.get("/interviews")
def interview_list(request: Request, user: PageUser, status: str | None = Query(None, max_length=16),
                   case_id: str | None = Query(None, max_length=12), page: str | None = Query(None, max_length=8)):
    now = request.app.state.clock.now()
    number = _int(page) or 1
    with request.app.state.db.session() as s:
        result = reads.list_interviews(s, user, now, status=(status or None) if status in reads.STATUS_LABELS else None,
                                       case_id=_int(case_id), page=number, page_size=PAGE_SIZE)
    return render(request, "interviews/list.html", user=user, title="约谈记录", result=result, page=number,
                  pages=max(1, ceil(result["total"] / PAGE_SIZE)), statuses=reads.STATUS_LABELS, status=status or "")


@router.get("/interviews/new")
def interview_new(request: Request, user: PageUser, case_id: str | None = Query(None, max_length=12)):
    from cases.ledger import services as ledger

    with request.app.state.db.session() as s:
        case = ledger.get_case(s, user, _int(case_id) or 0)
        facts = {"id": case.id, "number": case.number, "title": case.title, "has_enterprise": case.enterprise_id is not None}
    return render(request, "interviews/new.html", user=user, title="登记约谈", case=facts, measures=services.MEASURES)


@router.post("/interviews/new")
def interview_create(request: Request, user: PageUser, form: CheckedForm):
    now = request.app.state.clock.now()
    case_id = _int(form.get("case_id"))
    data = {"case_id": case_id, "measure": form.get("measure") or "interview", "reason": form.get("reason"),
            "scheduled_at": form.get("scheduled_at"), "place": form.get("place"),
            "summon_enterprise": bool(form.get("summon_enterprise")), "summon_authority": bool(form.get("summon_authority"))}
    try:
        with request.app.state.db.transaction() as s:
            iv = services.create_interview(s, user, data, now)
            interview_id = iv.id
    except ValidationFailed as exc:
        return redirect(request, f"/interviews/new?case_id={case_id or ''}", "未登记：" + _problems(exc))
    except (Forbidden, ActionNotAllowed) as exc:
        return redirect(request, f"/cases/{case_id}" if case_id else "/interviews", f"未登记：{exc}")
    return redirect(request, f"/interviews/{interview_id}", "已登记约谈")


@router.get("/interviews/{interview_id}")
def interview_page(interview_id: int, request: Request, user: PageUser):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        iv = reads.interviews_json(s, [reads.get_interview(s, user, interview_id)], now)[0]
    writer = user.role in services.WRITERS
    return render(request, "interviews/page.html", user=user, title=f"约谈记录 {iv['case']['number']}", iv=iv,
                  writer=writer, attendee_rows=range(ATTENDEE_ROWS), commitment_rows=range(COMMITMENT_ROWS))


def _rows(form, prefix: str, keys: tuple[str, ...], n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        row = {k: str(form.get(f"{prefix}{i}_{k}") or "").strip() for k in keys}
        if any(row.values()):
            rows.append(row)
    return rows


@router.post("/interviews/{interview_id}/held")
def interview_held(interview_id: int, request: Request, user: PageUser, form: CheckedForm):
    now = request.app.state.clock.now()
    back = f"/interviews/{interview_id}"
    commitments = []
    for row in _rows(form, "c", ("content", "responsible_person", "unit_id", "due_date"), COMMITMENT_ROWS):
        item: dict[str, Any] = {"content": row["content"], "responsible_person": row["responsible_person"],
                                "due_date": row["due_date"] or None}
        if _int(row["unit_id"]):
            item["unit_id"] = _int(row["unit_id"])
        commitments.append(item)
    data = {"held_at": form.get("held_at"), "place": form.get("place"), "hosts": form.get("hosts"),
            "minutes": form.get("minutes"), "summon_enterprise": bool(form.get("summon_enterprise")),
            "attendees": _rows(form, "a", ("name", "unit", "position"), ATTENDEE_ROWS), "commitments": commitments}
    try:
        with request.app.state.db.transaction() as s:
            services.record_held(s, user, interview_id, data, now)
    except ValidationFailed as exc:
        return redirect(request, back, "未登记：" + _problems(exc))
    except (Forbidden, ActionNotAllowed) as exc:
        return redirect(request, back, f"未登记：{exc}")
    return redirect(request, back, "已登记约谈召开情况，约谈记录正在生成")


@router.post("/interview-commitments/{commitment_id}/met")
def commitment_met(commitment_id: int, request: Request, user: PageUser, form: CheckedForm):
    now = request.app.state.clock.now()
    back = f"/interviews/{_int(form.get('interview_id')) or ''}" if _int(form.get("interview_id")) else "/interviews"
    try:
        with request.app.state.db.transaction() as s:
            c = services.mark_met(s, user, commitment_id, str(form.get("note") or ""), now)
            back = f"/interviews/{c.interview_id}"
    except ValidationFailed as exc:
        return redirect(request, back, "未登记：" + _problems(exc))
    except (Forbidden, ActionNotAllowed) as exc:
        return redirect(request, back, f"未登记：{exc}")
    return redirect(request, back, "已登记承诺事项落实情况")
