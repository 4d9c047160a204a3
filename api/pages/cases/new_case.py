"""A new case: ``/cases/new`` (choose the kind) and ``/cases/new/{kind}`` (its form, and the POST).

The fields are the service's: the common creation fields (``services.COMMON_CREATE_FIELDS``) and the
kind's ``create_fields`` from its latest machine definition (what GET /api/state-machines/{kind}
shows). The POST runs ``services.create_case`` as the API's does and goes to the new case's page.
An accident's grade is the server's own rule (``cases.ledger.accident``): shown as the numbers are
typed (app.js asks ``/picker/accident-grade``) and, without JavaScript, by the 预览 button, which
re-renders the form with the grade and the values (nothing is created).
"""
from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request

from api.pages.cases import forms
from api.pages.common import CheckedForm, PageUser, error_page, redirect, render
from api.pages.cases.pickers import grade_of
from api.routes.cases import _derive_after
from cases.issuance import derive
from cases.ledger import services
from cases.ledger.access import require_role
from cases.ledger.engine import get_registry
from cases.platform.errors import ValidationFailed

router = APIRouter(include_in_schema=False)

CREATORS = services.STAFF_CREATORS  # unless the kind's machine names its own (settings.creators)


def creators(kind: str) -> tuple[str, ...]:
    """Who records a case of this kind (services.create_case checks the same)."""
    return tuple(get_registry().latest(kind).settings.get("creators", CREATORS))


GRADE_FIELDS = ("deaths", "serious_injuries", "direct_loss")


def _specs(kind: str):
    definition = get_registry().latest(kind)
    # the common fields the kind leaves out of its form mean nothing for it (its ``creation.omit``)
    common = [f for f in services.COMMON_CREATE_FIELDS if f.name not in definition.creation.omit]
    names = {f.name for f in common}
    kind_fields = [f for f in definition.create_fields if f.name not in names]
    # title first, then what this kind is about, then the rest of the common fields
    return definition, [common[0], *kind_fields, *common[1:]]


def _page(request: Request, user, kind: str, *, values=None, errors=None, general=(), grade=None, status=200):
    definition, specs = _specs(kind)
    required = set(definition.creation.require)
    registry = get_registry()
    see_also = [(k, registry.latest(k).label, text) for k, text in definition.creation.see_also]
    with request.app.state.db.session() as s:
        ws = forms.widgets(s, user, specs, values, errors, required=required, now=request.app.state.clock.now())
    comment = forms.comment_widget(False, (values or {}).get("comment", ""), (errors or {}).get("comment"))
    return render(request, "new_case.html", user=user, status_code=status, title=f"新建{definition.label}",
                  kind=kind, kind_label=definition.label, widgets=ws, comment=comment, general=list(general),
                  grade=grade, shows_grade=kind == "accident", see_also=see_also)


@router.get("/cases/new")
def choose_kind(request: Request, user: PageUser):
    registry = get_registry()
    kinds = [(k, registry.latest(k).label) for k in registry.kinds() if user.role in creators(k)]
    if not kinds:
        require_role(user, *CREATORS)
    return render(request, "new_case.html", user=user, title="新建案件", kinds=kinds, kind=None)


def _known_kind(request: Request, kind: str):
    if kind not in get_registry().kinds():
        return error_page(request, 404, f"没有案件类型“{kind}”")
    return None


@router.get("/cases/new/{kind}")
def new_case_form(kind: str, request: Request, user: PageUser):
    missing = _known_kind(request, kind)
    if missing:
        return missing
    require_role(user, *creators(kind))
    return _page(request, user, kind)


@router.post("/cases/new/{kind}")
def create(kind: str, request: Request, user: PageUser, form: CheckedForm, background: BackgroundTasks):
    missing = _known_kind(request, kind)
    if missing:
        return missing
    require_role(user, *creators(kind))
    definition, specs = _specs(kind)
    db = request.app.state.db
    with db.session() as s:
        parsed = forms.payload_from_form(s, user, specs, form)
    comment = form.get("comment")
    kept = {**parsed.kept, "comment": comment or ""}
    grade = grade_of(*(form.get(f) for f in GRADE_FIELDS)) if kind == "accident" else None
    if form.get("preview"):  # 预览: the grade the server computes, nothing created
        return _page(request, user, kind, values=kept, grade=grade)
    data = {**parsed.payload, "kind": kind}
    if isinstance(comment, str) and comment.strip():
        data["comment"] = comment
    now = request.app.state.clock.now()
    try:
        with derive.deferred() as pending:
            with db.transaction() as s:
                case = services.create_case(s, user, data, now=now)
                case_id, number = case.id, case.number
        _derive_after(request, background, pending)
    except ValidationFailed as exc:
        by_field, general = forms.field_errors(exc.errors, parsed, [f.name for f in specs] + ["comment"])
        return _page(request, user, kind, values=kept, errors=by_field, general=general, grade=grade, status=422)
    return redirect(request, f"/cases/{case_id}", notice=f"已新建{definition.label} {number}")
