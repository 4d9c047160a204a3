"""Case and event JSON. Kept in one place so the API, pages and exports agree."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import BigInteger, String, bindparam, cast, null, select, union_all
from sqlalchemy.orm import Session

from cases.ledger.accident import GRADE_LABELS
from cases.ledger.access import STAFF_ONLY_DEADLINE_KEYS, STAFF_ROLES
from cases.issuance.documents import issuing_documents
from cases.ledger import case_hints
from cases.platform import clock
from cases.models import Case, CaseEnterprise, CaseEvent, Deadline, Enterprise, Jurisdiction, User
from cases.ledger.rules import case_previous_numbers
from cases.ledger.services import definition_of
from state_machines.loader import ActionSpec


def _names(session: Session, model, ids: Iterable[Any], attr: str) -> dict[Any, Any]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    key = model.__mapper__.primary_key[0]
    return {row[0]: row[1] for row in session.execute(select(key, getattr(model, attr)).where(key.in_(ids)))}


def case_summaries(session: Session, cases: list[Case], now: datetime | None = None) -> list[dict[str, Any]]:
    from cases.clocks.lights import lights_for

    lights = lights_for(session, [c.id for c in cases], now or clock.now())
    jur = _names(session, Jurisdiction, [c.jurisdiction_code for c in cases], "name")
    ent = _names(session, Enterprise, [c.enterprise_id for c in cases], "name")
    usr = _names(session, User, [c.assignee_id for c in cases], "display_name")
    return [_summary(c, jur, ent, usr, lights.get(c.id, "none")) for c in cases]


def _summary(c: Case, jur: dict, ent: dict, usr: dict, light: str) -> dict[str, Any]:
    d = definition_of(c)
    return {
        "id": c.id, "number": c.number, "previous_numbers": case_previous_numbers(c), "kind": c.kind, "kind_label": d.label, "title": c.title,
        "state": c.state, "state_label": d.state(c.state).label, "version": c.version,
        "jurisdiction": {"code": c.jurisdiction_code, "name": jur.get(c.jurisdiction_code)},
        "enterprise": {"id": c.enterprise_id, "name": ent.get(c.enterprise_id)} if c.enterprise_id else None,
        "assignee": {"id": c.assignee_id, "name": usr.get(c.assignee_id)} if c.assignee_id else None,
        "accident_grade": c.accident_grade, "appraisal_grade": c.appraisal_grade,
        "found_at": c.found_at, "created_at": c.created_at, "updated_at": c.updated_at, "closed_at": c.closed_at,
        "light": light,
    }


def action_brief(a: ActionSpec) -> dict[str, Any]:
    return {"name": a.name, "label": a.label}


# Built once (the case page of every action that does not hold its deadlines reads them).
_OPEN_DEADLINES = (select(Deadline).where(Deadline.case_id == bindparam("case_id"), Deadline.status == "open")
                   .order_by(Deadline.id))


def _enterprises(session: Session, case: Case) -> tuple[dict[int, Any], list[tuple[int, str]]]:
    """The responsible unit and the related ones (names, credit codes) and the related (id, role)
    pairs in order: one statement. The locked case of a transition is read without its related
    rows (cases.ledger.services.get_case); they come here with the names (UNION ALL, both indexed)."""
    if "related" in case.__dict__:  # loaded already (a new case, a case page read with them)
        related = [(r.enterprise_id, r.role) for r in case.related]
        ids = {case.enterprise_id, *(e for e, _ in related)} - {None}
        return ({row.id: row for row in session.execute(
            select(Enterprise.id, Enterprise.name, Enterprise.credit_code).where(Enterprise.id.in_(ids)))}
            if ids else {}), related
    if case_hints.no_related(session, case.id):  # the transition's locked read: none
        held = (session.identity_map.get(session.identity_key(Enterprise, case.enterprise_id))
                if case.enterprise_id is not None else None)
        if held is not None or case.enterprise_id is None:
            return ({held.id: held} if held is not None else {}), []
        return {row.id: row for row in session.execute(select(Enterprise.id, Enterprise.name, Enterprise.credit_code)
                                                       .where(Enterprise.id == case.enterprise_id))}, []
    stmt = (select(CaseEnterprise.id.label("rid"), Enterprise.id, Enterprise.name, Enterprise.credit_code,
                   CaseEnterprise.role)
            .join(Enterprise, Enterprise.id == CaseEnterprise.enterprise_id).where(CaseEnterprise.case_id == case.id))
    if case.enterprise_id is not None:
        stmt = union_all(stmt, select(cast(null(), BigInteger), Enterprise.id, Enterprise.name, Enterprise.credit_code,
                                      cast(null(), String)).where(Enterprise.id == case.enterprise_id))
    rows = session.execute(stmt).all()
    enterprises = {row[1]: row for row in rows}
    related = [(row[1], row[4]) for row in sorted((r for r in rows if r[0] is not None), key=lambda r: r[0])]
    return enterprises, related


def case_detail(session: Session, case: Case, allowed: list[ActionSpec], now: datetime | None = None, *,
                actor: User | None = None, issuing: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One case in full. It answers every action, so it asks the database as little as it can:
    the light comes from the open deadlines it lists anyway (light_of is lights_for in Python) —
    not read again when the transition's deadlines hook holds them — jurisdiction names from the
    process's reference cache, the enterprise and the related ones from one query, the assignee's
    name from ``actor`` (the request's user) when it is them."""
    from cases.clocks import deadlines as dl
    from cases.clocks.lights import light_of
    from cases.reads.jurisdiction_cache import jurisdiction_facts
    from cases.clocks.supervision import active_supervision

    now = now or clock.now()
    d = definition_of(case)
    open_deadlines = dl.held_open_deadlines(session, case.id)
    if open_deadlines is None:
        open_deadlines = list(session.scalars(_OPEN_DEADLINES, {"case_id": case.id}))
    sup = active_supervision(session, case.id)
    jur = {code: f.name for code, f in jurisdiction_facts(
        session, [case.jurisdiction_code, case.origin_jurisdiction_code]).items()}
    enterprises, related = _enterprises(session, case)
    held = (session.identity_map.get(session.identity_key(User, case.assignee_id))
            if case.assignee_id is not None else None)  # a transition read it (cases/ledger/transition_path.py)
    usr = ({actor.id: actor.display_name} if actor is not None and case.assignee_id == actor.id
           else {held.id: held.display_name} if held is not None
           else _names(session, User, [case.assignee_id], "display_name"))
    body = _summary(case, jur, {}, usr, light_of(open_deadlines, now, closed=case.closed_at is not None))
    staff = actor is None or actor.role in STAFF_ROLES  # a referral's reply clock is staff's (cases/referrals)
    body["deadlines"] = [{**dl.deadline_summary(x), "light": ("paused" if x.due_at is None else light_of([x], now))
                          if x.affects_light else None, "supervision_id": x.supervision_id} for x in open_deadlines
                         if staff or x.key not in STAFF_ONLY_DEADLINE_KEYS]
    body["supervision"] = ({"id": sup.id, "notice_no": sup.notice_no, "status": sup.status,
                            "listing_jurisdiction_code": sup.listing_jurisdiction_code} if sup else None)
    enterprise = enterprises.get(case.enterprise_id) if case.enterprise_id else None
    body.update({
        "machine_version": case.machine_version,
        "description": case.description, "location": case.location, "source": case.source,
        "severity": case.severity, "project_id": case.project_id, "building_id": case.building_id,
        "origin_jurisdiction": {"code": case.origin_jurisdiction_code, "name": jur.get(case.origin_jurisdiction_code)},
        "enterprise": ({"id": enterprise.id, "name": enterprise.name, "credit_code": enterprise.credit_code}
                       if enterprise else None),
        "related_enterprises": [{"enterprise_id": enterprise_id, "role": role,
                                 "name": enterprises[enterprise_id].name if enterprise_id in enterprises else None}
                                for enterprise_id, role in related],
        "details": case.details or {},
        "accident_grade_label": GRADE_LABELS.get(case.accident_grade or ""),
        "hazard_item_code": case.hazard_item_code,
        "rectification_rounds": case.rectification_rounds, "reopen_count": case.reopen_count,
        "final": d.state(case.state).final,
        "allowed_actions": [a.name for a in allowed],
        "actions": [action_brief(a) for a in allowed],
        # Documents of a step that are due and not yet issued (derived after commit): 生成中.
        # ``issuing`` given: the caller knows (the action's own event); else one indexed read.
        "documents_issuing": issuing if issuing is not None else issuing_documents(session, case.id),
    })
    return body


def event_json(e: CaseEvent, actor_names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": e.id, "seq": e.seq, "at": e.at, "action": e.action, "from_state": e.from_state, "to_state": e.to_state,
        "actor": {"id": e.actor_id, "name": actor_names.get(e.actor_id)} if e.actor_id else {"id": None, "name": "系统"},
        "payload": e.payload or {}, "comment": e.comment,
    }


def events_json(session: Session, events: list[CaseEvent]) -> list[dict[str, Any]]:
    names = _names(session, User, [e.actor_id for e in events], "display_name")
    return [event_json(e, names) for e in events]
