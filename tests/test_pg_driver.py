"""PostgreSQL driver tuning (cases/platform/pg_driver.py): ``description`` made only when read; a
session that only read ends with COMMIT, so psycopg keeps its prepared statements.

PostgreSQL only: both are about psycopg (SQLite's driver builds its description once per statement
in C and has no prepared statements to lose). CI always runs them.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.engine import make_url

from cases.platform.db import Database
from cases.platform.pg_driver import LazyDescription, LazyDescriptionCursor
from tests.conftest import PG_ENABLED, PG_URL

pytestmark = pytest.mark.skipif(not PG_ENABLED, reason="these test PostgreSQL's driver (psycopg); skipped only where ANJIAN_TEST_POSTGRES_URL turns PostgreSQL off — CI always runs them")


@pytest.fixture
def pg():
    db = Database(PG_URL)
    yield db
    db.dispose()


def _columns_made(monkeypatch) -> list[int]:
    made = [0]
    real = psycopg.Column.__init__

    def counting(self, cursor, index):
        made[0] += 1
        real(self, cursor, index)

    monkeypatch.setattr(psycopg.Column, "__init__", counting)
    return made


def test_the_description_is_psycopgs_when_read_and_none_when_psycopg_says_none(pg):
    with pg.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()
        assert isinstance(cur, LazyDescriptionCursor)
        cur.execute("SELECT 1 AS a, 'x'::text AS b, now() AS c")
        lazy = cur.description
        plain = psycopg.Cursor(raw)
        plain.execute("SELECT 1 AS a, 'x'::text AS b, now() AS c")
        assert isinstance(lazy, LazyDescription)
        assert [tuple(c) for c in lazy] == [tuple(c) for c in plain.description]  # all 7 fields of each
        assert [(c.name, c.type_code) for c in lazy] == [("a", 23), ("b", 25), ("c", 1184)]
        assert len(lazy) == 3 and lazy[-1].name == "c" and [c.name for c in lazy[-2:]] == ["b", "c"]
        cur.execute("SELECT")  # a result without columns: an empty description, not None (as psycopg)
        assert cur.description is not None and list(cur.description) == [] == plain.execute("SELECT").description
        cur.execute("SET LOCAL statement_timeout = 1000")  # no tuples
        assert cur.description is None
        raw.rollback()


def test_a_description_read_after_the_cursor_moved_on_is_refused(pg):
    with pg.engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        cur.execute("SELECT 1 AS first")
        stale = cur.description
        cur.execute("SELECT 2 AS second")
        with pytest.raises(RuntimeError, match="moved on"):
            list(stale)
        assert [c.name for c in cur.description] == ["second"]
        conn.connection.dbapi_connection.rollback()


def test_a_cached_statement_makes_no_column_objects(pg, monkeypatch):
    """SQLAlchemy reads a cached statement's result metadata from its compiled form: the second
    execution of the same SELECT builds no psycopg Column; a text() statement (its metadata made
    from the description) still gets its names."""
    stmt = select(literal(1).label("n"), literal("s").label("m"))
    with pg.engine.connect() as conn:
        assert conn.execute(stmt).mappings().one() == {"n": 1, "m": "s"}  # compiled and cached
        made = _columns_made(monkeypatch)
        assert conn.execute(stmt).mappings().one() == {"n": 1, "m": "s"}
        assert made[0] == 0
        assert conn.execute(text("SELECT 3 AS three, 4 AS four")).mappings().one() == {"three": 3, "four": 4}
        assert made[0] == 2


# ---------------------------------------------------------------- reads end with COMMIT

PROBE = "anjian_pg_driver_probe"


@pytest.fixture
def one_connection():
    """A database whose sessions all use the same single connection (so its prepared statements
    are the ones a later session sees)."""
    db = Database(PG_URL, pool_size=1, max_overflow=0)
    with db.engine.begin() as c:
        c.execute(text(f"CREATE TABLE IF NOT EXISTS {PROBE} (n integer)"))
        c.execute(text(f"DELETE FROM {PROBE}"))
    yield db
    with db.engine.begin() as c:
        c.execute(text(f"DROP TABLE {PROBE}"))
    db.dispose()


def _prepared(db: Database) -> list[str]:
    with db.engine.connect() as c:
        return [s for s in c.execute(text("SELECT statement FROM pg_prepared_statements")).scalars() if PROBE in s]


def test_sessions_that_only_read_keep_the_statements_psycopg_prepared(one_connection):
    db = one_connection
    read = text(f"SELECT n FROM {PROBE} WHERE n = :n")
    for i in range(8):  # psycopg prepares a statement at its fifth run on a connection
        with db.session() as s:
            s.execute(read, {"n": i}).all()
    assert len(_prepared(db)) == 1
    # What happened before: a ROLLBACK (here an explicit one) makes psycopg forget them all.
    with db.session() as s:
        s.execute(read, {"n": 0}).all()
        s.rollback()
    assert _prepared(db) == []


def test_a_session_that_wrote_and_did_not_commit_is_still_rolled_back(one_connection):
    db = one_connection
    with db.session() as s:
        s.execute(text(f"INSERT INTO {PROBE} (n) VALUES (1)"))
        s.execute(text(f"SELECT n FROM {PROBE}")).all()  # a read after the write changes nothing
    with pytest.raises(RuntimeError):
        with db.session() as s:
            s.execute(text(f"SELECT n FROM {PROBE}")).all()
            raise RuntimeError("a read that fails")
    with db.session() as s:
        assert s.execute(text(f"SELECT count(*) FROM {PROBE}")).scalar() == 0
        s.execute(text(f"INSERT INTO {PROBE} (n) VALUES (2)"))
        s.commit()  # a caller's own commit still commits
    with db.session() as s:
        assert s.execute(text(f"SELECT n FROM {PROBE}")).scalars().all() == [2]


def test_a_notify_in_a_session_that_did_not_commit_is_not_sent(one_connection):
    db = one_connection
    channel = f"{PROBE}_{uuid.uuid4().hex[:8]}"
    dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute(f"LISTEN {channel}")
        with db.session() as s:  # pg_notify is delivered at COMMIT: it counts as a write
            s.execute(text("SELECT pg_notify(:c, 'dropped')"), {"c": channel})
        with db.session() as s:
            s.execute(text("SELECT pg_notify(:c, 'sent')"), {"c": channel})
            s.commit()
        got = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        got += [n.payload for n in listener.notifies(timeout=0.5)]
    assert got == ["sent"]


def test_a_copy_on_the_drivers_cursor_counts_as_a_write(one_connection):
    from cases.clocks.bulk_rows import copy_rows

    db = one_connection
    with db.session() as s:  # SQLAlchemy does not see this COPY: copy_rows says it wrote
        s.execute(text(f"SELECT count(*) FROM {PROBE}")).scalar()
        copy_rows(s, PROBE, ("n",), [(1,), (2,)])
        assert s.execute(text(f"SELECT count(*) FROM {PROBE}")).scalar() == 2
    with db.session() as s:
        assert s.execute(text(f"SELECT count(*) FROM {PROBE}")).scalar() == 0
