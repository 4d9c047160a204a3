"""屡查屡犯 flags on the cockpit (cases/patterns/, docs/patterns.md): the open flags shown on
``/cockpit/repeat-offenders`` (``open_flags``, called by that page), one flag with its trail
(``/cockpit/repeat-offenders/flags/{id}``), and the supervisor's 已阅 and decision forms — the same
services as ``/api/repeat-offender-flags``."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.pages.common import CheckedForm, PageUser, redirect, render
from cases.patterns import flags as flag_service
from cases.platform.errors import ActionNotAllowed, Forbidden, ValidationFailed

router = APIRouter(include_in_schema=False)


def open_flags(s, user, root_code: str) -> dict[str, Any]:
    """The template context of the open flags' section: the flags of the subtree not yet handled."""
    return {"flags": flag_service.list_flags(s, user, root_code, status="open"),
            "decisions": flag_service.DECISIONS, "can_decide": user.role == "supervisor"}


def _back(flag_id: int) -> str:
    return f"/cockpit/repeat-offenders/flags/{flag_id}"


def _flag_page(request: Request, user, flag_id: int, *, errors=None, values=None):
    with request.app.state.db.session() as s:
        flag = flag_service.as_dict(s, flag_service.get_flag(s, user, flag_id), trail=True)
    return render(request, "sanctions/flag.html", user=user, status_code=422 if errors else 200, flag=flag,
                  decisions=flag_service.DECISIONS, can_decide=user.role == "supervisor",
                  errors={e["field"]: e["message"] for e in errors or ()}, values=values or {})


@router.get("/cockpit/repeat-offenders/flags/{flag_id}")
def flag_page(flag_id: int, request: Request, user: PageUser):
    return _flag_page(request, user, flag_id)


@router.post("/cockpit/repeat-offenders/flags/{flag_id}/acknowledge")
def flag_acknowledge(flag_id: int, request: Request, user: PageUser, form: CheckedForm):
    try:
        with request.app.state.db.transaction() as s:
            flag_service.acknowledge(s, user, flag_id, request.app.state.clock.now())
    except (ActionNotAllowed, Forbidden) as exc:
        return redirect(request, _back(flag_id), f"未标记：{exc}")
    return redirect(request, _back(flag_id), "已标记为已阅")


@router.post("/cockpit/repeat-offenders/flags/{flag_id}/decide")
def flag_decide(flag_id: int, request: Request, user: PageUser, form: CheckedForm):
    try:
        with request.app.state.db.transaction() as s:
            flag_service.decide(s, user, flag_id, str(form.get("decision") or "") or None,
                                str(form.get("note") or ""), request.app.state.clock.now())
    except ValidationFailed as exc:  # the page again, the errors next to their fields, what was typed kept
        return _flag_page(request, user, flag_id, errors=exc.errors,
                          values={"decision": str(form.get("decision") or ""), "note": str(form.get("note") or "")})
    except (ActionNotAllowed, Forbidden) as exc:
        return redirect(request, _back(flag_id), f"未处理：{exc}")
    return redirect(request, "/cockpit/repeat-offenders", "已记录处理决定")
