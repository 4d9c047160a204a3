"""Engine and sessions. SQLite is the embedded default (WAL, busy timeout); PostgreSQL is first class."""
from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql" and u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


# Bounded waits while the database is away (settings db_connect_timeout_seconds and
# db_statement_timeout_seconds override them; 0 turns the statement timeout off): a request fails
# with 503 instead of holding a worker thread for minutes. A sweep works in small batches, far
# below 15 s per statement.
CONNECT_TIMEOUT = 5.0
STATEMENT_TIMEOUT = 15.0


def _sqlite_pragmas(dbapi_conn, _record, busy_ms: int = 15000) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable with WAL at a checkpoint; measured ~2.5x FULL
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# Set by Database.transaction(): the work will write.
_write_intent: ContextVar[bool] = ContextVar("anjian_write_intent", default=False)


# How a writer waits for SQLite's write lock at BEGIN IMMEDIATE: it tries again after these
# pauses (seconds; the last repeats) instead of in SQLite's busy handler, which sleeps in steps
# growing to 100 ms — a writer that arrives while another sleeps takes the lock first, and the
# sleeper's next look may be 100 ms away, so at 100 transitions/s on a half-busy machine a few
# writers in a hundred waited 0.2–2 s for a lock free most of that time. After
# _BEGIN_SLOW_AFTER seconds of waiting (a backup, a long migration) it looks every
# _BEGIN_SLOW_PAUSE instead, and it gives up after the busy timeout as SQLite would.
_BEGIN_PAUSES = (0.0005, 0.001, 0.001, 0.002)
_BEGIN_SLOW_AFTER = 0.5
_BEGIN_SLOW_PAUSE = 0.01


def _sqlite_begin(conn, busy_ms: int, looker: threading.Lock) -> None:
    # A writer takes the write lock at BEGIN so writers queue for it instead of one failing later
    # with "database is locked" when it upgrades a read transaction; readers use a deferred BEGIN
    # and never wait for writers (WAL).
    if not _write_intent.get():
        conn.exec_driver_sql("BEGIN")
        return
    # The connection's busy timeout is off while BEGIN IMMEDIATE looks (a PRAGMA: no I/O) and set
    # back after; every other statement keeps it.
    dbapi = conn.connection.driver_connection
    try:
        dbapi.execute("PRAGMA busy_timeout=0")
        try:
            try:
                dbapi.execute("BEGIN IMMEDIATE")  # the common case: the lock is free
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            _begin_when_free(dbapi, busy_ms / 1000, looker)
        finally:
            dbapi.execute(f"PRAGMA busy_timeout={busy_ms}")
    except sqlite3.Error as exc:  # as SQLAlchemy would have raised it (api/errors.py: 503)
        raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def _begin_when_free(dbapi, busy_seconds: float, looker: threading.Lock) -> None:
    """BEGIN IMMEDIATE tried again every few milliseconds until it gets the lock or the busy
    timeout has passed ("database is locked", as SQLite's own handler would say). Of one engine's
    waiting threads only the holder of ``looker`` looks; the others wait for it in turn (each
    process then competes for the lock with one looker, however many requests it has waiting)."""
    started = time.monotonic()
    if not looker.acquire(timeout=busy_seconds):
        raise sqlite3.OperationalError("database is locked")
    try:
        step = 0
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            waited = time.monotonic() - started
            if waited < _BEGIN_SLOW_AFTER:
                pause = _BEGIN_PAUSES[min(step, len(_BEGIN_PAUSES) - 1)]
            else:
                pause = _BEGIN_SLOW_PAUSE
            if waited + pause > busy_seconds:
                raise sqlite3.OperationalError("database is locked")
            time.sleep(pause)
            step += 1
    finally:
        looker.release()


# Pool: the API runs sync endpoints on anyio's thread pool (40 threads), each holding a connection
# for its transaction. A pool smaller than that made every request above pool_size open a fresh
# connection and close it afterwards ("overflow"): measured at 0.4 new PostgreSQL backends per
# request at 32 concurrent requests. Connections are opened lazily, so an idle process keeps few.
POOL_SIZE = 32
MAX_OVERFLOW = 8


def make_engine(url: str, *, connect_timeout: float = CONNECT_TIMEOUT,
                statement_timeout: float = STATEMENT_TIMEOUT, **kwargs) -> Engine:
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has no server to wait for; its one wait is for the write lock (busy timeout).
        busy = statement_timeout or STATEMENT_TIMEOUT
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy, "isolation_level": None},
            pool_size=kwargs.pop("pool_size", POOL_SIZE),
            max_overflow=kwargs.pop("max_overflow", MAX_OVERFLOW),
            **kwargs,
        )
        event.listen(engine, "connect", lambda c, r: _sqlite_pragmas(c, r, int(busy * 1000)))
        looker = threading.Lock()
        event.listen(engine, "begin", lambda c: _sqlite_begin(c, int(busy * 1000), looker))
        return engine
    connect_args = dict(kwargs.pop("connect_args", {}))
    if u.get_backend_name() == "postgresql":
        # libpq counts whole seconds (at least 2); a server that accepts and never answers is
        # given up after this instead of the TCP timeout (minutes).
        # Values the URL or the caller already set win.
        if "connect_timeout" not in u.query:
            connect_args.setdefault("connect_timeout", max(2, int(round(connect_timeout))))
        options = connect_args.get("options") or u.query.get("options") or ""
        options = options if isinstance(options, str) else " ".join(options)
        # libpq takes PGOPTIONS only when no options are given, and some always are (below): keep
        # the operator's (e.g. "-c log_min_duration_statement=0" while profiling) in front of ours.
        if os.environ.get("PGOPTIONS"):
            options = f"{os.environ['PGOPTIONS']} {options}".strip()
        if statement_timeout and "statement_timeout" not in options:
            options = f"{options} -c statement_timeout={int(statement_timeout * 1000)}".strip()
        # Short OLTP statements: PostgreSQL's JIT compiles any plan above jit_above_cost (a count over
        # the open cases of a province at 1 M cases) for ~100 ms that the statement never wins back
        # (docs/performance.md "Scale"). A URL or caller that names jit decides instead.
        if "jit" not in options:
            options = f"{options} -c jit=off".strip()
        connect_args["options"] = options
        # psycopg builds cursor.description on every read; SQLAlchemy mostly only asks whether there
        # is one (cases/platform/pg_driver.py). A caller's own cursor factory wins.
        from cases.platform.pg_driver import LazyDescriptionCursor

        connect_args.setdefault("cursor_factory", LazyDescriptionCursor)
    engine = create_engine(
        url,
        pool_size=kwargs.pop("pool_size", POOL_SIZE),
        max_overflow=kwargs.pop("max_overflow", MAX_OVERFLOW),
        pool_pre_ping=True,
        connect_args=connect_args,
        **kwargs,
    )
    if u.get_backend_name() == "postgresql":
        # A session that only read ends with COMMIT: psycopg keeps its prepared statements
        # (cases/platform/pg_driver.py end_read, called by Database.session).
        from cases.platform.pg_driver import track_writes

        track_writes(engine)
    return engine


# session.info key: {name: fn(database)} run once after the transaction commits (never after a rollback).
AFTER_COMMIT = "anjian_after_commit"
# Connection.info key (PostgreSQL): this transaction ran something other than a plain SELECT, so a
# session ending without an error rolls it back rather than commit it as a read (pg_driver.end_read).
WROTE = "anjian_wrote"


def mark_written(conn) -> None:
    """For a write SQLAlchemy does not see (a ``COPY`` on the driver's own cursor)."""
    conn.info[WROTE] = True


class Database:
    """One engine + session factory; the API and the flows each hold one."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self._end_read = None
        if self.engine.dialect.name == "postgresql":
            from cases.platform.pg_driver import end_read

            self._end_read = end_read

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads, or for writes the caller commits. Left without an error, a
        transaction that only read ends with COMMIT on PostgreSQL (it keeps psycopg's prepared
        statements: cases/platform/pg_driver.py); anything else is rolled back, as always."""
        with self.session_factory() as s:
            yield s
            if self._end_read is not None:
                self._end_read(s)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        token = _write_intent.set(True)
        try:
            with self.session_factory() as s:
                with s.begin():
                    yield s
                after = s.info.pop(AFTER_COMMIT, None)
        finally:
            _write_intent.reset(token)
        for fn in (after or {}).values():  # committed: work derived from it (cases/issuance/derive.py)
            fn(self)

    def dispose(self) -> None:
        self.engine.dispose()


def create_scratch_postgres(admin_url: str, prefix: str = "anjian_tmp",
                            template: str | None = None) -> tuple[str, "callable"]:
    """A throw-away PostgreSQL database (tests, benchmarks): returns its URL and a function that drops it."""
    import uuid

    import psycopg

    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin.set(database=name).render_as_string(hide_password=False), drop


_db: Database | None = None


def get_database() -> Database:
    global _db
    if _db is None:
        from cases.platform.config import get_settings

        settings = get_settings()
        _db = Database(settings.effective_database_url, connect_timeout=settings.db_connect_timeout_seconds,
                       statement_timeout=settings.db_statement_timeout_seconds)
    return _db


def set_database(db: Database | None) -> None:
    global _db
    _db = db


# ---------------------------------------------------------------- one row, inserted as loaded


@functools.lru_cache(maxsize=None)
def _insert_returning(mapper):
    table = mapper.local_table
    columns = {prop.key: prop.columns[0] for prop in mapper.column_attrs if prop.columns[0].table is table}
    return columns, table.insert().returning(*columns.values())


def insert_as_loaded(session: Session, obj) -> None:
    """INSERT one new ORM object on its table and attach it to the session as if it had been
    loaded: every column as the INSERT wrote it (column defaults; on PostgreSQL what a BEFORE trigger
    set) comes back from RETURNING, so nothing is read again later. What the session has pending is
    flushed first.

    For the rows written on every transition and derivation (the event, a deadline it opens, a
    derived document): the ORM's unit of work costs about twice a plain statement for one row (~0.8 ms of CPU per row on the machine of
    docs/performance.md session 20). No relationship of the object is cascaded: set foreign keys."""
    mapper = inspect(type(obj))
    columns, stmt = _insert_returning(mapper)
    state = obj.__dict__
    values = {col.key: state[key] for key, col in columns.items() if key in state
              and not (state[key] is None and col.primary_key)}
    session.flush()
    row = session.execute(stmt, values).one()
    for key, value in zip(columns, row):
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)
    session.add(obj)
