"""Referral pages (移送): the list ``/referrals`` (overdue replies marked and first), the new-referral
form of a case ``/cases/{id}/referrals/new``, the detail ``/referrals/{id}`` with the reply and
withdrawal forms. Staff only (an enterprise contact gets 403). The same services as the API
(api/routes/sanctions/referrals.py); forms work without JavaScript. docs/referrals.md."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, error_page, redirect, render
from cases.ledger import services as case_services
from cases.ledger.access import STAFF_ROLES
from cases.platform.errors import ValidationFailed
from cases.referrals import ACTING_ROLES, STATES, STATUS_LABELS, reads, services
from cases.referrals.policy import referral_policy

router = APIRouter(include_in_schema=False)

NEW_FIELDS = ("target", "body_name", "subject", "facts", "legal_basis", "request", "attachments")
REPLY_FIELDS = ("received_at", "reply_no", "content", "result")


def _staff_only(request: Request, user) -> Any:
    if user.role not in STAFF_ROLES:
        return error_page(request, 403, "移送记录仅限监管部门工作人员查阅")
    return None


def case_referrals_view(s, user, case_id: int, now) -> list[dict[str, Any]] | None:
    """The case page's referrals (None for an enterprise contact: the section is not shown at all)."""
    if user.role not in STAFF_ROLES:
        return None
    return reads.case_referrals(s, user, case_id, now)


@router.get("/referrals")
def referral_list(request: Request, user: PageUser, target: str | None = Query(None, max_length=32),
                  state: str | None = Query(None, max_length=20), jurisdiction_code: str | None = Query(None, max_length=12)):
    refused = _staff_only(request, user)
    if refused:
        return refused
    policy = referral_policy()
    target = target if target in policy.targets else None
    state = state if state in STATES else None
    with request.app.state.db.session() as s:
        try:
            listed = reads.list_referrals(s, user, request.app.state.clock.now(), target=target, state=state,
                                          jurisdiction_code=jurisdiction_code or None)
        except ValidationFailed as exc:
            return error_page(request, 422, exc.message, links=[("/referrals", "返回移送记录")])
    return render(request, "referral/list.html", user=user, title="移送记录", listed=listed,
                  targets={k: t.label for k, t in policy.targets.items()}, states=STATUS_LABELS,
                  selected={"target": target or "", "state": state or ""})


def _new_page(request: Request, user, case_id: int, *, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, status_code: int = 200):
    policy = referral_policy()
    with request.app.state.db.session() as s:
        case = case_services.get_case(s, user, case_id)
        case_info = {"id": case.id, "number": case.number, "title": case.title}
        facts = services.default_facts(case)
        bodies = services.bodies_for(s, case.jurisdiction_code)
    targets = [{"name": t.name, "label": t.label, "subject": t.subject, "legal_basis": t.legal_basis,
                "request": t.request, "reply": f"{t.reply_amount}个{'工作日' if t.reply_unit == 'working_day' else '日'}",
                "attachments": "\n".join(services.default_attachments(t.name))} for t in policy.targets.values()]
    return render(request, "referral/new.html", user=user, title=f"移送 {case_info['number']}", case=case_info,
                  targets=targets, bodies=sorted({b for names in bodies.values() for b in names}), values=values or {"facts": facts}, errors=errors or {}, status_code=status_code)


@router.get("/cases/{case_id:int}/referrals/new")
def referral_new(case_id: int, request: Request, user: PageUser):
    if user.role not in ACTING_ROLES:
        return error_page(request, 403, "移送仅限监管人员、督办/审批人员办理", links=[(f"/cases/{case_id}", "返回案件")])
    return _new_page(request, user, case_id)


@router.post("/cases/{case_id}/referrals")
def referral_create(case_id: int, request: Request, user: PageUser, form: CheckedForm):
    values = {name: str(form.get(name) or "") for name in NEW_FIELDS}
    now = request.app.state.clock.now()
    try:
        with request.app.state.db.transaction() as s:
            referral = services.refer(s, user, case_id, values, now)
            rid, letter_no = referral.id, referral.letter_no
    except ValidationFailed as exc:
        return _new_page(request, user, case_id, values=values, errors={e["field"]: e["message"] for e in exc.errors},
                         status_code=422)
    return redirect(request, f"/referrals/{rid}", f"已移送，移送函文号{letter_no}")


def _detail(request: Request, user, referral_id: int, *, values: dict[str, str] | None = None,
            errors: dict[str, str] | None = None, status_code: int = 200):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        referral, _ = services.get_referral(s, user, referral_id)
        item = reads.one(s, referral, now)
    return render(request, "referral/detail.html", user=user, title=f"移送 {item['letter_no']}", r=item,
                  results=referral_policy(referral.policy_version).results, values=values or {}, errors=errors or {},
                  may_act=user.role in ACTING_ROLES, status_code=status_code)


@router.get("/referrals/{referral_id:int}")
def referral_detail(referral_id: int, request: Request, user: PageUser):
    refused = _staff_only(request, user)
    return refused or _detail(request, user, referral_id)


@router.post("/referrals/{referral_id}/reply")
def referral_reply(referral_id: int, request: Request, user: PageUser, form: CheckedForm):
    values = {name: str(form.get(name) or "") for name in REPLY_FIELDS}
    try:
        with request.app.state.db.transaction() as s:
            services.record_reply(s, user, referral_id, values, request.app.state.clock.now())
    except ValidationFailed as exc:
        return _detail(request, user, referral_id, values=values, errors={e["field"]: e["message"] for e in exc.errors},
                       status_code=422)
    return redirect(request, f"/referrals/{referral_id}", "已登记回复，回复计时结束")


@router.post("/referrals/{referral_id}/withdraw")
def referral_withdraw(referral_id: int, request: Request, user: PageUser, form: CheckedForm):
    values = {"reason": str(form.get("reason") or "")}
    try:
        with request.app.state.db.transaction() as s:
            services.withdraw(s, user, referral_id, values, request.app.state.clock.now())
    except ValidationFailed as exc:
        return _detail(request, user, referral_id, values=values, errors={e["field"]: e["message"] for e in exc.errors},
                       status_code=422)
    return redirect(request, f"/referrals/{referral_id}", "已撤回移送")
