"""Database trouble: the service answers while its database is away, and recovers when it returns.

- unreachable (a closed port): /healthz 200, /readyz 503 naming the database, API 503 JSON + Retry-After;
- a "black hole" (accepts, never answers): requests fail with 503 within the connect timeout and
  /healthz keeps answering while 20 of them are in flight;
- recovery: a server whose database was missing at start answers 200 once it is there, and after
  every database connection was cut (pg_terminate_backend) the pool reconnects by itself.
The time bounds asserted are hang guards (a hang was 60 s and more), not performance goals.
"""
from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from cases.platform.clock import Clock
from cases.platform.config import Settings
from cases.platform.db import Database
from cases.platform.migrate import upgrade
from cases.models import User
from cases.reference import load_reference_data
from cases.platform.security import issue_token, resolve_signing_key
from tests.conftest import BACKENDS, PG_ENABLED, PG_URL, SECRET, LiveServer

CONNECT_TIMEOUT = 2  # libpq's minimum
HANG_GUARD = 30
needs_pg = pytest.mark.skipif(not PG_ENABLED, reason="PostgreSQL disabled by ANJIAN_TEST_POSTGRES_URL")


# One data dir for every app of this file: the same key and installation id mint the tokens.
_DATA_DIR = tempfile.mkdtemp(prefix="anjian-dbtrouble-")
atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)


def _token(user_id: int = 1) -> str:
    now = datetime.now(timezone.utc)
    key = resolve_signing_key(Settings(secret_key=SECRET, data_dir=_DATA_DIR))
    return issue_token(user_id, key, now, timedelta(hours=1))


def _serve(url: str, before_start=None) -> tuple[LiveServer, Database]:
    from api.app import create_app

    db = Database(url, connect_timeout=CONNECT_TIMEOUT)
    if before_start:
        before_start()
    settings = Settings(secret_key=SECRET, database_url=url, db_connect_timeout_seconds=CONNECT_TIMEOUT,
                        data_dir=_DATA_DIR)
    # its own clock on real time: the tokens below are minted for now, whatever the session's clock says
    return LiveServer(create_app(database=db, settings=settings, clock=Clock())), db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_url(port: int, database: str = "anjian") -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == "database_unavailable"
    assert body["message"] == "数据库暂时不可用，请稍后重试"
    assert int(r.headers["Retry-After"]) > 0


@pytest.fixture
def server_on_closed_port():
    server, db = _serve(_pg_url(_free_port()))  # nothing listens there
    yield server
    server.stop()
    db.dispose()


def test_unreachable_database_gives_503_json_and_readyz_names_it(server_on_closed_port):
    with httpx.Client(base_url=server_on_closed_port.url, timeout=HANG_GUARD + 10) as http:
        r = http.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"

        started = time.monotonic()
        r = http.get("/api/me", headers={"Authorization": f"Bearer {_token()}"})
        assert time.monotonic() - started < HANG_GUARD
        _assert_unavailable(r)

        r = http.post("/api/auth/token", data={"username": "officer", "password": "x"})
        _assert_unavailable(r)

        r = http.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["failing"] == ["database"]
        assert body["checks"]["database"]["status"] == "unavailable"
        assert "数据库" in body["message"]
        # the heartbeat lives in the database: unknown while it is away, not invented
        assert body["checks"]["worker"]["status"] == "unknown"
        assert body["checks"]["worker"]["last_heartbeat"] is None
        assert "Retry-After" in r.headers


class BlackHole:
    """A TCP listener on loopback that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self.stopping = True
        self.thread.join(timeout=5)
        for c in self.accepted:
            c.close()
        self.sock.close()


def test_black_hole_database_fails_fast_and_healthz_keeps_answering():
    hole = BlackHole()
    server, db = _serve(_pg_url(hole.port))
    try:
        results: list[tuple[float, httpx.Response | Exception]] = []

        def call() -> None:
            started = time.monotonic()
            try:
                with httpx.Client(timeout=HANG_GUARD + 10) as http:
                    r = http.get(server.url + "/api/me", headers={"Authorization": f"Bearer {_token()}"})
            except Exception as exc:  # noqa: BLE001
                r = exc
            results.append((time.monotonic() - started, r))

        before = len(hole.accepted)
        threads = [threading.Thread(target=call) for _ in range(20)]
        for t in threads:
            t.start()
        # wait until the requests are stuck on the black hole (each holds a connection attempt)
        deadline = time.monotonic() + HANG_GUARD
        while len(hole.accepted) - before < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(hole.accepted) - before >= 20
        with httpx.Client(base_url=server.url, timeout=HANG_GUARD) as http:
            r = http.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            r = http.get("/readyz")  # bounded too, on its own thread
            assert r.status_code == 503 and r.json()["failing"] == ["database"]
        for t in threads:
            t.join(timeout=HANG_GUARD + 15)
        assert len(results) == 20
        for elapsed, r in results:
            assert isinstance(r, httpx.Response), r
            _assert_unavailable(r)
            assert elapsed < HANG_GUARD
    finally:
        server.stop()
        db.dispose()
        hole.close()


def _prepare(url: str) -> int:
    """Migrate a fresh database, load the reference data, add one officer; returns the officer's id."""
    upgrade(url)
    db = Database(url)
    try:
        now = datetime.now(timezone.utc)
        with db.transaction() as s:
            load_reference_data(s)
            u = User(username="officer", display_name="张三", password_hash="x", role="officer",
                     jurisdiction_code="320508", active=True, created_at=now)
            s.add(u)
            s.flush()
            return u.id
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_service_recovers_by_itself_when_the_database_returns(backend, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/db/anjian.db"
        # the engine makes the file's directory; it is gone before the server first connects
        server, db = _serve(url, before_start=lambda: shutil.rmtree(tmp_path / "db"))
        admin_dsn = None
    else:
        name = f"anjian_test_down_{int(time.time() * 1000) % 10**9}"
        url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False)
        admin_dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
        server, db = _serve(url)  # the database does not exist yet
    try:
        with httpx.Client(base_url=server.url, timeout=HANG_GUARD + 10,
                          headers={"Authorization": f"Bearer {_token()}"}) as http:
            _assert_unavailable(http.get("/api/me"))
            assert http.get("/readyz").status_code == 503

            if backend == "sqlite":
                (tmp_path / "db").mkdir()
            else:
                with psycopg.connect(admin_dsn, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
            user_id = _prepare(url)
            http.headers["Authorization"] = f"Bearer {_token(user_id)}"

            r = http.get("/api/me")
            assert r.status_code == 200, r.text
            assert r.json()["username"] == "officer"
            r = http.get("/readyz")
            assert r.status_code == 200, r.text
            assert r.json()["checks"]["database"] == {"status": "ok"}

            if backend == "postgresql":
                # every server-side connection cut: the pool notices (pre-ping) and reconnects
                with psycopg.connect(admin_dsn, autocommit=True) as conn:
                    cut = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
                assert cut >= 1
                r = http.get("/api/me")
                assert r.status_code == 200, r.text
    finally:
        server.stop()
        db.dispose()
        if admin_dsn:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@needs_pg
def test_statement_timeout_ends_a_statement_that_never_finishes():
    """A statement held longer than the statement timeout is cancelled by PostgreSQL (503 upstream)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    db = Database(PG_URL, statement_timeout=1)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"):
            with db.session() as s:
                s.execute(text("SELECT pg_sleep(30)"))
        assert time.monotonic() - started < HANG_GUARD
    finally:
        db.dispose()
