"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, over real HTTP.

PostgreSQL comes from ANJIAN_TEST_POSTGRES_URL (default: the machine's local server); each
test session creates its own throw-away database there and drops it at the end.
Set ANJIAN_TEST_POSTGRES_URL=none to run SQLite only (the run then says so).
"""
from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from cases.platform import clock as clock_module
from cases.calendar.calendar_store import clear_calendar_cache
from cases.platform.clock import Clock
from cases.platform.config import Settings
from cases.platform.db import Database, create_scratch_postgres
from cases.platform.migrate import upgrade
from cases.models import Base, Building, Enterprise, Project, ProjectParty, User
from cases.reference import load_reference_data
from cases.platform.security import hash_password, issue_token

PG_URL = os.environ.get("ANJIAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_ENABLED = PG_URL.strip().lower() not in ("", "none", "off")
BACKENDS = ["sqlite", "postgresql"] if PG_ENABLED else ["sqlite"]
REFERENCE_TABLES = {"jurisdictions", "hazard_catalog_items", "alembic_version"}
SECRET = "test-secret-for-anjian-suite-0123456789"
# A fixed instant on a working Monday morning, Beijing time (2026-11-23 09:00 +08:00).
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


def pytest_report_header(config):
    return f"anjian databases: {', '.join(BACKENDS)}" + ("" if PG_ENABLED else " (PostgreSQL disabled by ANJIAN_TEST_POSTGRES_URL)")


def _create_pg_database() -> tuple[str, callable]:
    return create_scratch_postgres(PG_URL, "anjian_test")


def make_test_database(backend: str, tmp_dir) -> tuple[Database, callable]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir}/anjian-test.db"
        drop = lambda: None  # noqa: E731
    else:
        url, drop = _create_pg_database()
    upgrade(url)
    db = Database(url)
    with db.transaction() as s:
        load_reference_data(s)
    return db, drop


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory):
    db, drop = make_test_database(request.param, tmp_path_factory.mktemp(request.param))
    yield db
    db.dispose()
    drop()


def wipe(db: Database) -> None:
    # The calendar's generation row goes with the rest: forget what this process holds in memory
    # (in production only an upload changes calendar_years, and it bumps the generation).
    clear_calendar_cache()
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
    with db.transaction() as s:
        if db.dialect == "postgresql":
            s.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                s.execute(t.delete())
            # last: the delete trigger on cases appends to it (migration 0008_counts)
            s.execute(text("DELETE FROM case_open_counts"))


@pytest.fixture(scope="session")
def test_clock():
    c = Clock()
    previous = clock_module._clock
    clock_module.set_clock(c)
    yield c
    clock_module.set_clock(previous)


@pytest.fixture
def clock(test_clock):
    test_clock.set(T0)
    yield test_clock


@pytest.fixture
def db(database, clock):
    """A clean database (reference data kept) for one test."""
    wipe(database)
    yield database


_PASSWORD_HASH = None


def password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = hash_password("secret-pw")
    return _PASSWORD_HASH


@dataclass
class World:
    officer: User          # 姑苏区 320508
    officer_wz: User       # 吴中区 320506 (another county)
    supervisor: User       # 苏州市 320500
    province: User         # 江苏省 320000 supervisor
    admin: User            # 江苏省 320000
    contact: User          # enterprise contact of e1
    e1: Enterprise
    e2: Enterprise
    p1: Project            # in 320508
    p2: Project            # in 320506
    b1: Building           # in 320508
    b2: Building           # in 320506


@pytest.fixture
def world(db, clock) -> World:
    return seed_world(db, clock.now())


def seed_world(db: Database, now: datetime) -> World:
    """The world's users, enterprises, projects and buildings, written into ``db`` at ``now``
    (the ``world`` fixture; tests/faults seeds the databases it starts itself with it too)."""
    pw = password_hash()
    with db.transaction() as s:
        e1 = Enterprise(credit_code="91320508MA1XXXXX0A"[:17] + "0", name="苏州测试建设有限公司", jurisdiction_code="320508",
                        credit_score=100, created_at=now, contact_name="钱工", contact_phone="13900000000")
        from cases.ledger.identifiers import make_credit_code

        e1.credit_code = make_credit_code("91320508MA1PXXXXX"[:17].replace("X", "1"))
        e2 = Enterprise(credit_code=make_credit_code("91320506MA1Q22222"), name="吴中第二建筑有限公司",
                        jurisdiction_code="320506", credit_score=100, created_at=now)
        s.add_all([e1, e2])
        s.flush()

        def user(username, role, code, **kw):
            u = User(username=username, display_name=username, password_hash=pw, role=role, jurisdiction_code=code,
                     active=True, created_at=now, **kw)
            s.add(u)
            s.flush()
            return u

        # Staff have a phone: every notice prints its contact officer's (cases.issuance.documents.preflight).
        supervisor = user("supervisor", "supervisor", "320500", email="sup@example.gov.cn", phone="0512-68610000")
        officer = user("officer", "officer", "320508", supervisor_id=supervisor.id, email="off@example.gov.cn",
                       phone="0512-65000001")
        officer_wz = user("officer_wz", "officer", "320506", supervisor_id=supervisor.id, phone="0512-66000001")
        province = user("province", "supervisor", "320000", phone="025-51868000")
        admin = user("admin", "admin", "320000")
        contact = user("contact", "enterprise", "320508", enterprise_id=e1.id, email="contact@example.com")
        p1 = Project(name="姑苏测试项目", jurisdiction_code="320508", address="平江路1号", created_at=now)
        p1.parties = [ProjectParty(enterprise_id=e1.id, role="contractor")]
        p2 = Project(name="吴中测试项目", jurisdiction_code="320506", address="东吴北路2号", created_at=now)
        p2.parties = [ProjectParty(enterprise_id=e2.id, role="contractor")]
        b1 = Building(name="平江路5号老公房", jurisdiction_code="320508", address="平江路5号", structure="砖混",
                      year_built=1978, floors=4, created_at=now)
        b2 = Building(name="木渎自建房", jurisdiction_code="320506", address="木渎镇3号", structure="砖木",
                      year_built=1985, floors=3, created_at=now)
        s.add_all([p1, p2, b1, b2])
        s.flush()
        for obj in (p1, p2):
            s.refresh(obj)
        s.expunge_all()
    return World(officer, officer_wz, supervisor, province, admin, contact, e1, e2, p1, p2, b1, b2)


def complete_project(db, world, clock, *, phone: str | None = "0512-65000000") -> None:
    """Builder and supervision unit on p1 and the officer's phone: what a 整改通知书 prints."""
    from sqlalchemy import update

    from cases.ledger.identifiers import make_credit_code

    with db.transaction() as s:
        if phone:
            s.execute(update(User).where(User.id == world.officer.id).values(phone=phone))
        builder = Enterprise(credit_code=make_credit_code("91320508MA1B33333"), name="姑苏城市建设发展有限公司",
                             jurisdiction_code="320508", credit_score=100, created_at=clock.now())
        sup = Enterprise(credit_code=make_credit_code("91320508MA1J44444"), name="苏州工程监理咨询有限公司",
                         jurisdiction_code="320508", credit_score=100, created_at=clock.now())
        s.add_all([builder, sup])
        s.flush()
        s.add_all([ProjectParty(project_id=world.p1.id, enterprise_id=builder.id, role="builder"),
                   ProjectParty(project_id=world.p1.id, enterprise_id=sup.id, role="supervisor")])


# ---------------------------------------------------------------- live HTTP server


class LiveServer:
    def __init__(self, app) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(database, test_clock, tmp_path_factory):
    from api.app import create_app

    settings = Settings(secret_key=SECRET, database_url=database.url, data_dir=tmp_path_factory.mktemp("data"))
    app = create_app(database=database, clock=test_clock, settings=settings)
    # The documents an action has due are derived before the answer, not in a background task after
    # it (cases/issuance/derive.py): a test reads them right after the action. tests/test_derive.py turns it
    # off to check the background path and 生成中.
    app.state.derive_before_response = True
    server = LiveServer(app)
    server.signing_key = app.state.signing_key  # the suite mints its tokens with the app's key
    yield server
    server.stop()


@pytest.fixture
def fresh_data_settings(live_server, tmp_path):
    """The live server's settings with a fresh data dir for this test (rendered documents, keys):
    what the test renders and what the server serves are the same files."""
    state = live_server.server.config.app.state
    previous = state.settings
    state.settings = Settings(**{**previous.model_dump(), "data_dir": tmp_path / "data"})
    yield state.settings
    state.settings = previous


@pytest.fixture
def allow_outbound(live_server):
    """``allow_outbound("127.0.0.1,smtp.example.gov.cn")`` → the live server's settings with that
    ``ANJIAN_OUTBOUND_ALLOW`` for this test (returned, for direct calls too). Nothing internal is
    allowed by default; a test whose SMTP server or webhook receiver is on loopback says so here."""
    state = live_server.server.config.app.state
    previous = state.settings

    def allow(spec: str = "127.0.0.1") -> Settings:
        state.settings = Settings(**{**previous.model_dump(), "outbound_allow": spec})
        return state.settings

    yield allow
    state.settings = previous


class Api:
    """A real HTTP client acting as one user."""

    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def get(self, path, **kw):
        return self.http.get(path, **kw)

    def post(self, path, json=None, **kw):
        return self.http.post(path, json=json, **kw)

    def act(self, case: dict, action: str, **fields):
        body = {"version": case["version"], **fields}
        return self.http.post(f"/api/cases/{case['id']}/actions/{action}", json=body)

    def close(self):
        self.http.close()


@pytest.fixture
def api(live_server, world, clock):
    """``api(user)`` → an HTTP client logged in as that user (token minted with the app's secret)."""
    clients = []

    def make(user: User | None) -> Api:
        # Long-lived: tests move the clock by months.
        token = issue_token(user.id, live_server.signing_key, clock.now(), timedelta(days=3650)) if user else None
        c = Api(live_server.url, token)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
