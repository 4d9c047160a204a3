"""A psycopg cursor whose ``description`` is built only when something reads it.

psycopg 3 builds ``cursor.description`` anew on every access: one Python ``Column`` per column,
each decoding its name and looking its type up (~1.9 µs per column here, 39 µs for a 21-column
result). SQLAlchemy reads ``description`` after every statement — but once a statement's compiled
form is cached it only asks whether there *is* one (``CursorResult``: a cached compiled statement
carries its result metadata). A transition's results hold ~130 columns: ~0.25 ms of CPU per
transition spent on objects nobody reads (docs/performance.md, session 21; psycopg issue 446
describes the same cost).

``LazyDescriptionCursor.description`` answers ``None`` exactly when psycopg would, and otherwise a
sequence that makes psycopg's own ``Column`` list the first time an item, its length or an
iteration is asked for. SQLAlchemy makes a cursor per statement and reads its description right
after executing (also between the batches of an ``executemany`` with RETURNING); a description read
after the cursor moved on to another result would describe the wrong one, so it refuses instead.
Installed for PostgreSQL engines by ``cases.platform.db.make_engine`` (``cursor_factory``, as
SQLAlchemy's psycopg documentation passes one).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq

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
