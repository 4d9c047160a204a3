"""Documents derived after commit from the event log: 文号, snapshot, recipients, messages.

An action or a creation whose step issues documents (``cases.issuance.documents.TRANSITION_DOCUMENTS`` /
``CREATION_DOCUMENTS``) does, in its own transaction, only what must be atomic with the state
change plus a cheap check: the preflight (422 when a fact the document needs is missing), and the
event row marked ``derive_due`` with ``documents_due`` (type, title) and ``at_event`` (the case's
columns the documents read, as they were at the event) in its payload. Everything else is derived
here, after commit, per event in event order, exactly once:

* :func:`derive_event` issues each due document (:func:`cases.issuance.documents.issue`: the 文号, the
  snapshot as of the event, recipients, outbox rows), records ``documents`` on the event's payload
  and clears ``derive_due`` — all in one transaction. The keys that make a second run a no-op:
  ``documents (case_id, cause, doc_type)`` (cause = ``action:<event id>``), the outbox's
  ``dedupe_key`` (cause, template, recipient, channel), and the flag itself, re-read under the lock.
* :func:`derive_case` derives one case's pending events, oldest first, holding a per-case lock
  (PostgreSQL: a transaction-scoped advisory lock plus ``FOR UPDATE SKIP LOCKED`` on the events;
  SQLite: its single writer) so a case's documents are issued in the order of its events.
* Who calls it: the served API never does — it collects what its commits scheduled
  (:func:`deferred`) and wakes its derive process (workflows/derive_launcher.py,
  workflows/derive_worker.py: a separate process, :func:`derive_pending` in batches); an app built
  for tests runs it in a background task (or before answering); any other caller of
  ``db.transaction()`` right after its commit (the hook :func:`schedule` installs); the worker's
  sweep lane (``workflows/derive_flow.py``) for whatever is left — a crash between the commit and
  the derivation loses nothing: the flag and the partial index ``ix_case_events_derive_due`` remain.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, Iterator

from sqlalchemy import Boolean, Integer, bindparam, cast, func, literal, select, text
from sqlalchemy.orm import Session

from cases.platform import clock
from cases.platform.db import AFTER_COMMIT, Database
from cases.models import Case, CaseEvent, User

log = logging.getLogger(__name__)

# Set while a derivation runs in this thread (the statement-count test tells its statements apart).
deriving: ContextVar[bool] = ContextVar("anjian_deriving", default=False)
# A list: derivations scheduled by commits in this context are collected instead of run (the API
# hands them to a background task after the response). None: run right after the commit.
_deferred: ContextVar[list | None] = ContextVar("anjian_derive_deferred", default=None)
# False: committed events are left for the worker (tests simulate a crash after the commit).
_enabled: ContextVar[bool] = ContextVar("anjian_derive_enabled", default=True)

_CASES_KEY = "anjian_derive_cases"
ADVISORY_CLASS = 9117  # pg advisory lock namespace: (ADVISORY_CLASS, case id)


# ---------------------------------------------------------------- after commit


def schedule(session: Session, case_id: int) -> None:
    """Derive the case's pending events once the caller's transaction has committed."""
    cases = session.info.setdefault(_CASES_KEY, set())
    cases.add(case_id)
    session.info.setdefault(AFTER_COMMIT, {})["derive"] = lambda db: _after_commit(db, sorted(cases))


def _after_commit(db: Database, case_ids: list[int]) -> None:
    if not _enabled.get():
        return
    deferred = _deferred.get()
    if deferred is not None:
        deferred.extend((db, c) for c in case_ids if (db, c) not in deferred)
        return
    run(db, case_ids)


def run(db: Database, case_ids: list[int]) -> None:
    """Derive these cases' pending events now; an error is logged and left to the worker's lane."""
    for case_id in case_ids:
        try:
            derive_case(db, case_id)
        except Exception:  # noqa: BLE001 - the flag stays set: the worker derives it later
            log.exception("case %s: deriving its documents failed; left to the worker", case_id)


def run_deferred(items: list[tuple[Database, int]]) -> None:
    for db, case_id in items:
        run(db, [case_id])


@contextmanager
def deferred() -> Iterator[list[tuple[Database, int]]]:
    """Collect the derivations the commits inside schedule, to run them later (a background task)."""
    items: list[tuple[Database, int]] = []
    token = _deferred.set(items)
    try:
        yield items
    finally:
        _deferred.reset(token)


@contextmanager
def paused() -> Iterator[None]:
    """Commits inside derive nothing themselves (as if the process died right after committing)."""
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)


# ---------------------------------------------------------------- deriving


def _case_as_of(event: CaseEvent) -> Case:
    """A transient Case holding the columns the documents read, as they were at the event (never
    added to a session)."""
    facts = dict((event.payload or {}).get("at_event") or {})
    facts.pop("contact", None)
    return Case(id=event.case_id, **facts)


def derive_event(session: Session, event: CaseEvent) -> list[dict[str, Any]]:
    """Issue the event's due documents, record them on the event and clear its flag (caller's
    transaction). Idempotent: a document already issued for (case, cause, type) is not issued again."""
    from cases.issuance import documents
    from cases.issuance.doc_snapshots import SNAPSHOTS
    from cases.reads.jurisdiction_cache import jurisdiction_rows

    payload = dict(event.payload or {})
    due = [d["type"] for d in payload.get("documents_due") or []]
    at_event = payload.get("at_event") or {}
    case = _case_as_of(event)
    ctx = _SnapshotContext(session, event.action, event.actor_id)
    opened = {d["key"]: d for d in payload.get("deadlines") or [] if d.get("key") and d.get("change") == "opened"}
    values = dict(payload.get("values") or {})
    # The process's reference cache (cases/reads/jurisdiction_cache.py), as the request's preflight reads it.
    issuer = jurisdiction_rows(session, [case.jurisdiction_code]).get(case.jurisdiction_code)
    issued = []
    for doc_type in due:
        snapshot, recipients, urgent = SNAPSHOTS[doc_type](session, case, values, event.at, ctx=ctx,
                                                           opened=opened, seq=event.seq)
        snapshot = {**(at_event.get("contact") or {}), **snapshot}
        doc = documents.issue(session, case, doc_type, cause=documents.cause_of(event), now=event.at,
                              snapshot=snapshot, recipients=recipients, urgent=urgent, issuer=issuer)
        issued.append({"type": doc_type, "number": doc.number, "id": doc.id})
    # ``at_event`` has served (the documents' variables keep what they used); when they were derived
    # (wall clock): bench/transitions.py reports the lag behind the event.
    kept = {k: v for k, v in payload.items() if k != "at_event"}
    event.payload = {**kept, "documents": issued, "documents_derived_at": clock.now().isoformat()}
    event.derive_due = None
    session.flush()
    return issued


class _SnapshotContext:
    """The action as a snapshot sees it (``ctx.action.name``, ``ctx.actor``). The actor is read when
    a snapshot names it (a 复查意见书's inspectors), not for every event: most documents never do."""

    __slots__ = ("action", "_session", "_actor_id", "_actor")
    _UNREAD = object()

    def __init__(self, session: Session, action: str, actor_id: int | None) -> None:
        self.action = SimpleNamespace(name=action)
        self._session, self._actor_id, self._actor = session, actor_id, self._UNREAD

    @property
    def actor(self) -> User | None:
        if self._actor is self._UNREAD:
            self._actor = _actor(self._session, self._actor_id) if self._actor_id else None
        return self._actor


_ACTORS = "anjian.derive_actors"


def _actor(session: Session, user_id: int) -> User | None:
    """``session.get``, the row kept for the rest of the transaction: a batch's events mostly share
    their actor, and the identity map forgets a row nobody references — so without this each event
    read it again (docs/performance.md session 19)."""
    held = session.info.setdefault(_ACTORS, {})
    found = held.get(user_id)
    if found is None:
        found = held[user_id] = session.get(User, user_id)
    return found


# Built once (each event of a derivation runs them; a statement built per call costs ~0.1–0.3 ms of CPU).
_LOCK = text("SELECT pg_advisory_xact_lock(:c, :k)")
_PENDING_EVENTS = (select(CaseEvent).where(CaseEvent.case_id == bindparam("case_id"), CaseEvent.derive_due.is_not(None))
                   .order_by(CaseEvent.seq))
_PENDING_EVENTS_SKIP_LOCKED = _PENDING_EVENTS.with_for_update(skip_locked=True)
# The derive process's: the case's lock tried in the same statement (one round trip, not two) — no
# row if another deriver holds the case. The key is the parameter, not the row's column: in whatever
# order PostgreSQL evaluates the conditions, no other case's lock is taken.
_PENDING_EVENTS_TRY_LOCKED = (select(CaseEvent).where(
    CaseEvent.case_id == bindparam("case_id"), CaseEvent.derive_due.is_not(None),
    func.pg_try_advisory_xact_lock(literal(ADVISORY_CLASS, Integer), cast(bindparam("case_id"), Integer),
                                   type_=Boolean))
    .order_by(CaseEvent.seq).with_for_update(skip_locked=True))


def _derive_locked(s: Session, case_id: int, wait: bool) -> int:
    """The case's pending events derived in the caller's transaction, holding the case's lock — 0 if,
    not waiting, another deriver holds it (PostgreSQL; SQLite: the write transaction is the lock)."""
    if s.get_bind().dialect.name != "postgresql":
        stmt = _PENDING_EVENTS
    elif wait:
        s.execute(_LOCK, {"c": ADVISORY_CLASS, "k": case_id})
        stmt = _PENDING_EVENTS_SKIP_LOCKED
    else:
        stmt = _PENDING_EVENTS_TRY_LOCKED
    events = list(s.scalars(stmt, {"case_id": case_id}))
    for event in events:
        derive_event(s, event)
    return len(events)


def derive_case(db: Database, case_id: int, *, wait: bool = True) -> int:
    """Derive one case's pending events in event order, in one transaction; returns how many.
    ``wait`` False: give up at once if another deriver holds the case (the worker's lane)."""
    token = deriving.set(True)
    try:
        with db.transaction() as s:
            return _derive_locked(s, case_id, wait)
    finally:
        deriving.reset(token)


# PostgreSQL: this many cases derived in one transaction (one commit, and the 文号 counter row of an
# issuing authority locked once per batch instead of once per case). SQLite: one case per
# transaction — its writer lock would hold the requests' writes up for the whole batch.
PG_BATCH_CASES = 10


def derive_cases(db: Database, case_ids: list[int]) -> tuple[int, int]:
    """Derive these cases' pending events in one transaction, skipping a case another deriver holds;
    returns (cases derived, events derived). An error rolls the batch back (the caller retries case
    by case)."""
    token = deriving.set(True)
    try:
        with db.transaction() as s:
            return _derive_batch(s, case_ids)
    finally:
        deriving.reset(token)


def _derive_batch(s: Session, case_ids: list[int]) -> tuple[int, int]:
    cases = events = 0
    for case_id in case_ids:
        n = _derive_locked(s, case_id, wait=False)
        if n:
            cases += 1
            events += n
    return cases, events


def _derive_cases_or_none(db: Database, case_ids: list[int]) -> tuple[int, int] | None:
    try:
        return derive_cases(db, case_ids)
    except Exception:  # noqa: BLE001 - rolled back: the caller derives these case by case
        return None


def _list_and_derive_first(db: Database, limit: int, batch: int) -> tuple[list[int], tuple[int, int] | None]:
    """The pending cases, and the first ``batch`` of them derived — in one transaction: a pass that
    finds one case (the usual pass, one per commit at a moderate rate) is one transaction, not one
    to list and one to derive. (cases listed, (cases, events) derived — None if that rolled back)."""
    token = deriving.set(True)
    listed: list[int] | None = None
    try:
        with db.transaction() as s:
            listed = pending_cases(s, limit)
            return listed, _derive_batch(s, listed[:batch])
    except Exception:  # noqa: BLE001 - rolled back: the caller derives the first batch case by case
        if listed is None:
            raise  # not even listed (the database is away): the pass fails, as it would have
        return listed, None
    finally:
        deriving.reset(token)


# Both read the pending events in id order, which the partial index ix_case_events_derive_due
# (id, case_id) gives: an index-only scan of the pending rows, not a scan of the table — unless
# PostgreSQL last analysed the table when nearly every event was pending; then walking the primary
# key looks as cheap until the next analysis (migration 0024_derive_order, docs/performance.md).
_PENDING_IN_ORDER = (select(CaseEvent.case_id).where(CaseEvent.derive_due.is_not(None))
                     .order_by(CaseEvent.id).limit(bindparam("rows", type_=Integer)))
_ANY_PENDING = select(CaseEvent.id).where(CaseEvent.derive_due.is_not(None)).order_by(CaseEvent.id).limit(1)
PENDING_ROWS_PER_CASE = 4  # rows read per case asked for (a case usually has one or two pending)


def pending_cases(session: Session, limit: int) -> list[int]:
    """Up to ``limit`` cases with events whose documents are due, the longest waiting first (by
    their oldest pending event). Reads at most ``limit × PENDING_ROWS_PER_CASE`` pending events: a
    case with more than that pending may fill the answer alone — it is the oldest, so it goes first."""
    rows = session.scalars(_PENDING_IN_ORDER, {"rows": limit * PENDING_ROWS_PER_CASE})
    return list(dict.fromkeys(rows))[:limit]


def derivations_due(db: Database) -> bool:
    """Is any event's documents still to be derived? One index-only ``SELECT … LIMIT 1`` (the worker's tick)."""
    with db.session() as s:
        return s.execute(_ANY_PENDING).first() is not None


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.derive_due.is_not(None))) or 0


def derive_pending(db: Database, *, limit: int = 100, batch: int = 1) -> dict[str, int]:
    """The worker's pass: derive up to ``limit`` cases' pending events, each case in its own
    transaction — on PostgreSQL ``batch`` cases per transaction (the derive process) — ; a case
    another deriver holds is skipped (it is being done)."""
    counts = {"cases": 0, "events": 0, "busy": 0, "errors": 0}
    singles: list[int] = []
    if db.dialect == "postgresql" and batch > 1:
        case_ids, first = _list_and_derive_first(db, limit, batch)
        for i in range(0, len(case_ids), batch):
            chunk = case_ids[i:i + batch]
            done = first if i == 0 else _derive_cases_or_none(db, chunk)
            if done is None:  # rolled back: case by case below, the failing one logged
                singles += chunk
                continue
            cases, events = done
            counts["cases"] += cases
            counts["busy"] += len(chunk) - cases
            counts["events"] += events
        case_ids = singles
    else:
        with db.session() as s:
            case_ids = pending_cases(s, limit)
    for case_id in case_ids:
        try:
            n = derive_case(db, case_id, wait=False)
        except Exception:  # noqa: BLE001 - left pending, retried next pass
            log.exception("case %s: deriving its documents failed", case_id)
            counts["errors"] += 1
            continue
        counts["cases" if n else "busy"] += 1
        counts["events"] += n
    return counts
