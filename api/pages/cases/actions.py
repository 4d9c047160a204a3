"""An action's form (``GET /cases/{id}/actions/{action}``) and its submission (``POST``).

The form is drawn from the action's field specs (``api.pages.cases.forms``), with the case ``version`` the
user saw in a hidden field. The POST runs ``services.perform_action`` as the API's ``act`` does
(same transaction, then ``_derive_after`` for the documents it made due), and redirects to the case
page with "已提交：…". Its ValidationFailed errors are shown next to the fields with the values kept;
a stale version re-renders with "案件已被他人更新" and a link to the form at the fresh version —
nothing is overwritten. An action the user may not take now is the 409 page saying what they may.
"""
from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request

from api.pages.cases import forms
from api.pages.common import CheckedForm, PageUser, error_page, redirect, render
from api.routes.cases import _derive_after
from cases.issuance import derive
from cases.ledger import services
from cases.platform.errors import ActionNotAllowed, NotFound, StaleVersion, ValidationFailed
from state_machines.loader import ActionSpec

router = APIRouter(include_in_schema=False)


def _not_now(request: Request, user, case, definition, action_name: str, allowed: list[ActionSpec], s):
    spec = definition.action(action_name)
    if spec is None:
        raise NotFound(f"“{definition.label}”没有名为“{action_name}”的操作")
    state = definition.state(case.state).label
    message = f"案件 {case.number} 当前状态为“{state}”，您现在不能执行“{spec.label}”。"
    reason = services.refusal_reason(s, user, case, spec, now=request.app.state.clock.now())
    if reason:  # the rule that stops it, in its own words (e.g. 尚未上传整改后照片)
        message += reason.rstrip("。") + "。"
    message += ("当前可执行：" + "、".join(a.label for a in allowed) + "。") if allowed else "当前没有您可执行的操作。"
    links = [(f"/cases/{case.id}", "返回案件")]
    if reason and "照片" in reason:
        links.insert(0, (f"/cases/{case.id}#evidence", "去上传整改后照片"))
    return error_page(request, 409, message, links=links)


def _form_page(request: Request, user, s, case, definition, action: ActionSpec, *, version: int,
               values=None, errors=None, general=(), stale: int | None = None, status: int = 200):
    errors = errors or {}
    if values is None:  # a fresh form starts from what the case already holds (责任单位 named at creation…)
        values = forms.case_values(case, action.fields)
    ws = forms.widgets(s, user, action.fields, values, errors, now=request.app.state.clock.now())
    comment = forms.comment_widget(action.comment_required, (values or {}).get("comment", ""), errors.get("comment"))
    return render(request, "action_form.html", user=user, status_code=status, title=action.label,
                  case=case, kind_label=definition.label, state_label=definition.state(case.state).label,
                  action=action, widgets=ws, comment=comment, version=version, general=list(general),
                  stale=stale)


@router.get("/cases/{case_id}/actions/{action}")
def action_form(case_id: int, action: str, request: Request, user: PageUser):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        case = services.get_case(s, user, case_id)
        definition = services.definition_of(case)
        allowed = services.allowed_actions(s, user, case, now=now)
        spec = next((a for a in allowed if a.name == action), None)
        if spec is None:
            return _not_now(request, user, case, definition, action, allowed, s)
        return _form_page(request, user, s, case, definition, spec, version=case.version)


@router.post("/cases/{case_id}/actions/{action}")
def perform(case_id: int, action: str, request: Request, user: PageUser, form: CheckedForm,
            background: BackgroundTasks):
    db = request.app.state.db
    now = request.app.state.clock.now()
    version_text = form.get("version")
    version = int(version_text) if isinstance(version_text, str) and version_text.isdigit() \
        and len(version_text) < 12 else None
    comment = form.get("comment")
    comment = comment if isinstance(comment, str) and comment.strip() else None
    with db.session() as s:  # read the form's fields (and resolve typed names) before the transaction
        case = services.get_case(s, user, case_id)
        definition = services.definition_of(case)
        spec = definition.action(action)
        if spec is None:
            raise NotFound(f"“{definition.label}”没有名为“{action}”的操作")
        parsed = forms.payload_from_form(s, user, spec.fields, form)
    kept = {**parsed.kept, "comment": form.get("comment") or ""}
    try:
        with derive.deferred() as pending:
            with db.transaction() as s:
                services.perform_action(s, user, case_id, action, parsed.payload, version=version,
                                        comment=comment, now=now)
        _derive_after(request, background, pending)
    except ValidationFailed as exc:
        with db.session() as s:
            case = services.get_case(s, user, case_id)
            by_field, general = forms.field_errors(exc.errors, parsed, [f.name for f in spec.fields] + ["comment"])
            return _form_page(request, user, s, case, definition, spec, version=version or case.version,
                              values=kept, errors=by_field, general=general, status=422)
    except StaleVersion:
        with db.session() as s:
            case = services.get_case(s, user, case_id)
            return _form_page(request, user, s, case, definition, spec, version=version or 0, values=kept,
                              stale=case.version, status=409)
    except ActionNotAllowed as exc:
        with db.session() as s:
            case = services.get_case(s, user, case_id)
            allowed = services.allowed_actions(s, user, case, now=now)
            if any(a.name == action for a in allowed):  # a guard on the values refused it: say so on the form
                return _form_page(request, user, s, case, definition, spec, version=case.version, values=kept,
                                  general=[str(exc)], status=409)
            return _not_now(request, user, case, definition, action, allowed, s)
    return redirect(request, f"/cases/{case_id}", notice=f"已提交：{spec.label}")
