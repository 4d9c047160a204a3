"""Idempotency keys: one outcome per (user, key), stored in the database.

The HTTP side (reading the header, replaying a response) is ``api/idempotency.py``; this module owns
the rows of ``idempotency_keys`` and the one rule that makes a key and its effect commit together:

* :func:`reserve` claims the key before the request runs (a committed INSERT under the unique
  constraint (user_id, key): of concurrent duplicates exactly one wins, the others see its row).
* While the request runs, :data:`current` holds its :class:`Reservation`. Every transaction of the
  request that commits on the application database first runs
  ``UPDATE idempotency_keys SET committed_at = … WHERE id = … AND lock_token = …`` *in that same
  transaction* (a ``before_commit`` listener on every SQLAlchemy Session). So the effect and the mark
  "this key's effect happened" commit together or not at all; and a request whose key was taken over
  (its lock had expired, see :data:`LOCK_SECONDS`) cannot commit its effect any more — the update
  finds no row and the commit is refused with :class:`IdempotencyKeyTakenOver` (409).
* :func:`complete` stores the response; :func:`release` deletes a key whose effect never committed
  (the request failed with a 5xx, or did not run), so a retry runs it.

What a crash leaves (docs/guarantees.md "Idempotent requests"): a row without ``committed_at`` means
the effect did not commit — after ``LOCK_SECONDS`` a retry takes the key over and runs the request; a
row with ``committed_at`` but no response (a crash between the commit and storing the response) is
answered 409 ``idempotency_outcome_unknown``: never a second effect.
"""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator, Literal

from sqlalchemy import Engine, delete, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases.platform.db import Database
from cases.platform.errors import Conflict
from cases.models import IdempotencyKey

# A key whose request has neither committed its effect nor finished after this long is considered
# abandoned (its process died) and may be taken over by a retry. Far above the statement timeout (15 s).
LOCK_SECONDS = 60.0
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[\x20-\x7e]{1,%d}" % MAX_KEY_LENGTH)
KEY_LABEL = "幂等键（Idempotency-Key）"
KEY_RULE = f"应为1至{MAX_KEY_LENGTH}个可打印ASCII字符"


def key_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable key (Chinese), or None."""
    return None if _KEY.fullmatch(value) and value.strip() else KEY_RULE


class IdempotencyKeyTakenOver(Conflict):
    """This request's key was taken over by a retry after its lock expired: its effect may not commit."""

    code = "idempotency_in_progress"


@dataclass
class Reservation:
    id: int
    token: str
    engine: Engine
    now: datetime
    committed: bool = False  # set once a transaction of the request has committed (with the mark)


@dataclass
class Decision:
    kind: Literal["run", "replay", "mismatch", "in_progress", "unknown"]
    reservation: Reservation | None = None
    status: int | None = None
    headers: list[Any] = field(default_factory=list)
    body: bytes = b""
    detail: str = ""  # mismatch: "path" or "body"


current: ContextVar[Reservation | None] = ContextVar("anjian_idempotency_reservation", default=None)


@event.listens_for(Session, "before_commit")
def _mark_committed(session: Session) -> None:
    res = current.get()
    if res is None or res.committed or session.get_bind() is not res.engine:
        return
    marked = session.execute(
        update(IdempotencyKey).where(IdempotencyKey.id == res.id, IdempotencyKey.lock_token == res.token)
        .values(committed_at=res.now)).rowcount
    if marked != 1:
        raise IdempotencyKeyTakenOver("请求正在处理：使用同一幂等键（Idempotency-Key）的请求已由重试接手，本次请求未生效")


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    res = current.get()
    if res is not None and session.get_bind() is res.engine:
        res.committed = True


def _decide(row: IdempotencyKey | None, *, method: str, path: str, body_sha256: str,
            now: datetime, ttl: timedelta) -> str:
    """What to do with the stored row: new / expired / mismatch / replay / unknown / stale / in_progress."""
    if row is None:
        return "new"
    if row.created_at <= now - ttl:
        return "expired"
    if (row.method, row.path) != (method, path):
        return "mismatch:path"
    if row.body_sha256 != body_sha256:
        return "mismatch:body"
    if row.response_status is not None:
        return "replay"
    if row.locked_at is not None and row.locked_at > now - timedelta(seconds=LOCK_SECONDS):
        return "in_progress"  # running, or committed and about to store its response
    # The owner is gone: before its effect committed (take over), or after (never run it twice).
    return "unknown" if row.committed_at is not None else "stale"


def _answer(verdict: str, row: IdempotencyKey | None) -> Decision:
    if verdict.startswith("mismatch"):
        return Decision("mismatch", detail=verdict.split(":")[1])
    if verdict == "replay":
        return Decision("replay", status=row.response_status, headers=list(row.response_headers or []),
                        body=bytes(row.response_body or b""))
    return Decision(verdict)  # unknown / in_progress


def _find(session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return session.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                        IdempotencyKey.key == key)).scalar_one_or_none()


def reserve(db: Database, *, user_id: int, key: str, method: str, path: str, body_sha256: str,
            now: datetime, ttl: timedelta) -> Decision:
    """Claim ``key`` for this request (``run``), or say what the stored row answers."""
    with _bookkeeping():
        return _reserve(db, user_id, key, dict(method=method, path=path, body_sha256=body_sha256, now=now, ttl=ttl))


def _reserve(db: Database, user_id: int, key: str, args: dict[str, Any]) -> Decision:
    now, method, path, body_sha256 = args["now"], args["method"], args["path"], args["body_sha256"]
    for _ in range(5):
        with db.session() as s:  # most duplicates need no write (and no SQLite write lock)
            row = _find(s, user_id, key)
            verdict = _decide(row, **args)
        if verdict not in ("new", "expired", "stale"):
            return _answer(verdict, row)
        try:
            with db.transaction() as s:
                row = _find(s, user_id, key)
                verdict = _decide(row, **args)
                token = uuid.uuid4().hex
                if verdict == "expired":
                    s.delete(row)
                    s.flush()
                    verdict = "new"
                if verdict == "new":
                    row = IdempotencyKey(user_id=user_id, key=key, method=method, path=path, body_sha256=body_sha256,
                                         created_at=now, lock_token=token, locked_at=now)
                    s.add(row)
                    s.flush()
                    return Decision("run", Reservation(row.id, token, db.engine, now))
                if verdict == "stale":  # the owner died before its effect committed: take the key over
                    taken = s.execute(update(IdempotencyKey).where(
                        IdempotencyKey.id == row.id, IdempotencyKey.lock_token.is_not_distinct_from(row.lock_token),
                        IdempotencyKey.committed_at.is_(None), IdempotencyKey.response_status.is_(None))
                        .values(lock_token=token, locked_at=now)).rowcount
                    if taken == 1:
                        return Decision("run", Reservation(row.id, token, db.engine, now))
                    continue
                return _answer(verdict, row)
        except IntegrityError:  # a concurrent duplicate inserted first: read its row
            continue
    return Decision("in_progress")


@contextmanager
def _bookkeeping() -> Iterator[None]:
    """The key's own rows are written outside the request's effect: no mark on these commits."""
    token = current.set(None)
    try:
        yield
    finally:
        current.reset(token)


def complete(db: Database, res: Reservation, *, status: int, headers: list[Any], body: bytes, now: datetime) -> bool:
    """Store the response to replay; False if the key is no longer this request's."""
    with _bookkeeping(), db.transaction() as s:
        return s.execute(update(IdempotencyKey).where(
            IdempotencyKey.id == res.id, IdempotencyKey.lock_token == res.token).values(
            response_status=status, response_headers=headers, response_body=body, completed_at=now,
            lock_token=None)).rowcount == 1


def release(db: Database, res: Reservation) -> None:
    """Forget the key of a request whose effect never committed, so that a retry runs it."""
    with _bookkeeping(), db.transaction() as s:
        s.execute(delete(IdempotencyKey).where(IdempotencyKey.id == res.id, IdempotencyKey.lock_token == res.token,
                                               IdempotencyKey.committed_at.is_(None)))


def purge_expired(db: Database, *, now: datetime, ttl: timedelta) -> int:
    with _bookkeeping(), db.transaction() as s:
        return s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - ttl)).rowcount
