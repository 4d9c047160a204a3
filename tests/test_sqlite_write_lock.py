"""How a writer waits for SQLite's write lock (cases/platform/db.py ``_sqlite_begin``).

SQLite has one write lock per database; PostgreSQL has no such wait, so these tests are SQLite's
alone. A writer that finds the lock taken looks again every few milliseconds (its busy timeout
off while it looks) instead of sleeping in SQLite's busy handler, whose pauses grow to 100 ms;
of one engine's waiting threads only one looks at a time; past the busy timeout it fails as
SQLite would ("database is locked": the API answers 503), and the connection keeps its busy
timeout for every other statement.

The holder of the lock here is a plain sqlite3 connection — another process's writer as SQLite
sees it. The tests wait on progress (the looks counted by the connection's trace callback), never
on a measured time.
"""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from cases.platform.db import Database

GENEROUS = 20.0  # seconds: the bound on waiting for progress on a loaded machine


@pytest.fixture()
def locked_db(tmp_path):
    path = tmp_path / "lock.db"
    db = Database(f"sqlite:///{path}", statement_timeout=GENEROUS)
    looks: list[tuple[int, str]] = []
    looks_lock = threading.Lock()

    def trace(statement: str) -> None:
        if statement.strip().upper() == "BEGIN IMMEDIATE":
            with looks_lock:
                looks.append((threading.get_ident(), statement))

    event.listen(db.engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(trace))
    with db.transaction() as s:
        s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    looks.clear()
    holder = sqlite3.connect(str(path), isolation_level=None, timeout=0)
    yield db, holder, looks
    holder.close()
    db.dispose()


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + GENEROUS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"no progress within {GENEROUS:.0f} s: {what}")
        time.sleep(0.01)


def _write(db: Database, who: str, errors: list) -> None:
    try:
        with db.transaction() as s:
            s.execute(text("INSERT INTO t (who) VALUES (:who)"), {"who": who})
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_a_waiting_writer_looks_again_every_few_milliseconds_and_writes_once_the_lock_is_free(locked_db):
    db, holder, looks = locked_db
    holder.execute("BEGIN IMMEDIATE")
    errors: list = []
    writer = threading.Thread(target=_write, args=(db, "officer", errors))
    writer.start()
    # SQLite's own busy handler would try once (one traced BEGIN IMMEDIATE) and then sleep inside
    # that statement; this writer keeps looking.
    _wait_for(lambda: len(looks) >= 20, "the waiting writer looked again 20 times")
    assert writer.is_alive()
    holder.execute("ROLLBACK")
    writer.join(GENEROUS)
    assert not writer.is_alive() and errors == []
    with db.session() as s:
        assert s.execute(text("SELECT who FROM t")).scalars().all() == ["officer"]
        # The busy timeout is back for every other statement on the pooled connection.
        assert s.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == int(GENEROUS * 1000)


def test_of_one_process_s_waiting_writers_one_looks_and_the_others_queue(locked_db):
    db, holder, looks = locked_db
    holder.execute("BEGIN IMMEDIATE")
    errors: list = []
    writers = [threading.Thread(target=_write, args=(db, f"w{i}", errors)) for i in range(4)]
    for w in writers:
        w.start()
    # Each tries once on arrival; then only the one holding the engine's turn looks again.
    _wait_for(lambda: len({ident for ident, _ in looks}) == 4 and len(looks) >= 4 + 30,
              "four writers arrived and 30 more looks")
    held = list(looks)
    per_thread = {ident: sum(1 for i, _ in held if i == ident) for ident, _ in held}
    assert sorted(per_thread.values())[:3] == [1, 1, 1], per_thread
    holder.execute("ROLLBACK")
    for w in writers:
        w.join(GENEROUS)
    assert errors == [] and not any(w.is_alive() for w in writers)
    with db.session() as s:
        assert sorted(s.execute(text("SELECT who FROM t")).scalars()) == ["w0", "w1", "w2", "w3"]


def test_a_lock_held_past_the_busy_timeout_fails_as_database_is_locked_and_loses_nothing(tmp_path):
    path = tmp_path / "lock.db"
    db = Database(f"sqlite:///{path}", statement_timeout=0.3)
    with db.transaction() as s:
        s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    holder = sqlite3.connect(str(path), isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO t (who) VALUES ('holder')")
        with pytest.raises(OperationalError, match="database is locked"):
            with db.transaction() as s:
                s.execute(text("INSERT INTO t (who) VALUES ('late')"))
        holder.execute("COMMIT")
        with db.transaction() as s:  # the same pooled connection, usable and with its timeout
            s.execute(text("INSERT INTO t (who) VALUES ('next')"))
            assert s.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == 300
        with db.session() as s:
            assert s.execute(text("SELECT who FROM t ORDER BY id")).scalars().all() == ["holder", "next"]
    finally:
        holder.close()
        db.dispose()
