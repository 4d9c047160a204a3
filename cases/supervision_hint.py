""""No live supervision": what the transition's locked read of a case says, so its answer need not ask.

``cases.services.get_case(for_update=True)`` reads, with the case row, whether the case has a
supervision that is not lifted (an indexed EXISTS in the same statement). When it has none, the
case page the action answers with (``cases.supervision.active_supervision``) skips its SELECT —
unless this transaction wrote a supervision of the case (listing a major hazard at registration):
any Supervision pending in the session, or flushed since, for that case voids the hint. The hint
lives in ``session.info`` until the transaction ends.
"""
from __future__ import annotations

from itertools import chain

from sqlalchemy import event, exists
from sqlalchemy.orm import Session, object_session

from cases.models import Case, Supervision

_KEY = "anjian_no_live_supervision"

# Correlated to the case row of the statement it is added to.
LIVE_SUPERVISION = exists().where(Supervision.case_id == Case.id, Supervision.status != "lifted")


def note(session: Session, case_id: int, live: bool) -> None:
    cases = session.info.setdefault(_KEY, set())
    if live:
        cases.discard(case_id)
    else:
        cases.add(case_id)


def none_live(session: Session, case_id: int) -> bool:
    """True only if the locked read saw no live supervision and this transaction wrote none since."""
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
        session.info.pop(_KEY, None)
