"""Writers of one process take turns (SQLite: cases/platform/db.py ``_WriterGate``), and no way a
transaction ends — commit, rollback, an error, a broken connection — leaves the turn behind."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from cases.models.security import SecurityEvent
from cases.platform.db import writer_gate_busy

THREADS = 12
WRITES = 5


def _write(db, n: int) -> None:
    with db.transaction() as s:
        s.add(SecurityEvent(kind="login", username=f"writer-{n}", at=datetime.now(timezone.utc)))


def _count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(SecurityEvent).where(SecurityEvent.username.like("writer-%")))


def test_many_writers_at_once_all_land_and_leave_no_turn_behind(db):
    database = db
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(i: int) -> None:
        try:
            start.wait(timeout=30)
            for k in range(WRITES):
                _write(database, i * WRITES + k)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert _count(database) == THREADS * WRITES
    assert not writer_gate_busy(database.engine)


def test_a_failed_or_broken_write_gives_its_turn_back(db):
    database = db
    class Boom(Exception):
        pass

    with pytest.raises(Boom):  # an error inside the transaction: rolled back
        with database.transaction() as s:
            s.add(SecurityEvent(kind="login", username="writer-rolled-back", at=datetime.now(timezone.utc)))
            s.flush()
            raise Boom()
    assert not writer_gate_busy(database.engine)
    with pytest.raises(Boom):  # the connection itself invalidated mid-transaction
        with database.transaction() as s:
            s.add(SecurityEvent(kind="login", username="writer-broken", at=datetime.now(timezone.utc)))
            s.flush()
            s.connection().invalidate()
            raise Boom()
    assert not writer_gate_busy(database.engine)
    _write(database, 0)  # the next writer goes at once (a turn left behind would hold it 15 s)
    assert _count(database) == 1
    assert not writer_gate_busy(database.engine)
