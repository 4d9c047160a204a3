"""The full template variables of an outbox row: what the database knows, then what the row stored.

Rungs store only a subset of what templates need (see ``cases/escalation.py``); the rest (project,
parties with 统一社会信用代码, authority, contact officer, deadline) is read here at delivery time.
Precedence, lowest first: database facts < ``case.details`` entries named like catalogue variables
< the row's stored ``variables`` < ``document_no``. Values are then coerced to the types the
catalogue declares (stored JSON has ISO strings for instants and dates).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.config import Settings, get_settings
from cases.models import Case, Deadline, Enterprise, Jurisdiction, OutboxMessage, Project, User
from notifications.catalog import CATALOG, _VARIABLES

PARTY_ROLES = {"contractor": "contractor", "builder": "builder", "supervisor": "supervision_unit"}


def case_url(case_id: int, settings: Settings | None = None) -> str:
    base = (settings or get_settings()).base_url.rstrip("/")
    return f"{base}/cases/{case_id}"


def case_facts(session: Session, case: Case, settings: Settings | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "case_number": case.number, "case_title": case.title, "case_url": case_url(case.id, settings),
        "location": case.location or None, "hazard_description": case.description or None,
        "inspected_at": case.found_at, "case_id": case.id,
    }
    j = session.get(Jurisdiction, case.jurisdiction_code)
    if j is not None:
        out["issuing_authority"] = j.authority_name
        out["jurisdiction_name"] = j.name
    if case.project_id:
        project = session.get(Project, case.project_id)
        if project is not None:
            out["project_name"] = project.name
            out.setdefault("location", project.address)
            for party in project.parties:
                prefix = PARTY_ROLES.get(party.role)
                if prefix and party.enterprise is not None:
                    out[f"{prefix}_name"] = party.enterprise.name
                    out[f"{prefix}_credit_code"] = party.enterprise.credit_code
        # A party the project never registered is printed as such, not left to fail the whole notice.
        for prefix in PARTY_ROLES.values():
            out.setdefault(f"{prefix}_name", "（未登记）")
            out.setdefault(f"{prefix}_credit_code", "—")
    if case.enterprise_id and out.get("contractor_name") in (None, "（未登记）"):
        e = session.get(Enterprise, case.enterprise_id)
        if e is not None:
            out["contractor_name"], out["contractor_credit_code"] = e.name, e.credit_code
    if out.get("contractor_name"):
        out["recipient"] = out["contractor_name"]
    if case.assignee_id:
        officer = session.get(User, case.assignee_id)
        if officer is not None:
            out["contact_name"] = officer.display_name
            out["contact_phone"] = officer.phone
    deadline = session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.status == "open")
                               .order_by(Deadline.due_at.asc().nulls_last(), Deadline.id)).first()
    if deadline is not None:
        out.update({"deadline_at": deadline.due_at, "due_date": deadline.due_date,
                    "deadline_provisional": deadline.provisional, "task": deadline.label})
    return {k: v for k, v in out.items() if v is not None}


def _coerce(name: str, value: Any) -> Any:
    var = _VARIABLES.get(name)
    if var is None or not isinstance(value, str):
        return value
    if var.type.startswith("list[str]"):
        return [line for line in (x.strip() for x in value.splitlines()) if line]
    kind = var.type.split(" ")[0].split("|")[0].strip()
    try:
        if kind == "datetime":
            dt = datetime.fromisoformat(value)
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
        if kind == "date":
            return date.fromisoformat(value[:10])
    except ValueError:
        return value
    return value


def _derived(merged: dict[str, Any]) -> dict[str, Any]:
    """Letters about a missed deadline (警示函, 督办函) say what was missed, from the deadline facts."""
    out: dict[str, Any] = {}
    due = merged.get("due_date")
    if due is not None:
        out["original_due_date"] = due
    if merged.get("task") and due is not None:
        days = merged.get("overdue_days")
        out["issue_summary"] = (f"{merged.get('case_title', '')}的{merged['task']}已于{str(due)[:10]}届满"
                                + (f"，已逾期{days}日" if days else "") + "，尚未完成。")
    return out


def _coerce_item(value: Any) -> Any:
    if isinstance(value, dict):  # e.g. the digest's case rows
        return {k: _coerce(k, v) for k, v in value.items()}
    return value


def build_variables(session: Session, msg: OutboxMessage, settings: Settings | None = None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    case = session.get(Case, msg.case_id) if msg.case_id else None
    if case is not None:
        merged.update(case_facts(session, case, settings))
        merged.update({k: v for k, v in (case.details or {}).items() if k in _VARIABLES and v is not None})
    if msg.recipient_user_id:
        user = session.get(User, msg.recipient_user_id)
        if user is not None:
            merged["recipient_name"] = user.display_name
    merged.update({k: v for k, v in (msg.variables or {}).items() if v is not None})
    for k, v in _derived(merged).items():
        merged.setdefault(k, v)
    if msg.document_no:
        merged["doc_number"] = msg.document_no
    spec = CATALOG.get(msg.template)
    if spec is not None and "issued_at" in {v.name for v in spec.variables}:
        merged.setdefault("issued_at", msg.created_at)
    return {k: ([_coerce_item(x) for x in v] if isinstance(v, list) else _coerce(k, v)) for k, v in merged.items()}
