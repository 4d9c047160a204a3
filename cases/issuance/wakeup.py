"""Wake the outbox's deliverer when a transaction that wrote to the outbox commits.

``cases.issuance.outbox.enqueue`` marks its session (``outbox_written``); when that session's transaction
commits, every callback registered here (``add_outbox_waker``) is called — in this process, right
after the commit, so the row is visible to whoever the callback wakes. Under ``anjian serve`` the
delivery lane runs in the API process (workflows/loop.py) and registers its wake-up here: a message
leaves within milliseconds of the transition that wrote it, not at the next poll. A rolled-back
transaction wakes nobody. Delivery in another process is woken by PostgreSQL ``NOTIFY`` sent at the
commit of the transaction that wrote (:func:`notify_with_insert`; :func:`notify_other_processes`),
and on SQLite by its poll (the fallback, always on): nothing here is
needed for correctness — a wake-up only shortens the wait (a lost one costs one poll interval), and the claim (``SKIP LOCKED``) keeps
delivery exactly-once however many deliverers wake.

Nothing here imports the workflows or notifications packages (cases/ never does): they register.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

log = logging.getLogger("anjian.wakeup")

_FLAG = "anjian_outbox_written"
CHANNEL = "anjian_outbox"  # PostgreSQL NOTIFY channel: "an outbox row was committed"
_NOTIFIED = "anjian_outbox_notified"  # this transaction's outbox INSERT carried the NOTIFY
_wakers: list[Callable[[], None]] = []
_notify_always = False  # notify_other_processes()
_lock = threading.Lock()


def add_outbox_waker(fn: Callable[[], None]) -> None:
    with _lock:
        if fn not in _wakers:
            _wakers.append(fn)


def remove_outbox_waker(fn: Callable[[], None]) -> None:
    with _lock:
        if fn in _wakers:
            _wakers.remove(fn)


def outbox_written(session: Session) -> None:
    """Call in the transaction that wrote outbox rows: its commit wakes this process's deliverers."""
    session.info[_FLAG] = True


def notify_other_processes() -> None:
    """This process's wakers reach only itself and its parent (the derive process,
    workflows/derive_worker.py): its commits that wrote to the outbox also ``NOTIFY`` the deliverers
    of other processes — inside the same transaction, not in one of their own."""
    global _notify_always
    _notify_always = True


def notify_with_insert(session: Session) -> bool:
    """On PostgreSQL, when no deliverer runs in this process (e.g. the API processes of ``anjian
    serve --workers N``) or :func:`notify_other_processes` was called: True — the outbox INSERT
    carries a ``pg_notify`` in its RETURNING, so the workers elsewhere (``LISTEN``, workflows/loop.py)
    are woken by the server at commit — nothing on rollback, and no statement of its own
    (duplicates within a transaction are sent once). Records on the session that it did, so its
    commit sends no second one (``_before_commit``)."""
    if (_wakers and not _notify_always) or session.get_bind().dialect.name != "postgresql":
        return False
    session.info[_NOTIFIED] = True
    return True


def wake_outbox() -> None:
    """Wake this process's deliverers: outbox rows were committed (here, or by a child process that
    says so — the derive process, workflows/derive_launcher.py)."""
    for fn in list(_wakers):
        try:
            fn()
        except Exception:  # a wake-up never fails the request whose transaction committed
            log.exception("outbox wake-up failed")


# Built once: the NOTIFY of a transaction that woke held e-mails without inserting any (a render).
_NOTIFY = select(func.pg_notify(CHANNEL, ""))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if (_notify_always and session.info.get(_FLAG) and not session.info.get(_NOTIFIED)
            and session.get_bind().dialect.name == "postgresql"):
        session.execute(_NOTIFY)
        session.info[_NOTIFIED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_NOTIFIED, None)
    if session.info.pop(_FLAG, False):
        wake_outbox()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)
    session.info.pop(_NOTIFIED, None)
