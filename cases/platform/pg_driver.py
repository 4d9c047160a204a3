"""psycopg tuning for PostgreSQL engines (installed by ``cases.platform.db.make_engine``).

**Descriptions made only when read.** psycopg 3 builds ``cursor.description`` anew on every
access: one Python ``Column`` per column, each decoding its name and looking its type up (~1.9 µs
per column here, 39 µs for a 21-column result). SQLAlchemy reads ``description`` after every
statement — but once a statement's compiled form is cached it only asks whether there *is* one
(``CursorResult``: a cached compiled statement carries its result metadata). A transition's results hold ~130 columns: ~0.25 ms of CPU per
transition spent on objects nobody reads (docs/performance.md, session 21; psycopg issue 446
describes the same cost).

``LazyDescriptionCursor.description`` answers ``None`` exactly when psycopg would, and otherwise a
sequence that makes psycopg's own ``Column`` list the first time an item, its length or an
iteration is asked for. SQLAlchemy makes a cursor per statement and reads its description right
after executing (also between the batches of an ``executemany`` with RETURNING); a description read
after the cursor moved on to another result would describe the wrong one, so it refuses instead.
Installed as the ``cursor_factory``, as SQLAlchemy's psycopg documentation passes one.

**Reads end with COMMIT, so prepared statements survive.** psycopg prepares a statement on the
server once a connection has run it five times — and forgets *all* of them (``DEALLOCATE ALL``) at
every ``ROLLBACK``, in case the rollback undid a DROP or ALTER they depend on. A session that only
read ends with a ROLLBACK (SQLAlchemy closes it so), and every request starts with one (the user
check), so the pooled connections kept losing their prepared statements: in a transition bench
~60 % of the statements were parsed and planned anew each time (docs/performance.md, session 22).
``track_writes`` marks a connection's transaction as written by anything but a plain ``SELECT``
(a ``pg_notify`` counts as a write: it is delivered only at COMMIT); ``end_read`` commits a
transaction that was not, at the driver, before SQLAlchemy's rollback finds nothing left to roll
back. For a transaction that only read, COMMIT and ROLLBACK are the same to PostgreSQL (locks and
advisory locks are released by either).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from cases.platform.db import WROTE

_TUPLES = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK)
_psycopg_description = psycopg.Cursor.description.fget


class LazyDescription(Sequence):
    """psycopg's ``description`` of one result, made on first use."""

    __slots__ = ("_cursor", "_result", "_columns")

    def __init__(self, cursor: psycopg.Cursor, result: Any) -> None:
        self._cursor, self._result, self._columns = cursor, result, None

    def _made(self) -> list:
        if self._columns is None:
            if self._cursor.pgresult is not self._result:
                raise RuntimeError("cursor.description read after the cursor moved on to another result")
            self._columns = _psycopg_description(self._cursor)
            self._cursor = self._result = None
        return self._columns

    def __getitem__(self, index):
        return self._made()[index]

    def __len__(self) -> int:
        return len(self._made())

    def __iter__(self):
        return iter(self._made())

    def __repr__(self) -> str:
        return repr(self._made())


class LazyDescriptionCursor(psycopg.Cursor):
    __slots__ = ()

    @property
    def description(self) -> LazyDescription | None:  # type: ignore[override]
        result = self.pgresult
        if not (result and (result.nfields or result.status in _TUPLES)):  # as psycopg decides
            return None
        return LazyDescription(self, result)


# ---------------------------------------------------------------- reads end with COMMIT

def _began(conn, *_a) -> None:
    conn.info[WROTE] = False


def _statement(conn, _cursor, statement: str, _params, _context, _executemany) -> None:
    if not conn.info.get(WROTE) and (not statement.startswith("SELECT") or "pg_notify" in statement):
        conn.info[WROTE] = True


def track_writes(engine: Engine) -> None:
    """Mark each transaction of ``engine``'s connections that ran anything but a plain SELECT."""
    event.listen(engine, "begin", _began)
    event.listen(engine, "before_cursor_execute", _statement)


def end_read(session: Session) -> None:
    """Commit the session's transaction at the driver if it only read (see the module's docstring);
    otherwise leave it for SQLAlchemy to roll back, as it would have."""
    if not session.in_transaction():
        return
    conn = session.connection()
    if conn.info.get(WROTE, True) or session.new or session.dirty or session.deleted:
        return
    driver = conn.connection.driver_connection
    if driver.pgconn.transaction_status == pq.TransactionStatus.INTRANS:
        driver.commit()
