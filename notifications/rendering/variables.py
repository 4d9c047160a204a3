"""The full template variables of an outbox row: what the database knows, then what the row stored.

Rungs store only a subset of what templates need (see ``cases/clocks/escalation.py``); the rest (project,
parties with 统一社会信用代码, authority, contact officer, deadline) is read here at delivery time.
Precedence, lowest first: database facts < ``case.details`` entries named like catalogue variables
< the row's stored ``variables`` < ``document_no``. Values are then coerced to the types the
catalogue declares (stored JSON has ISO strings for instants and dates).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from cases.platform.clock import SHANGHAI
from cases.platform.config import Settings, get_settings
from cases.ledger import case_hints
from cases.clocks.deadlines import held_open_deadlines
from cases.models import Building, Case, Deadline, Enterprise, Jurisdiction, OutboxMessage, Project, Supervision, User
from notifications.rendering.catalog import CATALOG, _VARIABLES, TemplateSpec

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PARTY_ROLES = {"contractor": "contractor", "builder": "builder", "supervisor": "supervision_unit"}
UNREGISTERED = "（未登记）"
# How a building's owner nobody registered is addressed (the notice is also posted on the building).
OWNER_UNREGISTERED = "房屋所有人、使用人"


def base_url(settings: Settings | None = None) -> str:
    """The public base URL links in messages start with (``ANJIAN_BASE_URL``)."""
    return ((settings or get_settings()).base_url or "http://127.0.0.1:8000").rstrip("/")


def case_url(case_id: int, settings: Settings | None = None, *, base: str | None = None) -> str:
    """The one place a link to a case is made (messages, the digest): the case page (api/pages/),
    which asks the recipient to log in first and then opens the case."""
    return f"{(base or base_url(settings)).rstrip('/')}/cases/{case_id}"


def dashboard_url(jurisdiction_code: str, settings: Settings | None = None, *, base: str | None = None) -> str:
    """Link to a jurisdiction's overview: the supervisor cockpit drilled down to it."""
    return f"{(base or base_url(settings)).rstrip('/')}/cockpit?jurisdiction={jurisdiction_code}"


def _authority_staff(session: Session, jurisdiction_code: str) -> User | None:
    """Who answers for the authority of a case nobody at it recorded or took: its first active officer
    (or supervisor), else the nearest supervisor above it."""
    from cases.issuance.outbox import nearest_supervisors

    staff = session.scalars(select(User).where(User.jurisdiction_code == jurisdiction_code, User.active.is_(True),
                                               User.role.in_(("officer", "supervisor"))).order_by(User.id)).first()
    return staff or next(iter(nearest_supervisors(session, jurisdiction_code)), None)


def case_facts(session: Session, case: Case, settings: Settings | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "case_number": case.number, "case_title": case.title, "case_url": case_url(case.id, settings),
        "location": (case.location or "").strip() or None,
        # an accident recorded from a flash report may carry only its brief (事故简要经过)
        "hazard_description": case.description or (case.details or {}).get("brief") or case.title or None,
        "inspected_at": case.found_at, "case_id": case.id,
    }
    if case.hazard_item_code:
        from cases.issuance.documents import _catalog_item_text

        pre = _prefetched(session)
        if pre is not None and case.hazard_item_code in pre.catalog_text:
            out["hazard_catalog_item"] = pre.catalog_text[case.hazard_item_code]
        else:
            out["hazard_catalog_item"] = text = _catalog_item_text(session, case.hazard_item_code)
            if pre is not None:
                pre.catalog_text[case.hazard_item_code] = text
    j = session.get(Jurisdiction, case.jurisdiction_code)
    if j is not None:
        out["issuing_authority"] = j.authority_name
        out["jurisdiction_name"] = j.name
    if case.project_id:
        # The parties (and their enterprises) in the same statement (Project.parties is selectin).
        project = session.get(Project, case.project_id, options=[joinedload(Project.parties)])
        if project is not None:
            out["project_name"] = project.name
            if not out.get("location") and project.address:  # no location typed: the project's site
                out["location"] = f"{project.address}施工现场"
            for party in project.parties:
                prefix = PARTY_ROLES.get(party.role)
                if prefix and party.enterprise is not None:
                    out[f"{prefix}_name"] = party.enterprise.name
                    out[f"{prefix}_credit_code"] = party.enterprise.credit_code
        # A party the project never registered is printed as such, not left to fail the whole notice.
        for prefix in PARTY_ROLES.values():
            out.setdefault(f"{prefix}_name", UNREGISTERED)
            out.setdefault(f"{prefix}_credit_code", "—")
    building = session.get(Building, case.building_id) if case.building_id else None
    if building is not None:  # a building case names its building (房屋名称、地址、所有人), never a project
        out["building_name"] = building.name
        out["building_address"] = (building.address or "").strip() or None
        out["property_owner"] = building.owner_name or OWNER_UNREGISTERED
        if not out.get("location") and out["building_address"]:
            out["location"] = out["building_address"]
    responsible = session.get(Enterprise, case.enterprise_id) if case.enterprise_id else None
    if responsible is not None:
        out["responsible_unit_name"] = responsible.name
        out["responsible_unit_credit_code"] = responsible.credit_code
        if out.get("contractor_name") in (None, UNREGISTERED):  # no project: the unit is who builds
            out["contractor_name"], out["contractor_credit_code"] = responsible.name, responsible.credit_code
    elif out.get("contractor_name") not in (None, UNREGISTERED):
        out["responsible_unit_name"] = out["contractor_name"]
        out["responsible_unit_credit_code"] = out.get("contractor_credit_code")
    elif building is not None:  # no unit named: the building's owner or user answers for it
        out["responsible_unit_name"] = out["property_owner"]
    if case.assignee_id:
        officer = session.get(User, case.assignee_id)
        if officer is not None:
            out["contact_name"] = officer.display_name
            out["contact_phone"] = officer.phone
    elif case.created_by_id:  # e.g. a flash report before anyone is assigned: who recorded the case
        creator = session.get(User, case.created_by_id)
        if creator is not None and creator.role in ("officer", "supervisor"):
            out["contact_name"] = creator.display_name
            out["contact_phone"] = creator.phone
        elif creator is not None:  # recorded by the unit itself (自查, docs/self-inspection.md): the bureau answers
            staff = _authority_staff(session, case.jurisdiction_code)
            if staff is not None:
                out["contact_name"], out["contact_phone"] = staff.display_name, staff.phone
    pre = _prefetched(session)
    held = held_open_deadlines(session, case.id)  # a transition's deadlines hook holds them all
    if pre is not None and case.id in pre.case_ids:
        deadline = pre.open_deadline.get(case.id)
    elif held is not None:
        deadline = min(held, key=lambda d: (d.due_at is None, d.due_at or _EPOCH, d.id), default=None)
    else:
        deadline = session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.status == "open")
                                   .order_by(Deadline.due_at.asc().nulls_last(), Deadline.id)).first()
    if deadline is not None:
        out.update({"deadline_at": deadline.due_at, "due_date": deadline.due_date,
                    "deadline_provisional": deadline.provisional, "task": deadline.label})
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------- many messages at once
#
# A list of messages (the in-app inbox) builds the variables of each: read one by one that is a
# dozen SELECTs per message (its case, jurisdiction, project and parties, building, enterprise,
# users, open deadline, ...). ``prefetch`` reads them for the whole page in a fixed number of
# statements, whatever the page holds: the rows land in the session's identity map (where
# ``Session.get`` finds them without a query) and the per-case answers of the two non-key queries
# (open deadline, last supervision) in ``session.info``. Scoped to that one session: nothing is
# kept between requests.

_PREFETCH_KEY = "anjian.variables.prefetched"


@dataclass
class Prefetched:
    case_ids: set[int] = field(default_factory=set)
    open_deadline: dict[int, Deadline] = field(default_factory=dict)
    last_supervision: dict[int, Supervision] = field(default_factory=dict)
    catalog_text: dict[str, str | None] = field(default_factory=dict)
    # The identity map holds rows weakly: these references keep the prefetched ones in it.
    rows: list[Any] = field(default_factory=list)


def _prefetched(session: Session) -> Prefetched | None:
    return session.info.get(_PREFETCH_KEY)


def prefetch(session: Session, messages: list[OutboxMessage]) -> None:
    """Load what ``build_variables`` reads for these messages in a fixed number of statements."""
    if not messages:
        return
    pre = session.info.setdefault(_PREFETCH_KEY, Prefetched())
    case_ids = {m.case_id for m in messages if m.case_id} - pre.case_ids
    user_ids = {m.recipient_user_id for m in messages if m.recipient_user_id}
    keep = pre.rows.extend
    cases = list(session.scalars(select(Case).where(Case.id.in_(case_ids)))) if case_ids else []
    keep(cases)
    project_ids = {c.project_id for c in cases if c.project_id}
    if project_ids:  # parties (and their enterprises) come with them: Project.parties is selectin
        keep(session.scalars(select(Project).where(Project.id.in_(project_ids))).all())
    building_ids = {c.building_id for c in cases if c.building_id}
    if building_ids:
        keep(session.scalars(select(Building).where(Building.id.in_(building_ids))).all())
    enterprise_ids = {c.enterprise_id for c in cases if c.enterprise_id}
    if enterprise_ids:
        keep(session.scalars(select(Enterprise).where(Enterprise.id.in_(enterprise_ids))).all())
    user_ids |= {c.assignee_id for c in cases if c.assignee_id} | {c.created_by_id for c in cases if c.created_by_id}
    if user_ids:
        keep(session.scalars(select(User).where(User.id.in_(user_ids))).all())
    if case_ids:
        for d in session.scalars(select(Deadline).where(Deadline.case_id.in_(case_ids), Deadline.status == "open")
                                 .order_by(Deadline.case_id, Deadline.due_at.asc().nulls_last(), Deadline.id)):
            pre.open_deadline.setdefault(d.case_id, d)
        for sup in session.scalars(select(Supervision).where(Supervision.case_id.in_(case_ids))
                                   .order_by(Supervision.case_id, Supervision.id.desc())):
            pre.last_supervision.setdefault(sup.case_id, sup)
    # The cases' jurisdictions, the supervised ones, and their parents (addressing names them).
    codes = {c.jurisdiction_code for c in cases} | {x.supervised_jurisdiction_code for x in pre.last_supervision.values()}
    for _ in range(2):
        codes = {c for c in codes if c} - {r.code for r in pre.rows if isinstance(r, Jurisdiction)}
        if not codes:
            break
        places = session.scalars(select(Jurisdiction).where(Jurisdiction.code.in_(codes))).all()
        keep(places)
        codes = {j.parent_code for j in places}
    pre.case_ids |= case_ids


def _authority_name(session: Session, code: str | None) -> str | None:
    j = session.get(Jurisdiction, code) if code else None
    return j.authority_name if j is not None else None


def party_name(session: Session, case: Case, party: str, facts: dict[str, Any]) -> str | None:
    """The name of one of the parties of ``catalog.PARTIES`` for this case; None if it has none."""
    if party == "responsible_unit":
        return facts.get("responsible_unit_name")
    if party in ("contractor", "builder", "supervision_unit"):
        name = facts.get(f"{party}_name")
        return None if name in (None, UNREGISTERED) else name
    if party == "supervised_authority":
        pre = _prefetched(session)
        if pre is not None and case.id in pre.case_ids:
            sup = pre.last_supervision.get(case.id)
        elif case_hints.no_supervision(session, case.id):  # a transition's locked read: none
            sup = None
        else:
            sup = session.scalars(select(Supervision).where(Supervision.case_id == case.id)
                                  .order_by(Supervision.id.desc())).first()
        return _authority_name(session, sup.supervised_jurisdiction_code if sup else case.jurisdiction_code)
    if party == "parent_authority":
        j = session.get(Jurisdiction, case.jurisdiction_code)
        return _authority_name(session, j.parent_code if j is not None and j.parent_code else case.jurisdiction_code)
    if party == "property_owner":
        b = session.get(Building, case.building_id) if case.building_id else None
        if b is not None and b.owner_name:
            return b.owner_name
        return facts.get("responsible_unit_name") or OWNER_UNREGISTERED
    raise KeyError(party)


def addressing(session: Session, case: Case, spec: TemplateSpec, facts: dict[str, Any]) -> dict[str, Any]:
    """主送 and 抄送 of a document, from its type's data (``TemplateSpec.addressee`` / ``cc_parties``):
    the addressee is never also a copy, a party the case does not have is left out."""
    if spec.addressee is None:
        return {}
    recipient = party_name(session, case, spec.addressee, facts)
    cc: list[str] = []
    for party in spec.cc_parties:
        name = party_name(session, case, party, facts)
        if name and name != recipient and name not in cc:
            cc.append(name)
    out: dict[str, Any] = {"cc": cc}
    if recipient:
        out["recipient"] = recipient
    return out


@functools.lru_cache(maxsize=None)
def _kind(declared: str) -> str:
    """The base type of a declared variable type ("datetime | None" → "datetime"): parsed once."""
    return "list[str]" if declared.startswith("list[str]") else declared.split(" ")[0].split("|")[0].strip()


def _coerce(name: str, value: Any) -> Any:
    var = _VARIABLES.get(name)
    if var is None or not isinstance(value, str):
        return value
    kind = _kind(var.type)
    if kind == "list[str]":
        return [line for line in (x.strip() for x in value.splitlines()) if line]
    if kind not in ("datetime", "date"):
        return value
    try:
        if kind == "datetime":
            dt = datetime.fromisoformat(value)
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
        if kind == "date":
            return date.fromisoformat(value[:10])
    except ValueError:
        return value
    return value


def _cn(value: Any) -> str:
    d = _coerce("due_date", value) if isinstance(value, str) else value
    if isinstance(d, datetime):
        d = d.astimezone(SHANGHAI).date()
    return f"{d.year}年{d.month}月{d.day}日" if isinstance(d, date) else str(value)


def _derived(merged: dict[str, Any]) -> dict[str, Any]:
    """Letters about a missed deadline (警示函, 督办函) say what was missed, from the deadline facts:
    the missed date is ``original_due_date`` when the letter asks for a new ``due_date``."""
    out: dict[str, Any] = {}
    missed = merged.get("original_due_date") or merged.get("due_date")
    if missed is not None:
        out["original_due_date"] = missed
    if merged.get("task") and missed is not None:
        days = merged.get("overdue_days")
        title = merged.get("case_title")
        subject = f"“{title}”的{merged['task']}" if title else merged["task"]
        out["issue_summary"] = (f"{subject}已于{_cn(missed)}届满" + (f"，已逾期{days}日" if days else "")
                                + "，至今未完成整改。")
    return out


def _coerce_item(value: Any) -> Any:
    if isinstance(value, dict):  # e.g. the digest's case rows
        return {k: _coerce(k, v) for k, v in value.items()}
    return value


def build_variables(session: Session, msg: OutboxMessage, settings: Settings | None = None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    case = session.get(Case, msg.case_id) if msg.case_id else None
    spec = CATALOG.get(msg.template)
    if case is not None:
        merged.update(case_facts(session, case, settings))
        if spec is not None:
            merged.update(addressing(session, case, spec, merged))
        merged.update({k: v for k, v in (case.details or {}).items() if k in _VARIABLES and v is not None})
    if msg.recipient_user_id:
        user = session.get(User, msg.recipient_user_id)
        if user is not None:
            merged["recipient_name"] = user.display_name
    merged.update({k: v for k, v in (msg.variables or {}).items() if v is not None})
    if isinstance(merged.get("dashboard_url"), str) and merged["dashboard_url"].startswith("/"):
        merged["dashboard_url"] = base_url(settings) + merged["dashboard_url"]  # a page path (campaign rounds)
    for k, v in _derived(merged).items():
        merged.setdefault(k, v)
    if msg.document_no:
        merged["doc_number"] = msg.document_no
    if spec is not None and "issued_at" in {v.name for v in spec.variables}:
        merged.setdefault("issued_at", msg.created_at)
    return {k: ([_coerce_item(x) for x in v] if isinstance(v, list) else _coerce(k, v)) for k, v in merged.items()}
