"""Firing due timers: each rung of the ladder does its effects exactly once per case,
deadline and rung — guaranteed by the ``rung_firings`` unique key written in the same
transaction as the effects (events, supervision records, outbox messages).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.ledger import services
from cases.platform.clock import to_local
from cases.platform.config import get_settings
from cases.issuance.docnumbers import issue_document_number
from cases.models import Case, Deadline, Jurisdiction, Timer
from state_machines.policies import Rung

log = logging.getLogger("anjian.escalation")
MAX_ATTEMPTS = 5

NEXT_MEASURE = {"remind_before": "逾期预警", "remind_due_day": "逾期预警", "overdue": "挂牌督办",
                "listing": "约谈", "interview": "通报批评", "criticism": "提级", "escalate": "提级督办"}
# What follows on a clock of the authority's own staff (officer, approver): their chain, not the enterprise's.
NEXT_MEASURE_STAFF = {"remind_before": "逾期预警", "remind_due_day": "逾期预警", "overdue": "报上级主管部门督办",
                      "supervise": "通报"}


# An enterprise's own self-inspection clock (party "self"): what follows is the hand-over.
NEXT_MEASURE_SELF = {"remind_before": "移交监管部门立案", "remind_due_day": "移交监管部门立案"}


# A ladder whose measures are its own (an 约谈 commitment: cases/interviews/): what follows each rung.
NEXT_MEASURE_LADDER = {"commitment": {"remind_before": "逾期预警", "remind_due_day": "逾期预警",
                                      "overdue": "通报批评", "criticism": ""}}


def next_measure(rung: str, party: str | None, ladder: str | None = None) -> str:
    if ladder in NEXT_MEASURE_LADDER:
        return NEXT_MEASURE_LADDER[ladder].get(rung, "")
    if party == "self":
        return NEXT_MEASURE_SELF.get(rung, "")
    table = NEXT_MEASURE_STAFF if party in ("officer", "approver") else NEXT_MEASURE
    return table.get(rung, "")


def ladder_roles(effect: str, party: str | None, ladder: str) -> tuple[str, ...]:
    """Who a rung's message goes to, by whose clock it is (``Deadline.party``): the same answer
    for both firing paths. An enterprise hears only of its own clock; an officer's or an
    approver's clock climbs their own chain."""
    party = party or "enterprise"
    if party == "self":  # an enterprise's own self-inspection clock: its contacts only, no officer's ladder
        return (outbox.ENTERPRISE_CONTACT,) if effect in ("remind", "task_due") else ()
    if effect == "remind":
        return {"enterprise": (outbox.ASSIGNEE, outbox.ENTERPRISE_CONTACT), "officer": (outbox.ASSIGNEE,),
                "approver": (outbox.APPROVERS,), "authority": (outbox.AUTHORITY, outbox.ASSIGNEE)}[party]
    if effect == "overdue_warning":
        return {"enterprise": (outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR),
                "officer": (outbox.ASSIGNEE, outbox.ASSIGNEE_SUPERVISOR),
                "approver": (outbox.APPROVERS, outbox.APPROVERS_SUPERVISOR),
                "authority": (outbox.AUTHORITY, outbox.ASSIGNEE_SUPERVISOR)}[party]
    if effect == "supervise":  # 督办提醒: the chain above whoever is late
        return {"enterprise": (outbox.ASSIGNEE_SUPERVISOR,), "officer": (outbox.UPPER_SUPERVISORS,),
                "approver": (outbox.APPROVERS_SUPERVISOR,), "authority": (outbox.UPPER_SUPERVISORS,)}[party]
    if effect == "warning_letter":  # a letter to the enterprise only ever about the enterprise's clock
        return (outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE) if party == "enterprise" else ()
    if effect == "task_due":
        return (outbox.ASSIGNEE,)
    raise KeyError(effect)


@dataclass
class Firing:
    session: Session
    timer: Timer
    deadline: Deadline
    case: Case
    rung: Rung
    now: datetime
    effects: dict[str, Any] = field(default_factory=dict)

    @property
    def cause(self) -> str:
        return f"rung:{self.deadline.id}:{self.rung.rung}"

    def variables(self) -> dict[str, Any]:
        d = self.deadline
        today = to_local(self.now).date()
        days_left = (d.due_date - today).days if d.due_date else None
        ctx = getattr(self, "_ctx", None)
        j = ctx.jurisdiction(self.case.jurisdiction_code) if ctx else self.session.get(Jurisdiction, self.case.jurisdiction_code)
        return {
            "case_number": self.case.number, "case_title": self.case.title, "case_id": self.case.id,
            "task": d.label, "deadline_key": d.key, "deadline_at": d.due_at.isoformat() if d.due_at else None,
            "due_date": d.due_date.isoformat() if d.due_date else None, "deadline_provisional": d.provisional,
            "days_left": days_left, "overdue_days": max(0, -(days_left or 0)),
            "light": "red" if d.due_at and d.due_at <= self.now else "yellow",
            "rung": self.rung.rung, "rung_name": self.rung.label, "next_measure": next_measure(self.rung.rung, d.party, d.ladder),
            "issuing_authority": j.authority_name if j else "",
        }


EFFECTS: dict[str, Callable[[Firing], None]] = {}


def rung_effect(fn):
    EFFECTS[fn.__name__] = fn
    return fn


def _urgent(f: Firing) -> bool:
    return f.deadline.unit == "hour"  # accident and D-grade clocks ignore quiet hours


def _party_recipients(f: Firing, effect: str) -> list:
    """The rung's recipients by whose clock it is (see ``ladder_roles``)."""
    roles = ladder_roles(effect, f.deadline.party, f.deadline.ladder)
    listing = _listing(f).code if f.deadline.supervision_id else None
    return outbox.resolve_recipients(f.session, f.case, roles, listing_jurisdiction_code=listing)


@rung_effect
def remind(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="reminder", recipients=_party_recipients(f, "remind"),
                       cause=f.cause, variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n


@rung_effect
def overdue_warning(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="overdue_warning",
                       recipients=_party_recipients(f, "overdue_warning"), cause=f.cause,
                       variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n
    f.effects["overdue"] = True


@rung_effect
def supervise(f: Firing) -> None:
    """督办提醒: the late party's chain is told (an officer's: the supervisors of the level above)."""
    n = outbox.enqueue(f.session, case=f.case, template="overdue_warning",
                       recipients=_party_recipients(f, "supervise"), cause=f.cause,
                       variables=f.variables(), now=f.now, urgent=_urgent(f))
    f.effects["messages"] = f.effects.get("messages", 0) + n
    f.effects["overdue"] = True


def _document(f: Firing, doc_type: str, template: str, roles: list[str], issuer: Jurisdiction, **extra) -> str:
    """A numbered letter of the ladder: stored as a document (rendered later, linked from the case) and sent."""
    from cases.issuance import documents

    number = issue_document_number(f.session, issuer, doc_type, to_local(f.now).year, get_settings().doc_number_prefixes)
    variables = {**f.variables(), "doc_number": number, "issuing_authority": issuer.authority_name, **extra}
    doc = documents.record(f.session, f.case, doc_type, number=number, issuer=issuer, cause=f.cause, now=f.now,
                     snapshot=variables, recipients=outbox.resolve_recipients(
                         f.session, f.case, roles, listing_jurisdiction_code=extra.get("listing_jurisdiction_code")))
    f.effects.setdefault("documents", []).append({"type": doc_type, "number": number})
    f.effects["messages"] = f.effects.get("messages", 0) + doc.enqueued
    return number


@rung_effect
def warning_letter(f: Firing) -> None:
    if not ladder_roles("warning_letter", f.deadline.party, f.deadline.ladder):
        return  # 警示函 goes to an enterprise only for its own clock, never for an officer's delay
    issuer = f.session.get(Jurisdiction, f.case.jurisdiction_code)
    _document(f, "warning_letter", "warning_letter", [outbox.ENTERPRISE_CONTACT, outbox.ASSIGNEE], issuer)


@rung_effect
def list_supervision(f: Firing) -> None:
    from cases.clocks.deadlines import get_policy
    from cases.clocks.supervision import list_case

    cfg = get_policy().supervision
    sup = list_case(f.session, f.case, reason="overdue", requirements=f"{f.deadline.label}已逾期，限期完成整改并书面报告",
                    start_at=f.now, amount=int(cfg["overdue_listing_amount"]), unit=cfg["unit"], now=f.now,
                    letter=True, cause=f.cause)
    f.effects["supervision"] = {"id": sup.id, "notice_no": sup.notice_no}


def _listing(f: Firing) -> Jurisdiction:
    from cases.models import Supervision

    sup = f.session.get(Supervision, f.deadline.supervision_id) if f.deadline.supervision_id else None
    code = sup.listing_jurisdiction_code if sup else f.case.jurisdiction_code
    return f.session.get(Jurisdiction, code)


def _supervised_code(f: Firing) -> str:
    from cases.models import Supervision

    sup = f.session.get(Supervision, f.deadline.supervision_id) if f.deadline.supervision_id else None
    return sup.supervised_jurisdiction_code if sup else f.case.jurisdiction_code


@rung_effect
def interview(f: Firing) -> None:
    # Addressed to the supervised authority (catalogue: interview_notice), so sent to its staff;
    # the interview's time comes from the policy (cases.issuance.documents.ladder_dates).
    listing = _listing(f)
    number = _document(f, "interview_notice", "interview_notice", [outbox.AUTHORITY], listing,
                       interview_reason=f"“{f.case.title}”（案件编号：{f.case.number}）挂牌督办事项逾期未完成",
                       interview_place=listing.authority_name + "会议室", listing_jurisdiction_code=listing.code)
    # The notice opens its 约谈 record at once (cases/interviews/, docs/interviews.md).
    from sqlalchemy import select

    from cases.interviews.services import open_for_notice
    from cases.models import Document

    notice = f.session.scalars(select(Document).where(Document.number == number)).one()
    f.effects["interview_id"] = open_for_notice(f.session, notice, f.now).id


@rung_effect
def criticism(f: Firing) -> None:
    listing = _listing(f)
    supervised = f.session.get(Jurisdiction, _supervised_code(f))
    _document(f, "public_criticism", "public_criticism", [outbox.AUTHORITY, outbox.LISTING_AUTHORITY], listing,
              criticized_unit=supervised.authority_name, listing_jurisdiction_code=listing.code)


def _escalation_reason(f: Firing, variables: dict[str, Any], parent: Jurisdiction) -> str:
    """Why a case moves up (提级原因): which deadline was missed, since when and by how long."""
    d = f.deadline
    missed = f"已于{d.due_date.year}年{d.due_date.month}月{d.due_date.day}日届满" if d.due_date else "已届满"
    late = f"，逾期{variables['overdue_days']}日" if variables.get("overdue_days") else ""
    return (f"“{f.case.title}”的{d.label}{missed}{late}仍未完成，"
            f"按督办升级规定（{f.rung.label}）提级至{parent.authority_name}督办。")


@rung_effect
def escalate(f: Firing) -> None:
    """提级: the case's supervising authority moves to the parent jurisdiction."""
    current = f.session.get(Jurisdiction, f.case.jurisdiction_code)
    if current is None or not current.parent_code:
        f.effects["escalated"] = None
        return
    parent = f.session.get(Jurisdiction, current.parent_code)
    services.record_system_event(f.session, f.case, "escalated",
                                 {"from": current.code, "to": parent.code, "rung": f.rung.rung, "deadline_id": f.deadline.id},
                                 now=f.now, changes={"jurisdiction_code": parent.code},
                                 comment=f"提级：由{current.authority_name}提级至{parent.authority_name}督办")
    f.session.refresh(f.case)
    f.effects["escalated"] = {"from": current.code, "to": parent.code}
    variables = f.variables()
    n = outbox.enqueue(f.session, case=f.case, template="escalation_transfer",
                       recipients=outbox.nearest_supervisors(f.session, parent.code)
                       + outbox.resolve_recipients(f.session, f.case, [outbox.ASSIGNEE]),
                       cause=f.cause, variables={**variables, "from_authority": current.authority_name,
                                                 "to_authority": parent.authority_name,
                                                 "escalated_at": f.now.isoformat(),
                                                 "reason": _escalation_reason(f, variables, parent)}, now=f.now)
    f.effects["messages"] = f.effects.get("messages", 0) + n


@rung_effect
def task_due(f: Firing) -> None:
    n = outbox.enqueue(f.session, case=f.case, template="reminder",
                       recipients=outbox.resolve_recipients(f.session, f.case, ladder_roles("task_due", f.deadline.party,
                                                                                            f.deadline.ladder)),
                       cause=f.cause, variables=f.variables(), now=f.now)
    f.effects["messages"] = f.effects.get("messages", 0) + n




@rung_effect
def hand_over(f: Firing) -> None:
    """An overdue self-found hazard becomes the regulator's case (cases/selfcheck/handover.py).
    Not a bulk effect: the bulk path hands its rungs to this per-timer path."""
    from cases.selfcheck.handover import hand_over as hand_over_case

    f.effects.update(hand_over_case(f.session, f.case, f.deadline, now=f.now, cause=f.cause, rung_label=f.rung.label))


@rung_effect
def commitment_missed(f: Firing) -> None:
    """An 约谈 commitment ran out: recorded as missed, once (cases/interviews/clock.py). Not a bulk
    effect: the bulk path hands its rungs to this per-timer path."""
    from cases.interviews.clock import commitment_missed as missed

    f.effects.update(missed(f.session, f.case, f.deadline, now=f.now, cause=f.cause))


@rung_effect
def commitment_criticism(f: Firing) -> None:
    """通报批评 of the unit that let its 约谈 commitment run out (cases/interviews/clock.py)."""
    from cases.interviews.clock import commitment_criticism as criticise

    number = criticise(f, _document)
    if number:
        f.effects.setdefault("commitment", {})["criticism"] = number
