"""What each document of an action says: its snapshot of the action (values, the deadline it
opened, the re-inspection round, …) and its recipients, per document type (``SNAPSHOTS``).

Called when the documents are derived after commit (cases/issuance/derive.py) with the case as it was at the
event (a transient ``Case`` from the event's ``at_event``) and the deadlines the event opened (its
payload's ``deadlines``), so a document says what was true at the event.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.issuance.docnumbers import DOCUMENT_TITLES
from cases.ledger import services
from cases.ledger.identifiers import cn_num
from cases.models import Case, CaseEvent, Deadline, Document, HazardCatalogItem, Jurisdiction, Supervision
from cases.reads.jurisdiction_cache import jurisdiction_rows

# Used when the officer gave none (the action's legal_basis field is optional or absent).
DEFAULT_LEGAL_BASIS = {
    "rectification_notice": "《中华人民共和国安全生产法》第六十五条、《建设工程安全生产管理条例》第四十三条",
    "stop_work_order": "《中华人民共和国安全生产法》第六十五条、《建设工程安全生产管理条例》第四十三条",
    "dangerous_building_notice": "《城市危险房屋管理规定》和《危险房屋鉴定标准》（JGJ 125-2016）",
}

ENTERPRISE_AND_ASSIGNEE = (outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE)


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



# ---------------------------------------------------------------- helpers


def _lines(text: Any) -> list[str]:
    if text is None:
        return []
    if isinstance(text, (list, tuple)):
        return [str(x).strip() for x in text if str(x).strip()]
    return [line.strip() for line in str(text).splitlines() if line.strip()]


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
        d = session.scalars(_OPEN_DEADLINE, {"case_id": case_id, "key": key}).first()
        if d is not None:
            return d
    return None


# Statements built once (their construction and cache key cost more than PostgreSQL's answer).
_OPEN_DEADLINE = (select(Deadline)
                  .where(Deadline.case_id == bindparam("case_id"), Deadline.key == bindparam("key"),
                         Deadline.status == "open", Deadline.supervision_id.is_(None))
                  .order_by(Deadline.id.desc()).limit(1))


def _planned_deadline(session: Session, case: Case, key: str, now: datetime) -> dict[str, Any]:
    """The due date a deadline rule would give if it started now (for a notice issued before the
    deadline itself is opened, e.g. a C-grade building's 治理期限)."""
    from cases.calendar.calendar_store import get_calendar
    from cases.clocks.deadlines import get_policy
    from cases.clocks.legal_time import compute_due

    rule = next((r for r in get_policy().rules_for(case.kind) if r.key == key), None)
    if rule is None or not isinstance(rule.amount, int):
        return {}
    due = compute_due(now, rule.amount, rule.unit_for(rule.amount), get_calendar(session))
    return {"deadline_at": due.due_at.isoformat(), "due_date": due.due_date.isoformat(),
            "deadline_provisional": bool(due.provisional)}


def _original_notice(session: Session, case: Case) -> dict[str, Any]:
    """The notice the re-inspection or closure follows up — the latest 整改通知书 or 责令停工通知书 —
    by its number and its own title: a major hazard's first notice is a 责令停工通知书, and a letter
    must not call it a 隐患整改通知书."""
    row = session.execute(_ORIGINAL_NOTICE, {"case_id": case.id}).first()
    if row is None:
        return {"original_doc_number": None}
    number, doc_type = row
    return {"original_doc_number": number, "original_doc_title": DOCUMENT_TITLES[doc_type]}


_ORIGINAL_NOTICE = (select(Document.number, Document.doc_type)
                    .where(Document.case_id == bindparam("case_id"),
                           Document.doc_type.in_(("rectification_notice", "stop_work_order")))
                    .order_by(Document.id.desc()).limit(1))


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
    if before_seq is None:
        payloads = session.scalars(_REPORT_PAYLOADS, {"case_id": case.id})
    else:
        payloads = session.scalars(_REPORT_PAYLOADS_UP_TO, {"case_id": case.id, "seq": before_seq})
    for payload in payloads:
        report = ((payload or {}).get("values") or {}).get("completion_report")
        if report:
            return report
    return ((case.details or {}).get("last_verification") or {}).get("opinion")


_REPORTS = (CaseEvent.case_id == bindparam("case_id"), CaseEvent.action.in_(("report_completion", "apply_review")))
_REPORT_PAYLOADS = select(CaseEvent.payload).where(*_REPORTS).order_by(CaseEvent.seq.desc())
_REPORT_PAYLOADS_UP_TO = (select(CaseEvent.payload).where(*_REPORTS, CaseEvent.seq <= bindparam("seq"))
                          .order_by(CaseEvent.seq.desc()))


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
        **_original_notice(session, case),
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
    listing_code = session.scalar(_LATEST_LISTING, {"case_id": case.id})
    # The process's reference cache (cases/reads/jurisdiction_cache.py): no query for a code read before.
    listing = jurisdiction_rows(session, [listing_code]).get(listing_code) if listing_code else None
    lookback = _deadline(session, case, opened, "lookback")
    snap = {
        **_original_notice(session, case),
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


# The authority that listed the case's latest supervision (挂牌督办), if it was ever listed.
_LATEST_LISTING = (select(Supervision.listing_jurisdiction_code).where(Supervision.case_id == bindparam("case_id"))
                   .order_by(Supervision.id.desc()).limit(1))


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


def _occurrence_flash_report(session: Session, case: Case, values: dict[str, Any], now: datetime, **_: Any) -> Plan:
    """险情快报: the 重大险情's facts as recorded, to the authority one level up (as the 事故快报)."""
    d = case.details or {}
    snap = {
        "reported_at": now.isoformat(),
        "occurred_at": d.get("occurred_at"),
        "occurrence_type": _field_label(case, "occurrence_type", d.get("occurrence_type")),
        "endangered": int(d.get("endangered") or 0),
        "evacuated": int(d.get("evacuated") or 0),
        "minor_injuries": int(d.get("minor_injuries") or 0),
        "direct_loss_yuan": d.get("direct_loss") or 0,
        "sequence": d.get("brief") or case.description or case.title,
        "measures_taken": d.get("measures_taken") or "待续报",
    }
    if values.get("reported_to"):
        snap["recipient"] = values["reported_to"]
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
    "occurrence_flash_report": _occurrence_flash_report,
}
