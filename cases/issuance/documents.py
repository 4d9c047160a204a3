"""Documents (文书) of actions and ladder rungs: which documents a step issues, how one is numbered
and recorded, and how they are read.

An action or a creation whose step produces documents (``TRANSITION_DOCUMENTS`` /
``CREATION_DOCUMENTS``) only checks and marks them in its own transaction (:func:`mark_due`): the
preflight of the facts they need (422 naming the field) and the event's ``derive_due`` mark with
``documents_due`` and ``at_event``. They are derived after commit by :mod:`cases.issuance.derive`, which calls
:func:`issue` per document: a ``documents`` row with a gap-free 文号
(:func:`cases.issuance.docnumbers.issue_document_number`, the issuing authority being the case's
jurisdiction), the snapshot of the action (:mod:`cases.issuance.doc_snapshots`), an outbox message per
recipient and channel (template = the document type, ``document_no`` = the number), exactly once per
(case, cause, type). The sweep's rungs (cases/clocks/escalation.py, cases/clocks/supervision.py) still issue their
letters with :func:`issue` / :func:`record` inside the rung's own transaction.

Rendering (PDF + HTML, content hash, storage) happens later, once, in
:mod:`notifications.documents.store`; facts that are not the action's (project, parties, contact
officer, building, …) are read there by :mod:`notifications.rendering.variables`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.ledger import services
from cases.platform.clock import SHANGHAI, to_local
from cases.platform.config import get_settings
from cases.platform.db import insert_as_loaded
from cases.issuance.docnumbers import DOCUMENT_TITLES, issue_document_number
from cases.platform.errors import ValidationFailed
from cases.models import Case, CaseEvent, Document, Jurisdiction
from cases.ledger.rules import ActionContext, case_previous_numbers

ISSUED, RENDERED, FAILED = "issued", "rendered", "failed"
STATUS_LABELS = {ISSUED: "已签发，待生成", RENDERED: "已生成", FAILED: "生成失败"}

# The snapshot of each document type (cases/issuance/doc_snapshots.py), re-exported where they were.
from cases.issuance.doc_snapshots import (  # noqa: E402,F401
    ACCIDENT_GRADE_CODES, DEFAULT_LEGAL_BASIS, HANDLING_MEASURES, SNAPSHOTS, _catalog_item_text,
)

# Printed as 根据…的（有关）规定: a name of laws, never itself ending in 规定.
_LADDER_BASIS = "《中华人民共和国安全生产法》《建设工程安全生产管理条例》"


def ladder_defaults(doc_type: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    """What the escalation ladder's letters say when the rung gave nothing more specific."""
    if doc_type == "warning_letter":
        return {"legal_basis": DEFAULT_LEGAL_BASIS["rectification_notice"],
                "requirements": ["接函后立即组织整改，消除事故隐患；整改期间落实安全防范措施，确保施工安全",
                                 "查明逾期未完成整改的原因，落实整改责任人"]}
    if doc_type == "supervision_letter":
        return {"legal_basis": _LADDER_BASIS,
                "requirements": ["督促责任单位立即完成隐患整改，并组织复查", "查明逾期原因，依法依规追究有关单位责任"]}
    if doc_type == "interview_notice":
        return {"legal_basis": _LADDER_BASIS, "attendees_required": "单位主要负责人、分管负责人及督办事项承办人员",
                "materials": ["督办事项整改情况书面报告", "逾期未完成的原因说明及下一步措施"]}
    if doc_type == "public_criticism":
        return {"legal_basis": _LADDER_BASIS,
                "facts": f"“{snapshot.get('case_title', '')}”挂牌督办事项逾期未完成，督办责任落实不到位。",
                "requirements": ["深刻反思，立即督促责任单位完成整改", "举一反三，全面排查辖区内同类问题"]}
    return {}


# Letters of the ladder whose requested date is counted from their own issue (policy ``letters``
# in escalation-vN.yaml): a letter never asks for something by a date before it was issued —
# an overdue case's letter asks for completion by a new date, and names the missed one apart.
LETTER_DATES = {"warning_letter": "complete_within", "public_criticism": "complete_within",
                "interview_notice": "interview_after"}


def ladder_dates(session: Session, doc_type: str, now: datetime) -> dict[str, Any]:
    """The dates a ladder letter issued at ``now`` asks for (ISO strings), from the policy."""
    key = LETTER_DATES.get(doc_type)
    if key is None:
        return {}
    from cases.calendar.calendar_store import get_calendar
    from cases.clocks.deadlines import get_policy
    from cases.clocks.legal_time import compute_due

    rule = get_policy().letters[key]
    due = compute_due(now, int(rule["amount"]), rule["unit"], get_calendar(session))
    if doc_type == "interview_notice":
        hour, minute = (int(x) for x in str(rule.get("at", "09:30")).split(":"))
        at = datetime.combine(due.due_date, datetime.min.time().replace(hour=hour, minute=minute), tzinfo=SHANGHAI)
        return {"interview_at": at.isoformat()}
    return {"deadline_at": due.due_at.isoformat(), "due_date": due.due_date.isoformat(),
            "deadline_provisional": bool(due.provisional)}


def letter_variables(doc_type: str, snapshot: dict[str, Any], dates: dict[str, Any], issued_at: Any) -> dict[str, Any]:
    """A ladder letter's stored variables: defaults < the rung's snapshot < the dates it asks for.
    The deadline the snapshot carries, if replaced by a new date, is kept as the missed one."""
    out = {**ladder_defaults(doc_type, snapshot), **snapshot}
    if dates.get("due_date") and out.get("due_date") and not out.get("original_due_date"):
        out["original_due_date"] = out["due_date"]
    return {**out, **dates, "issued_at": issued_at}


from cases.issuance.doc_snapshots import ENTERPRISE_AND_ASSIGNEE  # noqa: E402,F401  (re-exported)


def cause_of(event: CaseEvent) -> str:
    return f"action:{event.id}"


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


# (kind before the action, action) → document types it issues.
TRANSITION_DOCUMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("hazard", "register"): ("rectification_notice",),
    ("major_hazard", "register"): ("stop_work_order",),
    ("hazard", "reclassify"): ("stop_work_order",),
    ("hazard", "verify"): ("reinspection_opinion",),
    ("hazard", "reject"): ("reinspection_opinion",),
    ("major_hazard", "verify"): ("reinspection_opinion",),
    ("major_hazard", "reject"): ("reinspection_opinion",),
    ("hazard", "close"): ("closure_confirmation",),
    ("major_hazard", "close"): ("closure_confirmation",),
    ("dangerous_building", "register"): ("dangerous_building_notice",),
    ("dangerous_occurrence", "report_up"): ("occurrence_flash_report",),
    ("dangerous_occurrence", "reclassify"): ("accident_flash_report",),  # as an accident's creation does
}
CREATION_DOCUMENTS: dict[str, tuple[str, ...]] = {"accident": ("accident_flash_report",)}


# ---------------------------------------------------------------- issuing


def _title(doc_type: str) -> str:
    return DOCUMENT_TITLES.get(doc_type, doc_type)


# Built once: every derived document looks for itself first (~0.13 ms of CPU to build and key it).
_ISSUED = select(Document).where(Document.case_id == bindparam("case_id"), Document.cause == bindparam("cause"),
                                 Document.doc_type == bindparam("doc_type"))


def issue(session: Session, case: Case, doc_type: str, *, cause: str, now: datetime, snapshot: dict[str, Any],
          recipients: Iterable, urgent: bool = False, issuer: Jurisdiction | None = None) -> Document:
    """Number and record one document and enqueue its messages, in the caller's transaction.

    Idempotent per (case, cause, type): a second call returns the document already issued.
    """
    existing = session.scalars(_ISSUED, {"case_id": case.id, "cause": cause, "doc_type": doc_type}).first()
    if existing is not None:
        return existing
    issuer = issuer or session.get(Jurisdiction, case.jurisdiction_code)
    number = issue_document_number(session, issuer, doc_type, to_local(now).year, get_settings().doc_number_prefixes)
    return record(session, case, doc_type, number=number, issuer=issuer, cause=cause, now=now, snapshot=snapshot,
                  recipients=recipients, urgent=urgent)


def record(session: Session, case: Case, doc_type: str, *, number: str, issuer: Jurisdiction, cause: str,
           now: datetime, snapshot: dict[str, Any], recipients: Iterable, urgent: bool = False) -> Document:
    """Record a document whose 文号 was already taken (e.g. a 挂牌督办通知书, numbered before its
    supervision row exists) and enqueue its messages."""
    # The case number as it stands at issue (and 原编号 after a reclassification), not at render time.
    numbers = {"case_number": case.number, "original_case_number": "、".join(case_previous_numbers(case)) or None}
    variables = {k: _iso(v) for k, v in {**numbers, **letter_variables(doc_type, snapshot, ladder_dates(session, doc_type, now),
                                                                       now)}.items() if v is not None}
    doc = Document(case_id=case.id, doc_type=doc_type, number=number, title=_title(doc_type),
                   issuing_jurisdiction_code=issuer.code, variables=variables, status=ISSUED, cause=cause,
                   issued_at=now)
    insert_as_loaded(session, doc)  # its id for the messages; one INSERT on the table
    doc.enqueued = outbox.enqueue(session, case=case, template=doc_type, recipients=list(recipients), cause=cause,
                                  variables=variables, now=now, urgent=urgent, document_no=number)
    return doc


# Installed by notifications.documents.store: fn(session, case, doc_type, contact) → field errors for the
# facts of the case the document cannot be filled with (a missing builder, a contact phone, …). An
# action that would issue such a document is refused (422), in its own transaction, before anything
# is written, instead of leaving a notice that never renders. None (cases used alone): unchecked.
preflight: Callable[[Session, Case, str, dict[str, Any]], list[dict[str, str]]] | None = None

# The case's columns a document's snapshot reads, kept on the event as they were at it: the
# documents are derived after commit (cases/issuance/derive.py), when the case may have moved on.
CASE_FACTS = ("number", "previous_numbers", "kind", "machine_version", "state", "jurisdiction_code", "title",
              "description", "location", "details", "rectification_rounds", "assignee_id", "enterprise_id",
              "project_id", "building_id", "hazard_item_code", "appraisal_grade", "accident_grade",
              "created_by_id")


def _contact(session: Session, case: Case, actor: Any) -> dict[str, Any]:
    """The 联系人 of a document of a case nobody is assigned to (e.g. a flash report): the officer
    who acted (or recorded the case)."""
    if case.assignee_id:
        return {}
    from cases.models import User

    who = actor if actor is not None else session.get(User, case.created_by_id)
    if who is not None and who.role in ("officer", "supervisor"):
        return {"contact_name": who.display_name, "contact_phone": who.phone}
    return {}


def mark_due(session: Session, case: Case, doc_types: Iterable[str], event: CaseEvent, actor: Any = None) -> None:
    """In the action's transaction: refuse if a document's facts are missing (422), else mark the
    event as having documents due — with what they need that could change later — and have them
    derived after commit. Nothing numbered, no recipient read, no message written here."""
    doc_types = list(doc_types)
    contact = _contact(session, case, actor)
    if preflight is not None:
        errors: list[dict[str, str]] = []
        for doc_type in doc_types:
            errors += [e for e in preflight(session, case, doc_type, contact) if e not in errors]
        if errors:
            raise ValidationFailed(errors)
    event.derive_due = True  # written with the payload below: the one UPDATE of the event after its hooks
    facts = {k: _iso(getattr(case, k)) for k in CASE_FACTS}
    services.add_to_event_payload(event, documents_due=[{"type": t, "title": _title(t)} for t in doc_types],
                                  at_event={**facts, "contact": contact})
    from cases.issuance import derive

    derive.schedule(session, case.id)


def _on_transition(session: Session, ctx: ActionContext, event: CaseEvent) -> None:
    doc_types = TRANSITION_DOCUMENTS.get((ctx.definition.kind, ctx.action.name))
    if doc_types:
        mark_due(session, ctx.case, doc_types, event, ctx.actor)


def _on_create(session: Session, case: Case, event: CaseEvent) -> None:
    doc_types = CREATION_DOCUMENTS.get(case.kind)
    if doc_types:
        mark_due(session, case, doc_types, event)


# Runs after cases.clocks.deadlines' hooks (services.HOOK_ORDER), whatever the import order: the deadlines
# a transition opens are in the event's payload when the documents are derived from it.
services.register_hooks("documents", transition=_on_transition, creation=_on_create)


# ---------------------------------------------------------------- reading


ISSUING = "issuing"
ISSUING_LABEL = "生成中"


def case_documents(session: Session, case_id: int) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id)))


def issuing_json(event: CaseEvent) -> list[dict[str, Any]]:
    """The documents an event has due and not yet issued (derived after commit): 生成中."""
    return [{"id": None, "case_id": event.case_id, "doc_type": d["type"], "title": d.get("title") or _title(d["type"]),
             "number": None, "status": ISSUING, "status_label": ISSUING_LABEL, "cause": cause_of(event),
             "issued_at": None, "pdf_url": None, "html_url": None}
            for d in (event.payload or {}).get("documents_due") or []]


def issuing_documents(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's documents that are due and not yet issued (one indexed read)."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.derive_due.is_not(None))
                             .order_by(CaseEvent.seq))
    return [d for e in events for d in issuing_json(e)]


def document_json(doc: Document) -> dict[str, Any]:
    rendered = doc.status == RENDERED
    return {
        "id": doc.id, "case_id": doc.case_id, "doc_type": doc.doc_type, "title": doc.title, "number": doc.number,
        "issuing_jurisdiction_code": doc.issuing_jurisdiction_code, "status": doc.status,
        "status_label": STATUS_LABELS.get(doc.status, doc.status), "sha256": doc.sha256, "error": doc.error,
        "cause": doc.cause, "issued_at": doc.issued_at, "rendered_at": doc.rendered_at,
        "pdf_url": f"/api/documents/{doc.id}.pdf" if rendered else None,
        "html_url": f"/api/documents/{doc.id}.html" if rendered else None,
        # A failed render can be retried (same 文号) by the case's officers and administrators.
        "render_attempts": doc.render_attempts or 0, "next_render_at": doc.next_render_at,
        "retry_url": f"/api/documents/{doc.id}/rerender" if doc.status == FAILED else None,
    }
