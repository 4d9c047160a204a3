"""Case services: act, read, list, replay, the hooks' registry (creating a case: cases/ledger/creation.py,
its names served from here too). One call = one transaction, owned by the caller.

The API and the workflows call these; nothing here knows about HTTP or Prefect.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, lazyload

from cases.platform import clock
from cases.platform.db import insert_as_loaded
from cases.ledger.access import STAFF_ROLES, in_subtree, visible_cases_clause
from cases.ledger.policy import may_act_for_enterprise
from cases.ledger.engine import get_registry, guards_pass
from cases.platform.errors import NotFound
from cases.models import Case, CaseEvent, Enterprise, Jurisdiction, User
from cases.ledger.rules import GUARDS, ActionContext, lookup_problem
from cases.ledger.validation import MAX_INT, NUL_PROBLEM, validate_fields
from state_machines.loader import ActionSpec, MachineDefinition

# Hooks other domain modules (deadlines, outbox) register to run inside the transition's
# transaction, after the case row has been updated: fn(session, ctx, event).
TransitionHook = Callable[[Session, ActionContext, CaseEvent], None]
CreationHook = Callable[[Session, Case, CaseEvent], None]
TRANSITION_HOOKS: list[TransitionHook] = []
CREATION_HOOKS: list[CreationHook] = []
_HOOK_ORDER: dict[Callable, int] = {}

# The order hooks run in, whatever order their modules happen to be imported in: deadlines (and
# listed supervision) first, so the clocks a transition opens exist when the documents' snapshot
# is taken and their preflight checks it.
HOOK_ORDER = {"deadlines": 10, "documents": 20, "analogs": 30, "credit": 40}


def register_hooks(name: str, *, transition: TransitionHook, creation: CreationHook) -> None:
    """Register a domain module's hooks at its place in HOOK_ORDER (idempotent)."""
    order = HOOK_ORDER[name]
    for hooks, fn in ((TRANSITION_HOOKS, transition), (CREATION_HOOKS, creation)):
        if fn not in hooks:
            hooks.append(fn)
            _HOOK_ORDER[fn] = order
        hooks.sort(key=lambda h: _HOOK_ORDER.get(h, 100))


def add_to_event_payload(event: CaseEvent, **items: Any) -> None:
    """How a hook adds to the payload of the event it was handed (deadlines, documents).

    While :func:`run_hooks` runs, the additions are collected and written with the event after the
    last hook (one INSERT, no UPDATE). Outside it they are set at once."""
    pending = getattr(event, "_payload_pending", None)
    if pending is not None:
        pending.update(items)
    else:
        event.payload = {**(event.payload or {}), **items}


_UNWRITTEN = "anjian_event_unwritten"


def run_hooks(session: Session, hooks: list, subject: Any, event: CaseEvent) -> None:
    """Run the hooks, then write the event: one INSERT with its final payload and ``derive_due``
    (the hooks need no event id). Written earlier only if a hook records an event of its own
    (:func:`write_unwritten_event`: the rows keep their seq order) — then updated after."""
    if event not in session:
        session.info[_UNWRITTEN] = event
    event._payload_pending = {}
    try:
        for hook in hooks:
            hook(session, subject, event)
    finally:
        pending = event.__dict__.pop("_payload_pending", None)
        session.info.pop(_UNWRITTEN, None)
    if pending:
        event.payload = {**(event.payload or {}), **pending}
    if event in session:
        session.flush()
    else:  # on the table (the ORM's unit of work costs twice that), with what the hooks left pending
        insert_as_loaded(session, event)


def write_unwritten_event(session: Session) -> None:
    """Insert the event whose hooks are running, if not yet (before another event of its case)."""
    event = session.info.pop(_UNWRITTEN, None)
    if event is not None:
        session.add(event)
        session.flush()


@dataclass
class CasePage:
    items: list[Case]
    total: int
    page: int
    page_size: int
    capped: bool = False  # more than ``total`` match: the count stopped there (list_cases count_limit)


def definition_of(case: Case) -> MachineDefinition:
    return get_registry().get(case.kind, case.machine_version)


def assignee_problem(session: Session, assignee_id: int | None, jurisdiction_code: str) -> str | None:
    """An assignee must see the case: their jurisdiction contains the case's (else it leaves every queue)."""
    if assignee_id is None:
        return None
    assignee = session.get(User, assignee_id)
    if assignee is None or in_subtree(session, assignee.jurisdiction_code, jurisdiction_code):
        return None
    return f"{assignee.display_name}不属于本案所在辖区或其上级机关，无法查看和办理此案件"


_KEPT_KINDS = {"enterprise": Enterprise, "user": User}


def _lookup(session: Session, kept: list | None = None):
    """The reference check of validate_fields. With ``kept``, the enterprise or user it loads is
    kept referenced there: the session's identity map holds objects weakly, and the transition's
    later reads of the same row (the assignee check, the document's recipients and facts) are then
    answered from it instead of another SELECT each."""
    def check(kind: str, value: Any) -> str | None:
        model = _KEPT_KINDS.get(kind) if kept is not None else None
        if model is not None and isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT:
            kept.append(session.get(model, value))
        return lookup_problem(session, kind, value)

    return check


COMMENT_MAX_LENGTH = 8000  # 备注 (the pages' textarea takes its maxlength from here)


def _comment_problem(comment: Any) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        return "应为文本"
    if len(comment) > COMMENT_MAX_LENGTH:
        return f"长度不能超过{COMMENT_MAX_LENGTH}个字符"
    if "\x00" in comment:
        return NUL_PROBLEM
    return None


# ---------------------------------------------------------------- read


def get_case(session: Session, actor: User, case_id: int, *, for_update: bool = False) -> Case:
    if abs(case_id) > MAX_INT:  # would overflow the driver; no such case anyway
        raise NotFound(f"案件（编号{case_id}）不存在或不在您的管辖范围内")
    if for_update:  # the transition's read: cases/ledger/transition_path.py
        from cases.ledger.transition_path import locked_case

        case = locked_case(session, actor, case_id)
    else:
        # The related units load when asked (the case page reads them with the enterprises' names).
        case = session.scalars(select(Case).where(Case.id == case_id, visible_cases_clause(actor))
                               .options(lazyload(Case.related))).first()
    if case is None:
        raise NotFound(f"案件（编号{case_id}）不存在或不在您的管辖范围内")
    return case


def case_events(session: Session, actor: User, case_id: int) -> list[CaseEvent]:
    get_case(session, actor, case_id)
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))
    if actor.role not in STAFF_ROLES:  # a referral's events and its clock's rungs are staff's (cases/referrals)
        events = without_staff_only_events(session, case_id, events)
    return events


def without_staff_only_events(session: Session, case_id: int, events: list[CaseEvent]) -> list[CaseEvent]:
    from cases.ledger.access import STAFF_ONLY_DEADLINE_KEYS, STAFF_ONLY_EVENT_ACTIONS
    from cases.models import Deadline

    hidden = set(session.scalars(select(Deadline.id).where(Deadline.case_id == case_id,
                                                           Deadline.key.in_(STAFF_ONLY_DEADLINE_KEYS))))
    return [e for e in events if e.action not in STAFF_ONLY_EVENT_ACTIONS
            and not (hidden and (e.payload or {}).get("deadline_id") in hidden)]


def _actor_may(actor: User, case: Case, action: ActionSpec) -> bool:
    if actor.role not in action.roles:
        return False
    if actor.role == "enterprise":  # the responsible unit's contacts only (cases/ledger/policy.py)
        return may_act_for_enterprise(actor, case)
    return True


# What a reading authority may still do on a case another authority owns.
READ_SIDE_ACTIONS = ("comment",)


def owner_refusal(session: Session, actor: User | None, case: Case, action: ActionSpec) -> str | None:
    """Where the grade decides who investigates (accidents: 一般 county, 较大 city, 重大 province —
    the machine's ``investigating_level``), only the owning authority (or one above it) acts;
    after 提级 the county keeps reading the case. None when the actor may act, else why not."""
    if actor is None or actor.role not in STAFF_ROLES or action.name in READ_SIDE_ACTIONS:
        return None
    if not definition_of(case).settings.get("investigating_level"):
        return None
    if in_subtree(session, actor.jurisdiction_code, case.jurisdiction_code):
        return None
    owner = session.get(Jurisdiction, case.jurisdiction_code)
    mine = session.get(Jurisdiction, actor.jurisdiction_code)
    return (f"本案件由{owner.authority_name if owner else case.jurisdiction_code}负责调查处理，"
            f"{mine.authority_name if mine else '您所在单位'}可以查阅，不能执行“{action.label}”")


def allowed_actions(session: Session, actor: User, case: Case, *, now: datetime | None = None) -> list[ActionSpec]:
    """Actions this caller can take now: state, role, jurisdiction and state guards considered."""
    now = now or clock.now()
    definition = definition_of(case)
    out = []
    for action in definition.actions_from(case.state):
        if not _actor_may(actor, case, action) or owner_refusal(session, actor, case, action):
            continue
        ctx = ActionContext(session=session, case=case, definition=definition, action=action, actor=actor,
                            now=now, values=None)
        if guards_pass(ctx):
            out.append(action)
    return out


def refusal_reason(session: Session, actor: User, case: Case, action: ActionSpec, *,
                   now: datetime | None = None) -> str | None:
    """Why ``action`` is not possible for this caller now, in the words of the rule that stops it (a
    state guard's own message, e.g. 尚未上传整改后照片…), or None when it is possible or only the state
    is wrong (the caller says that). For pages that explain a missing action."""
    definition = definition_of(case)
    if action.name not in {a.name for a in definition.actions_from(case.state)}:
        return None
    if not _actor_may(actor, case, action):
        return f"“{action.label}”不由您的角色执行"
    owner = owner_refusal(session, actor, case, action)
    if owner:
        return owner
    ctx = ActionContext(session=session, case=case, definition=definition, action=action, actor=actor,
                        now=now or clock.now(), values=None)
    for g in action.guards:
        message = GUARDS[g](ctx)
        if message:
            return message
    return None


# ---------------------------------------------------------------- act


def record_system_event(session: Session, case: Case, action: str, payload: dict[str, Any], *,
                        now: datetime, comment: str | None = None, changes: dict[str, Any] | None = None,
                        actor: User | None = None) -> CaseEvent:
    """An event that is not a machine action (a deadline recomputed, a rung fired, 提级, a listing).

    It takes the next event seq; only when it changes case fields (``changes``, e.g. 提级 moves
    the jurisdiction) does it bump ``version`` so officers' open forms go stale. A ``state`` among
    the changes (a self-found hazard handed over: cases/selfcheck/handover.py) is its ``to_state``.
    """
    write_unwritten_event(session)
    values: dict[str, Any] = {"event_seq": Case.event_seq + 1, **(changes or {})}
    if changes:
        values["version"] = Case.version + 1
        values["updated_at"] = now
    seq = session.execute(
        update(Case).where(Case.id == case.id).values(**values).returning(Case.event_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    event = CaseEvent(case_id=case.id, seq=seq, at=now, actor_id=actor.id if actor else None, action=action,
                      from_state=case.state, to_state=(changes or {}).get("state", case.state), payload=payload,
                      comment=comment)
    session.add(event)
    session.flush()
    session.refresh(case)
    return event


# ---------------------------------------------------------------- replay


def replay_state(definition_lookup: Callable[[str, int], MachineDefinition], events: Iterable[CaseEvent]) -> tuple[str, str, int]:
    """Rebuild (kind, state, last seq) from the event log alone."""
    kind = state = None
    version = 0
    machine_version = None
    for e in events:
        if e.seq != version + 1:
            raise ValueError(f"event log gap before seq {e.seq}")
        version = e.seq
        if e.action == "create":
            kind_from_payload = (e.payload or {}).get("kind")
            machine_version = (e.payload or {}).get("machine_version")
            kind = kind_from_payload or kind
            state = e.to_state
            continue
        if e.from_state != state:
            raise ValueError(f"event {e.seq} starts from {e.from_state}, replayed state is {state}")
        definition = definition_lookup(kind, machine_version)
        action = definition.action(e.action)
        if action is not None:  # a machine action: the machine must allow it (system events keep the state)
            if state not in action.sources:
                raise ValueError(f"event {e.seq}: {e.action} is not possible from {state}")
            if (action.dest or state) != e.to_state:
                raise ValueError(f"event {e.seq}: {e.action} leads to {action.dest or state}, log says {e.to_state}")
        reclassified = (e.payload or {}).get("reclassified")
        if reclassified:
            kind, machine_version = reclassified["to"], reclassified["machine_version"]
        state = e.to_state
    return kind, state, version


# Deadlines and listed supervision ride on every transition (cases.clocks.deadline_rules registers their hooks; importing cases.clocks.deadlines imports it).
from cases.ledger.transition_path import perform_action  # noqa: E402,F401  (the hot path, its own module)
from cases.clocks import deadlines as _deadlines  # noqa: E402,F401
from cases.issuance import documents as _documents  # noqa: E402,F401
from cases.analogs import proposals as _analogs  # noqa: E402,F401  (类比排查: docs/analogs.md)
from cases.credit import causes as _credit  # noqa: E402,F401  (不良行为记录: docs/credit.md)


# Creation lives in cases/ledger/creation.py; its names are served from here too (services.create_case…).
_CREATION = ("SOURCES", "RELATED_ROLES", "STAFF_CREATORS", "COMMON_CREATE_FIELDS", "create_case")


def __getattr__(name: str) -> Any:
    if name in _CREATION:
        from cases.ledger import creation

        return getattr(creation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
