"""Documents (文书) issued by transitions: numbered and recorded in the transition's transaction.

A transition that produces a document (see ``TRANSITION_DOCUMENTS`` / ``CREATION_DOCUMENTS``)
gets, inside its own transaction: a ``documents`` row with a gap-free 文号
(:func:`cases.docnumbers.issue_document_number`, the issuing authority being the case's
jurisdiction), a snapshot of the variables the template needs that belong to this action (the
action's values, the deadline it opened, the re-inspection round, …), an outbox message per
recipient and channel (template = the document type, ``document_no`` = the number) and
``{"documents": [{type, number}]}`` in the event's payload. If the transition rolls back, all of
it — the number included — rolls back with it.

Rendering (PDF + HTML, content hash, storage) happens later, once, in
:mod:`notifications.documents`; facts that are not the action's (project, parties, contact
officer, building, …) are read there by :mod:`notifications.variables`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import outbox, services
from cases.clock import SHANGHAI, to_local
from cases.config import get_settings
from cases.docnumbers import DOCUMENT_TITLES, issue_document_number
from cases.errors import ValidationFailed
from cases.identifiers import cn_num
from cases.models import Case, CaseEvent, Deadline, Document, HazardCatalogItem, Jurisdiction, Supervision
from cases.rules import ActionContext, case_previous_numbers

ISSUED, RENDERED, FAILED = "issued", "rendered", "failed"
STATUS_LABELS = {ISSUED: "已签发，待生成", RENDERED: "已生成", FAILED: "生成失败"}

# Used when the officer gave none (the action's legal_basis field is optional or absent).
DEFAULT_LEGAL_BASIS = {
    "rectification_notice": "《中华人民共和国安全生产法》第六十五条、《建设工程安全生产管理条例》第四十三条",
    "stop_work_order": "《中华人民共和国安全生产法》第六十五条、《建设工程安全生产管理条例》第四十三条",
    "dangerous_building_notice": "《城市危险房屋管理规定》和《危险房屋鉴定标准》（JGJ 125-2016）",
}

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
    from cases.calendar_store import get_calendar
    from cases.deadlines import get_policy
    from cases.legal_time import compute_due

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


# 城市危险房屋管理规定: what each handling option means for the owner, as the notice's measures.
HANDLING_MEASURES = {
    "observe": ["加强日常检查和观察，发现房屋危险情况加剧的，立即停止使用并报告；",
                "按鉴定机构的建议定期委托复查鉴定。"],
    "treat": ["委托具有相应资质的单位编制并实施解危（加固）处理方案，及时排除危险；",
              "处理完成前，在危险部位设置警示标志并采取临时安全防护措施，禁止人员在危险部位停留。"],
    "stop_use": ["立即停止使用该房屋，组织全部居住及使用人员撤离，并妥善安置；",
                 "在房屋周边设置警戒线和危险房屋警示标志，禁止人员进入；",
                 "委托具有资质的单位编制解危方案，实施加固处理或者拆除。"],
    "demolish": ["立即停止使用该房屋，组织全部居住及使用人员撤离，并妥善安置；",
                 "在房屋周边设置警戒线和危险房屋警示标志，禁止人员进入；",
                 "依法委托具有资质的单位实施整体拆除。"],
}

# The catalogue's accident grades (render filter) for the case's grade codes.
ACCIDENT_GRADE_CODES = {"ordinary": "general", "larger": "larger", "major": "major",
                        "especially_major": "especially_major"}

ENTERPRISE_AND_ASSIGNEE = (outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE)


def cause_of(event: CaseEvent) -> str:
    return f"action:{event.id}"


# ---------------------------------------------------------------- helpers


def _lines(text: Any) -> list[str]:
    if text is None:
        return []
    if isinstance(text, (list, tuple)):
        return [str(x).strip() for x in text if str(x).strip()]
    return [line.strip() for line in str(text).splitlines() if line.strip()]


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _deadline_vars(d: Deadline | None) -> dict[str, Any]:
    if d is None or d.due_at is None:
        return {}
    return {"deadline_at": d.due_at.isoformat(), "due_date": d.due_date.isoformat() if d.due_date else None,
            "deadline_provisional": bool(d.provisional)}


def _event_deadline(opened: dict[str, dict[str, Any]] | None, *keys: str) -> dict[str, Any]:
    """The deadline the event itself opened (its payload's ``deadlines``), as snapshot variables."""
    for key in keys:
        d = (opened or {}).get(key)
        if d and d.get("due_at"):
            return {"deadline_at": d["due_at"], "due_date": d.get("due_date"),
                    "deadline_provisional": bool(d.get("provisional"))}
    return {}


def _deadline(session: Session, case: Case, opened: dict[str, dict[str, Any]] | None, *keys: str) -> dict[str, Any]:
    """As of the event: the deadline it opened, else the one open now (an older clock it left running)."""
    return _event_deadline(opened, *keys) or _deadline_vars(_open_deadline(session, case.id, *keys))


def _open_deadline(session: Session, case_id: int, *keys: str) -> Deadline | None:
    for key in keys:
        d = session.scalars(select(Deadline).where(Deadline.case_id == case_id, Deadline.key == key,
                                                   Deadline.status == "open", Deadline.supervision_id.is_(None))
                            .order_by(Deadline.id.desc())).first()
        if d is not None:
            return d
    return None


def _planned_deadline(session: Session, case: Case, key: str, now: datetime) -> dict[str, Any]:
    """The due date a deadline rule would give if it started now (for a notice issued before the
    deadline itself is opened, e.g. a C-grade building's 治理期限)."""
    from cases.calendar_store import get_calendar
    from cases.deadlines import get_policy
    from cases.legal_time import compute_due

    rule = next((r for r in get_policy().rules_for(case.kind) if r.key == key), None)
    if rule is None or not isinstance(rule.amount, int):
        return {}
    due = compute_due(now, rule.amount, rule.unit_for(rule.amount), get_calendar(session))
    return {"deadline_at": due.due_at.isoformat(), "due_date": due.due_date.isoformat(),
            "deadline_provisional": bool(due.provisional)}


def _original_doc_number(session: Session, case: Case) -> str | None:
    """The notice the re-inspection or closure follows up: the latest 整改通知书 / 责令停工通知书."""
    number = session.scalar(select(Document.number).where(
        Document.case_id == case.id, Document.doc_type.in_(("rectification_notice", "stop_work_order")))
        .order_by(Document.id.desc()).limit(1))
    return number


def _catalog_item_text(session: Session, code: str | None) -> str | None:
    if not code:
        return None
    item = session.scalars(select(HazardCatalogItem).where(HazardCatalogItem.item_code == code)
                           .order_by(HazardCatalogItem.effective_from.desc())).first()
    if item is None:
        return None
    where = item.item_code
    article, _, number = item.item_code.partition(".")
    if article.isdigit() and number.isdigit():
        where = f"第{cn_num(int(article))}条第（{cn_num(int(number))}）项"
    return f"《房屋市政工程生产安全重大事故隐患判定标准（{item.edition}版）》（{item.document}）{where}：{item.text}"


def _field_label(case: Case, name: str, value: Any) -> Any:
    definition = services.definition_of(case)
    for spec in (*definition.create_fields, *(f for a in definition.actions for f in a.fields)):
        if spec.name == name and spec.options and value in spec.options:
            return spec.options[value]
    return value


def _rectification_summary(session: Session, case: Case, before_seq: int | None = None) -> str | None:
    """What the unit reported it did: the latest completion report (up to the event), else the
    verification opinion."""
    stmt = select(CaseEvent).where(CaseEvent.case_id == case.id,
                                   CaseEvent.action.in_(("report_completion", "apply_review")))
    if before_seq is not None:
        stmt = stmt.where(CaseEvent.seq <= before_seq)
    events = session.scalars(stmt.order_by(CaseEvent.seq.desc()))
    for e in events:
        report = ((e.payload or {}).get("values") or {}).get("completion_report")
        if report:
            return report
    return ((case.details or {}).get("last_verification") or {}).get("opinion")


# ---------------------------------------------------------------- snapshots per document type
# Each returns (snapshot, recipients roles or users, urgent). Snapshot values are JSON (ISO strings).

Plan = tuple[dict[str, Any], list, bool]


def _rectification_notice(session: Session, case: Case, values: dict[str, Any], now: datetime, *,
                          opened: dict | None = None, **_: Any) -> Plan:
    snap = {"requirements": _lines(values.get("requirements") or (case.details or {}).get("requirements")),
            "legal_basis": values.get("legal_basis") or DEFAULT_LEGAL_BASIS["rectification_notice"],
            **_deadline(session, case, opened, "rectification")}
    return snap, outbox.resolve_recipients(session, case, ENTERPRISE_AND_ASSIGNEE), False


def _stop_work_order(session: Session, case: Case, values: dict[str, Any], now: datetime, *,
                     opened: dict | None = None, **_: Any) -> Plan:
    details = case.details or {}
    partial = (values.get("stop_work_scope") or details.get("stop_work_scope")) == "partial"
    place = case.location or "隐患所在部位"
    snap = {
        "requirements": _lines(values.get("requirements") or details.get("requirements")),
        "legal_basis": (values.get("legal_basis") or details.get("legal_basis")
                        or DEFAULT_LEGAL_BASIS["stop_work_order"]),
        "partial_stop": partial,
        "stop_scope": f"{place}及其影响范围内的施工作业" if partial else "该工程全部施工作业",
        "stop_from": now.isoformat(),
        "hazard_catalog_item": _catalog_item_text(session, values.get("hazard_item_code") or case.hazard_item_code),
        **_deadline(session, case, opened, "rectification"),
    }
    return snap, outbox.resolve_recipients(session, case, ENTERPRISE_AND_ASSIGNEE), False


def _reinspection_opinion(session: Session, case: Case, values: dict[str, Any], now: datetime, *,
                          ctx: Any = None, opened: dict | None = None, **_: Any) -> Plan:
    passed = ctx is not None and ctx.action.name == "verify"
    # rectification_rounds counts failed re-inspections: a reject has already counted itself.
    round_ = case.rectification_rounds if not passed else case.rectification_rounds + 1
    actor = ctx.actor.display_name if ctx is not None and ctx.actor is not None else None
    snap = {
        "original_doc_number": _original_doc_number(session, case),
        "reinspected_at": now.isoformat(),
        "inspectors": values.get("inspectors") or actor,
        "findings": values.get("opinion"),
        "reinspection_passed": passed,
        "rectification_round": max(1, round_),
    }
    if not passed:
        snap["requirements"] = _lines((case.details or {}).get("requirements")) or _lines(values.get("opinion"))
        snap.update(_deadline(session, case, opened, "rectification"))
    return snap, outbox.resolve_recipients(session, case, ENTERPRISE_AND_ASSIGNEE), False


def _closure_confirmation(session: Session, case: Case, values: dict[str, Any], now: datetime, *,
                          opened: dict | None = None, seq: int | None = None, **_: Any) -> Plan:
    last = (case.details or {}).get("last_verification") or {}
    sup = session.scalars(select(Supervision).where(Supervision.case_id == case.id)
                          .order_by(Supervision.id.desc())).first()
    listing = session.get(Jurisdiction, sup.listing_jurisdiction_code) if sup else None
    lookback = _deadline(session, case, opened, "lookback")
    snap = {
        "original_doc_number": _original_doc_number(session, case),
        "rectification_summary": _rectification_summary(session, case, seq),
        "verified_at": last.get("at"),
        "closed_at": now.isoformat(),
        "listing_authority": listing.authority_name if listing else None,
        "lookback_due_date": lookback.get("due_date"),
    }
    roles = [*ENTERPRISE_AND_ASSIGNEE, outbox.LISTING_AUTHORITY]
    recipients = outbox.resolve_recipients(session, case, roles,
                                           listing_jurisdiction_code=listing.code if listing else None)
    return snap, recipients, False


def _accident_flash_report(session: Session, case: Case, values: dict[str, Any], now: datetime, **_: Any) -> Plan:
    d = case.details or {}
    snap = {
        "reported_at": now.isoformat(),
        "occurred_at": d.get("occurred_at"),
        "accident_type": _field_label(case, "accident_type", d.get("accident_type")),
        "accident_grade": ACCIDENT_GRADE_CODES.get(case.accident_grade or "") or "pending",
        "deaths": int(d.get("deaths") or 0),
        "serious_injuries": int(d.get("serious_injuries") or 0),
        "missing_persons": int(d.get("missing_persons") or 0),
        "direct_loss_yuan": d.get("direct_loss") or 0,
        "sequence": d.get("brief") or case.description or case.title,
        "cause_preliminary": d.get("cause") or "正在调查，待续报",
        "measures_taken": d.get("measures_taken") or "待续报",
    }
    j = session.get(Jurisdiction, case.jurisdiction_code)
    parent = j.parent_code if j is not None and j.parent_code else case.jurisdiction_code
    return snap, outbox.nearest_supervisors(session, parent), True


def _dangerous_building_notice(session: Session, case: Case, values: dict[str, Any], now: datetime, *,
                               opened: dict | None = None, **_: Any) -> Plan:
    from cases.models import Building

    handling = values.get("handling")
    snap = {
        "appraisal_grade": values.get("appraisal_grade") or case.appraisal_grade,
        "appraisal_org": values.get("appraisal_org"),
        "appraisal_report_number": values.get("appraisal_report_no"),
        "appraised_at": values.get("appraised_on"),
        "handling_option": handling,
        "measures": HANDLING_MEASURES.get(handling, []),
        "legal_basis": values.get("legal_basis") or DEFAULT_LEGAL_BASIS["dangerous_building_notice"],
    }
    building = session.get(Building, case.building_id) if case.building_id else None
    if building is not None and building.owner_name:
        snap["recipient"] = building.owner_name
    # D grade: the 24-hour stop-use clock; otherwise the 治理期限 the rule will give.
    snap.update(_deadline(session, case, opened, "stop_use", "rectification")
                or _planned_deadline(session, case, "rectification", now))
    return snap, outbox.resolve_recipients(session, case, ENTERPRISE_AND_ASSIGNEE), False


SNAPSHOTS: dict[str, Callable[..., Plan]] = {
    "rectification_notice": _rectification_notice,
    "stop_work_order": _stop_work_order,
    "reinspection_opinion": _reinspection_opinion,
    "closure_confirmation": _closure_confirmation,
    "accident_flash_report": _accident_flash_report,
    "dangerous_building_notice": _dangerous_building_notice,
}

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
}
CREATION_DOCUMENTS: dict[str, tuple[str, ...]] = {"accident": ("accident_flash_report",)}


# ---------------------------------------------------------------- issuing


def _title(doc_type: str) -> str:
    return DOCUMENT_TITLES.get(doc_type, doc_type)


def issue(session: Session, case: Case, doc_type: str, *, cause: str, now: datetime, snapshot: dict[str, Any],
          recipients: Iterable, urgent: bool = False, issuer: Jurisdiction | None = None) -> Document:
    """Number and record one document and enqueue its messages, in the caller's transaction.

    Idempotent per (case, cause, type): a second call returns the document already issued.
    """
    existing = session.scalars(select(Document).where(Document.case_id == case.id, Document.cause == cause,
                                                      Document.doc_type == doc_type)).first()
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
    session.add(doc)
    session.flush()
    doc.enqueued = outbox.enqueue(session, case=case, template=doc_type, recipients=list(recipients), cause=cause,
                                  variables=variables, now=now, urgent=urgent, document_no=number)
    return doc


# Installed by notifications.documents: fn(session, case, doc_type, contact) → field errors for the
# facts of the case the document cannot be filled with (a missing builder, a contact phone, …). An
# action that would issue such a document is refused (422), in its own transaction, before anything
# is written, instead of leaving a notice that never renders. None (cases used alone): unchecked.
preflight: Callable[[Session, Case, str, dict[str, Any]], list[dict[str, str]]] | None = None

# The case's columns a document's snapshot reads, kept on the event as they were at it: the
# documents are derived after commit (cases/derive.py), when the case may have moved on.
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
    from cases import derive

    derive.schedule(session, case.id)


def _on_transition(session: Session, ctx: ActionContext, event: CaseEvent) -> None:
    doc_types = TRANSITION_DOCUMENTS.get((ctx.definition.kind, ctx.action.name))
    if doc_types:
        mark_due(session, ctx.case, doc_types, event, ctx.actor)


def _on_create(session: Session, case: Case, event: CaseEvent) -> None:
    doc_types = CREATION_DOCUMENTS.get(case.kind)
    if doc_types:
        mark_due(session, case, doc_types, event)


# Runs after cases.deadlines' hooks (services.HOOK_ORDER), whatever the import order: the deadlines
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
