"""The case page (``/cases/{id}``): the read side of one case, and the cookie-authenticated twins of
the document files (``/documents/{id}.pdf`` / ``.html``).

Everything comes from ``api.pages.cases.case_view`` (the API's own functions and labels); the state
diagram is drawn from the machine definition by ``api.pages.cases.diagram``. The action buttons are the
actions ``services.allowed_actions`` lets this user take now, each linking to its form page
(``/cases/{id}/actions/{action}``). A case the user may not see is the same 404 page as a missing one.
"""
from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import AppSettings
from api.pages.cases.case_view import case_view
from api.pages.common import PageUser, render
from api.pages.cases.diagram import state_diagram_svg
from api.routes.documents import document_file

from api.pages.cases.evidence import evidence_items
from api.pages.complaints import case_complaints_view
from api.pages.sanctions.interviews import case_interviews_view
from api.pages.sanctions.referrals import case_referrals_view

router = APIRouter(include_in_schema=False)


@router.get("/cases/{case_id:int}")  # :int — never shadows /cases/new
def case_page(case_id: int, request: Request, user: PageUser):
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        view = case_view(s, user, case_id, now)
        evidence = evidence_items(s, user, case_id)
        complaints = case_complaints_view(s, user, case_id, now)
        interviews = case_interviews_view(s, user, case_id, now)
        referrals = case_referrals_view(s, user, case_id, now)
    case = view["case"]
    # An upload can be tied to the action it documents (整改后照片 → 报告整改完成).
    events = [{"id": e["id"], "label": f"{e['label']}（{e['actor']}）"} for e in view["timeline"] if e.get("id")]
    return render(request, "case/page.html", user=user, title=f"{case['number']} {case['title']}",
                  diagram=state_diagram_svg(view["definition"], case["state"]), evidence=evidence,
                  evidence_events=events, complaints=complaints, interviews=interviews, referrals=referrals,
                  may_open_interview=user.role in ("officer", "supervisor"), **view)


@router.get("/documents/{doc_id}.pdf")
def document_pdf_page(doc_id: int, request: Request, user: PageUser, settings: AppSettings):
    return document_file(request, request.app.state.db, settings, user, doc_id, "pdf")


@router.get("/documents/{doc_id}.html")
def document_html_page(doc_id: int, request: Request, user: PageUser, settings: AppSettings):
    return document_file(request, request.app.state.db, settings, user, doc_id, "html")


@router.get("/cases/{case_id:int}/accident-report")
def accident_report_page(case_id: int, request: Request, user: PageUser):
    """事故信息报送表, printable: what a clerk keys into the national platform (cases/reads/accident_report.py)."""
    from cases.reads.accident_report import accident_report

    with request.app.state.db.session() as s:
        report = accident_report(s, user, case_id, request.app.state.clock.now())
    return render(request, "case/accident_report.html", user=user, title=f"事故信息报送表 {report['case_number']}",
                  report=report)
