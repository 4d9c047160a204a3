"""The hand-over: a self-found hazard (``self_hazard``) whose own rectification period passed
without a reported rectification becomes the regulator's case — the rung ``hand_over`` of the
ladder ``self_inspection`` (state_machines/policies/escalation-v2.yaml), fired by the sweep.

In the rung's transaction, exactly once (the ``rung_firings`` row the sweep writes with it):

* the self-inspection clock (自查整改期限) ends as ``missed`` — kept in the history, no longer red;
* the case is reclassified as the machine's ``settings.hand_over`` says (一般安全隐患, state
  已登记): a number of its new kind from the same counters, the old one kept in
  ``previous_numbers`` (searchable, printed as 原编号), source 企业自查, one ``handed_over`` event
  whose payload carries ``reclassified`` (so ``services.replay_state`` follows the kind);
* the clocks the new kind's registration opens are opened (``registers_as``: the hazard's
  整改期限 by its severity, on the normal ladder: 警示函, 挂牌督办 …);
* it is assigned to the project's officer where there is one (``project_officer``), else it waits
  for the supervisors nearest it to assign it;
* its 承办人 (else the supervisors nearest the case), the staff of the case's jurisdiction (the
  project's) and the unit's contacts get the ``self_check_handover`` message.

A rectified (closed) self-hazard never gets here: closing cancelled its clock, and the sweep treats a
rung of a closed case as stale (cases/clocks/sweep.py ``_ended_by_closure``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.models import Case, Deadline, Enterprise, Jurisdiction, User
from cases.platform.clock import to_local
from cases.selfcheck.records import SELF_CHECK_SOURCE

HANDED_OVER = "handed_over"  # the event's action (cases.ledger.labels: 逾期移交监管部门)
TEMPLATE = "self_check_handover"


def project_officer(session: Session, case: Case) -> tuple[User | None, str]:
    """Who takes the handed-over case (its 承办人), and why: the officer who last handled a case of the
    same project (still active, still over the case's jurisdiction), else the jurisdiction's only
    officer; else nobody — the case then waits for the supervisors nearest it to assign it (what the
    ladder sends "to the assignee" goes to them meanwhile: cases.issuance.outbox)."""
    from cases.ledger.access import in_subtree

    if case.project_id is not None:
        recent = session.scalars(select(User).join(Case, Case.assignee_id == User.id).where(
            Case.project_id == case.project_id, Case.id != case.id, User.active.is_(True),
            User.role.in_(("officer", "supervisor"))).order_by(Case.updated_at.desc(), Case.id.desc()).limit(5)).all()
        for user in recent:
            if in_subtree(session, user.jurisdiction_code, case.jurisdiction_code):
                return user, "本项目案件的承办人"
    officers = session.scalars(select(User).where(User.jurisdiction_code == case.jurisdiction_code,
                                                  User.role == "officer", User.active.is_(True)).limit(2)).all()
    if len(officers) == 1:
        return officers[0], "本辖区监管人员"
    return None, ""


def hand_over(session: Session, case: Case, deadline: Deadline, *, now: datetime, cause: str,
              rung_label: str) -> dict[str, Any]:
    """Turn the overdue self-found hazard into the regulator's case (see the module's docstring).
    Returns what the rung's firing records as its effect."""
    from cases.clocks import deadlines as clocks
    from cases.ledger import services
    from cases.ledger.engine import get_registry
    from cases.ledger.numbering import format_case_number, next_serial
    from cases.ledger.rules import case_previous_numbers

    definition = services.definition_of(case)
    # The case row locked, then read again with its clock: a rectification committed since the sweep
    # read them (PostgreSQL, read committed) wins — nothing is handed over.
    current = session.execute(select(Case.kind, Case.closed_at).where(Case.id == case.id).with_for_update(key_share=True)).one()
    session.refresh(deadline)
    if current.kind != definition.kind or current.closed_at is not None or deadline.status != "open":
        return {"handed_over": None, "reason": "已整改或已移交"}
    cfg = definition.settings["hand_over"]
    target = get_registry().latest(cfg["to_kind"])
    missed_due = deadline.due_date
    for d in clocks.open_deadlines(session, case.id, supervision=None):
        clocks.close_deadline(session, d, "missed", now)
    code, year = case.origin_jurisdiction_code, to_local(now).year
    number = format_case_number(code, target.number_code, year, next_serial(session, code, target.number_code, year))
    previous = case.number
    changes = {"kind": target.kind, "machine_version": target.version, "state": cfg["state"], "number": number,
               "previous_numbers": ",".join([*case_previous_numbers(case), previous]), "source": SELF_CHECK_SOURCE}
    officer, why = project_officer(session, case)
    if officer is not None:
        changes["assignee_id"] = officer.id
    j = session.get(Jurisdiction, case.jurisdiction_code)
    authority = j.authority_name if j is not None else case.jurisdiction_code
    due_text = f"{missed_due.year}年{missed_due.month}月{missed_due.day}日" if missed_due else ""
    payload = {"reclassified": {"from": case.kind, "to": target.kind, "machine_version": target.version,
                                "number": number, "previous_number": previous},
               "deadline_id": deadline.id, "missed_due_date": missed_due.isoformat() if missed_due else None,
               "rung_label": rung_label, "to_authority": authority,
               "assigned": {"id": officer.id, "name": officer.display_name, "why": why} if officer else None}
    event = services.record_system_event(
        session, case, HANDED_OVER, payload, now=now, changes=changes,
        comment=f"自查整改期限（{due_text}）届满未报告整改完成，移交{authority}，登记为{target.label}（{number}）")
    # The clocks its registration opens (the hazard's 整改期限, by severity, on the normal ladder).
    opened = clocks.apply_rules(session, case, cfg["registers_as"], {}, now, event, became_final=False)
    new_clock = next((d for d in clocks.open_deadlines(session, case.id) if d.party == "enterprise"), None)
    unit = session.get(Enterprise, case.enterprise_id) if case.enterprise_id else None
    variables = {"case_number": number, "case_title": case.title, "case_id": case.id,
                 "original_case_number": previous, "responsible_unit_name": unit.name if unit else "",
                 "original_due_date": missed_due.isoformat() if missed_due else None,
                 "handed_over_at": now.isoformat(), "issuing_authority": authority,
                 "deadline_at": new_clock.due_at.isoformat() if new_clock and new_clock.due_at else None,
                 "due_date": new_clock.due_date.isoformat() if new_clock and new_clock.due_date else None,
                 "deadline_provisional": bool(new_clock.provisional) if new_clock else False}
    officers = outbox.resolve_recipients(session, case, [outbox.ASSIGNEE, outbox.AUTHORITY])
    contacts = outbox.resolve_recipients(session, case, [outbox.ENTERPRISE_CONTACT])
    sent = outbox.enqueue(session, case=case, template=TEMPLATE, recipients=[*officers, *contacts], cause=cause,
                          variables=variables, now=now)
    services.add_to_event_payload(event, notified=[{"id": u.id, "name": u.display_name, "role": u.role}
                                                   for u in [*officers, *contacts]])
    return {"handed_over": {"kind": target.kind, "number": number, "previous_number": previous,
                            "deadlines": opened}, "messages": sent}
