"""What the transition's locked read of a case says besides the row, so its answer need not ask.

**No related units**: the read carries whether the case has ``case_enterprises`` rows (an indexed
EXISTS); the case page (api/serialize.py) then reads no related rows, and no enterprise name when
the responsible unit is already in the session (the action's reference check read it).

**No supervision**: ``cases.ledger.services.get_case(for_update=True)`` reads, with the case row,
whether the case has a supervision at all (live or lifted; an indexed EXISTS in the same statement).
When it has none, the case page (``cases.clocks.supervision.active_supervision``) and a document's
addressing (``notifications.rendering.variables.party_name``) skip their SELECT — unless this transaction wrote a supervision of the case (listing a major hazard at registration):
any Supervision pending in the session, or flushed since, for that case voids the hint. The hint
lives in ``session.info`` until the transaction ends.

**Kept rows**: what a transition read by key (and the signed-in user, ``hold_actor``) stays in the
session's identity map until the transaction ends, where later lookups by key find it.
"""
from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import event, exists, inspect
from sqlalchemy.orm import Session, object_session

from cases.models import Case, CaseEnterprise, Supervision, User

_KEY = "anjian_no_supervision"
_NO_RELATED = "anjian_no_related_units"

# Correlated to the case row of the statement they are added to.
SUPERVISIONS = exists().where(Supervision.case_id == Case.id)


RELATED_UNITS = exists().where(CaseEnterprise.case_id == Case.id)


def note(session: Session, case_id: int, supervised: bool, related: bool) -> None:
    for key, present in ((_KEY, supervised), (_NO_RELATED, related)):
        cases = session.info.setdefault(key, set())
        if present:
            cases.discard(case_id)
        else:
            cases.add(case_id)


_KEPT = "anjian_transition_rows"


def kept_rows(session: Session) -> list:
    """A list the transition keeps the rows it read by key in until its transaction ends (the
    identity map holds them weakly): the answer finds them there too (the responsible unit's name)."""
    return session.info.setdefault(_KEPT, [])


def hold_actor(session: Session, actor: Any, kept: list) -> None:
    """Put the signed-in user (read by the request's user check in its own session, every column
    loaded) into this session's identity map and keep it there, so that the lookups of the same
    user by key — the case's creator or assignee in a document's facts, the letter's contact —
    find it instead of reading it again: ``merge(load=False)`` copies it without a SELECT (~0.08
    against ~0.8 ms of CPU for a read by key here). Nothing is written: the copy is clean."""
    if actor is None or not isinstance(actor, User):
        return
    key = session.identity_key(User, actor.id)
    held = session.identity_map.get(key)
    if held is None:
        state = inspect(actor)
        if state.session_id is not None or state.transient or state.pending or state.expired_attributes:
            return  # attached elsewhere, never stored or partly expired: the lookups read it as before
        held = session.merge(actor, load=False)
    kept.append(held)


def no_related(session: Session, case_id: int) -> bool:
    """True only if the locked read saw no related unit and this transaction added none (only
    create_case adds them, through Case.related)."""
    if case_id not in session.info.get(_NO_RELATED, ()):
        return False
    return not any(isinstance(obj, CaseEnterprise) for obj in session.new)


def no_supervision(session: Session, case_id: int) -> bool:
    """True only if the locked read saw no supervision of the case (live or lifted) and this
    transaction wrote none since."""
    if case_id not in session.info.get(_KEY, ()):
        return False
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Supervision) and obj.case_id in (case_id, None):
            return False
    return True


@event.listens_for(Supervision, "before_insert")
@event.listens_for(Supervision, "before_update")
@event.listens_for(Supervision, "before_delete")
def _written(mapper, connection, target: Supervision) -> None:
    session = object_session(target)
    if session is not None:
        session.info.get(_KEY, set()).discard(target.case_id)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if not session.in_nested_transaction():
        for key in (_KEY, _NO_RELATED, _KEPT):
            session.info.pop(key, None)
