"""The hook point of 约谈 records for other modules (credit records, cases/credit/, are built
elsewhere and subscribe here; nothing in this package knows them).

Two events, each called exactly once, inside the transaction that records it (so a subscriber's
rows commit or roll back with it, and are exactly-once with it):

- ``INTERVIEW_HELD``: ``fn(session, interview, event)`` — an interview was recorded as held
  (staff action; the conditional ``scheduled → held`` update makes it once). ``event`` is the
  case's ``interview_held`` event (``payload``: interview id, held_at, units, commitments).
- ``COMMITMENT_MISSED``: ``fn(session, commitment, interview, event)`` — a commitment's clock ran
  out (the ladder's ``overdue`` rung, exactly once per commitment by the sweep's ``rung_firings``
  key). ``event`` is the case's ``commitment_missed`` event.

The same two facts are in the case's event log (actions ``interview_held`` and
``commitment_missed``) for what reads the log (as-of reports). Subscribe at import time:

    from cases.interviews import hooks

    @hooks.on_commitment_missed
    def deduct(session, commitment, interview, event): ...
"""
from __future__ import annotations

from typing import Any, Callable

INTERVIEW_HELD: list[Callable[..., None]] = []
COMMITMENT_MISSED: list[Callable[..., None]] = []


def on_interview_held(fn: Callable[..., None]) -> Callable[..., None]:
    INTERVIEW_HELD.append(fn)
    return fn


def on_commitment_missed(fn: Callable[..., None]) -> Callable[..., None]:
    COMMITMENT_MISSED.append(fn)
    return fn


def emit(hooks: list[Callable[..., None]], *args: Any) -> None:
    for fn in list(hooks):
        fn(*args)
