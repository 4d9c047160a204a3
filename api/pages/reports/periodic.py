"""定期报表 pages (cases/reports/, docs/reports.md): pick a period and a jurisdiction and read its
figures as of a cut-off (each figure the ledger can select links to the ledger list), submit the
district's own report, the versions submitted, a submission re-run with the events recorded after
its cut-off, the city's board of its districts' submissions, and the .xlsx / PDF files. The same
services and checks as ``/api/reports/periodic``; staff only."""
from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, redirect, render
from api.pages.cockpit import _staff
from api.routes.reports.periodic import _cutoff, report_file
from cases.platform.errors import ActionNotAllowed, Forbidden, ValidationFailed
from cases.reports import policy, services
from cases.reports.tables import sections

router = APIRouter(include_in_schema=False)


def default_period(today: date, kind: str) -> str:
    """The last period that has ended: last month, last quarter, last half-year, last year."""
    y, m = today.year, today.month
    if kind == "month":
        return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"
    if kind == "quarter":
        q = (m - 1) // 3
        return f"{y - 1}-Q4" if q == 0 else f"{y}-Q{q}"
    if kind == "half":
        return f"{y - 1}-H2" if m <= 6 else f"{y}-H1"
    return str(y - 1)


def _choice(request: Request, user, jurisdiction: str | None, period_kind: str | None, period: str | None):
    kind = period_kind if period_kind in policy.KINDS else "month"
    today = request.app.state.clock.today()
    return (jurisdiction or user.jurisdiction_code).strip()[:12], kind, (period or default_period(today, kind)).strip()


def url(path: str = "/reports/periodic", **params: Any) -> str:
    return path + "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


@router.get("/reports/periodic")
def periodic_report(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                    period_kind: str | None = Query(None, max_length=8), period: str | None = Query(None, max_length=8),
                    cutoff: str | None = Query(None, max_length=40)):
    _staff(user)
    code, kind, key = _choice(request, user, jurisdiction, period_kind, period)
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        rep = services.public(services.report(s, user, code, kind, key, cutoff=_cutoff(cutoff), now=now))
        subs = services.submissions(s, user, code, kind, key)
        subs = [services.submission_json(x, figures=False) for x in subs]
        tree = services.subtree(s, code)
    period_obj = policy.parse_period(kind, key)
    can_submit = user.jurisdiction_code == code and request.app.state.clock.today() > period_obj.last
    scope = {"jurisdiction": code, "period_kind": kind, "period": key}
    return render(request, "reports/periodic.html", user=user, title=f"定期报表 · {rep['period']['label']}", rep=rep,
                  sections=sections(rep), subs=subs, scope=scope, kinds=policy.KIND_LABELS, cutoff=cutoff or "",
                  can_submit=can_submit, has_children=bool(tree and tree.children),
                  deadline=policy.cn_date(date.fromisoformat(rep["deadline"])),
                  files={f: url(f"/reports/periodic/export.{f}", **scope, cutoff=cutoff) for f in ("xlsx", "pdf")},
                  board_url=url("/reports/periodic/board", **scope))


@router.post("/reports/periodic/submit")
def periodic_submit(request: Request, user: PageUser, form: CheckedForm):
    code, kind, key = (str(form.get(k) or "").strip() for k in ("jurisdiction", "period_kind", "period"))
    back = url(jurisdiction=code, period_kind=kind, period=key)
    try:
        with request.app.state.db.transaction() as s:
            sub = services.submit(s, user, code, kind, key, now=request.app.state.clock.now(),
                                  note=str(form.get("note") or "") or None)
            number, version = sub.doc_number, sub.version
    except ValidationFailed as exc:
        return redirect(request, back, "未报送：" + "；".join(f"{e.get('label')}{e.get('message')}" for e in exc.errors))
    except (ActionNotAllowed, Forbidden) as exc:
        return redirect(request, back, f"未报送：{exc}")
    return redirect(request, back, f"已报送（第{version}版），文号 {number}")


@router.get("/reports/periodic/board")
def periodic_board(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                   period_kind: str | None = Query(None, max_length=8), period: str | None = Query(None, max_length=8)):
    _staff(user)
    code, kind, key = _choice(request, user, jurisdiction, period_kind, period)
    with request.app.state.db.session() as s:
        board = services.overview(s, user, code, kind, key, now=request.app.state.clock.now())
    scope = {"jurisdiction": code, "period_kind": kind, "period": key}
    return render(request, "reports/board.html", user=user, title=f"报送情况 · {board['period']['label']}", board=board,
                  scope=scope, kinds=policy.KIND_LABELS, report_url=url(**scope))


@router.get("/reports/periodic/submissions/{submission_id:int}")
def periodic_submission(submission_id: int, request: Request, user: PageUser):
    _staff(user)
    with request.app.state.db.session() as s:
        out = services.rerun(s, user, submission_id, now=request.app.state.clock.now())
        sub = services.get_submission(s, user, submission_id)
        frozen = sub.figures
    return render(request, "reports/submission.html", user=user, title=f"报表 {out['submission']['doc_number']}",
                  out=out, sub=out["submission"], sections=sections(frozen))


@router.get("/reports/periodic/export.{fmt}")
def periodic_export(fmt: str, request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                    period_kind: str | None = Query(None, max_length=8), period: str | None = Query(None, max_length=8),
                    cutoff: str | None = Query(None, max_length=40)):
    _staff(user)
    if fmt not in ("xlsx", "pdf"):
        raise ValidationFailed([{"field": "format", "label": "文件格式", "message": "应为 xlsx 或 pdf"}])
    code, kind, key = _choice(request, user, jurisdiction, period_kind, period)
    with request.app.state.db.session() as s:
        rep = services.report(s, user, code, kind, key, cutoff=_cutoff(cutoff), now=request.app.state.clock.now())
        return report_file(s, user, services.public(rep), None, fmt)


@router.get("/reports/periodic/submissions/{submission_id:int}.{fmt}")
def periodic_submission_file(submission_id: int, fmt: str, request: Request, user: PageUser):
    _staff(user)
    if fmt not in ("xlsx", "pdf"):
        raise ValidationFailed([{"field": "format", "label": "文件格式", "message": "应为 xlsx 或 pdf"}])
    with request.app.state.db.session() as s:
        sub = services.get_submission(s, user, submission_id)
        return report_file(s, user, sub.figures, sub, fmt)
