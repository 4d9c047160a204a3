"""PostgreSQL's cursors (cases/platform/pg_cursor.py): ``description`` made only when read.

PostgreSQL only: the cursor is psycopg's (SQLite's driver builds its description once per
statement in C and is left as it is).
"""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import literal, select, text

from cases.platform.db import Database
from cases.platform.pg_cursor import LazyDescription, LazyDescriptionCursor
from tests.conftest import PG_ENABLED, PG_URL

pytestmark = pytest.mark.skipif(not PG_ENABLED, reason="a psycopg cursor: PostgreSQL only, and ANJIAN_TEST_POSTGRES_URL turned PostgreSQL off")


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
