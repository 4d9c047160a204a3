"""Credit pages: an enterprise's credit (``/enterprises/{id}/credit``: the derived score, the records
with their trail, the appeal form for its contact and the decision form for the authority that
recorded a record), the blacklist / exposure page for staff (``/credit/blacklist``), and the public
exposure page without login (``/public/exposure``, with its .xlsx and CSV export). Same functions as
api/routes/sanctions/credit.py; docs/credit.md."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, redirect, render
from api.routes.sanctions.credit import export_response
from cases.clocks.legal_time import shanghai_date
from cases.credit import reads, services
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed

router = APIRouter(include_in_schema=False)


def _failed(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed):
        return "；".join(f"{e.get('label')}：{e.get('message')}" for e in exc.errors)
    return str(exc)


@router.get("/enterprises/{enterprise_id}/credit")
def enterprise_credit_page(enterprise_id: int, request: Request, user: PageUser):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        body = reads.enterprise_credit(s, user, enterprise_id, now)
    return render(request, "credit/enterprise.html", user=user, title=f"{body['enterprise']['name']} 信用记录",
                  credit=body, outcomes=services.OUTCOMES,
                  can_appeal=user.role == "enterprise" and user.enterprise_id == enterprise_id,
                  can_decide=user.role in ("officer", "supervisor"), my_code=user.jurisdiction_code)


@router.post("/credit-records/{record_id}/appeal")
def appeal_page(record_id: int, request: Request, user: PageUser, form: CheckedForm):
    now = request.app.state.clock.now()
    try:
        with request.app.state.db.transaction() as s:
            record = services.appeal(s, user, record_id, str(form.get("reason") or ""), now)
            back = f"/enterprises/{record.enterprise_id}/credit"
    except (ValidationFailed, ActionNotAllowed, Forbidden) as exc:
        with request.app.state.db.session() as s:
            back = f"/enterprises/{services.get_record(s, user, record_id).enterprise_id}/credit"
        return redirect(request, back, "未提交申诉：" + _failed(exc))
    return redirect(request, back, "申诉已提交，等待作出记录的机关处理")


@router.post("/credit-records/{record_id}/decision")
def decision_page(record_id: int, request: Request, user: PageUser, form: CheckedForm):
    now = request.app.state.clock.now()
    raw = str(form.get("points") or "").strip()
    points = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else (None if not raw else -1)
    outcome = str(form.get("outcome") or "")
    try:
        with request.app.state.db.transaction() as s:
            record = services.decide(s, user, record_id, outcome, str(form.get("reason") or ""), now, points=points)
            back = f"/enterprises/{record.enterprise_id}/credit"
    except (ValidationFailed, ActionNotAllowed, Forbidden) as exc:
        with request.app.state.db.session() as s:
            back = f"/enterprises/{services.get_record(s, user, record_id).enterprise_id}/credit"
        return redirect(request, back, "未处理：" + _failed(exc))
    return redirect(request, back, f"申诉已处理：{services.OUTCOMES[outcome]}")


@router.get("/credit/blacklist")
def blacklist_page(request: Request, user: PageUser, history: str | None = Query(None, max_length=8)):
    with request.app.state.db.session() as s:
        black = reads.staff_listings(s, user, "blacklist", active=not history)
        exposed = reads.staff_listings(s, user, "exposure", active=not history)
    return render(request, "credit/blacklist.html", user=user, title="黑名单与曝光", blacklist=black, exposure=exposed,
                  history=bool(history))


@router.get("/public/exposure")
def public_exposure_page(request: Request):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        items = reads.public_exposure(s, now)
    return render(request, "credit/public_exposure.html", title="曝光名单", items=items, as_of=shanghai_date(now))


@router.get("/public/exposure/export.xlsx")
def public_exposure_xlsx(request: Request):
    return export_response(request.app.state.db, request.app.state.clock.now(), "xlsx")


@router.get("/public/exposure/export.csv")
def public_exposure_csv(request: Request):
    return export_response(request.app.state.db, request.app.state.clock.now(), "csv")


__all__ = ["router", "NotFound"]
