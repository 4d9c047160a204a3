"""What the fault tests share: the API as a real process (``anjian serve --no-prefect``), a private
PostgreSQL cluster they may stop and crash, a stream of officers' actions over HTTP that records
every acknowledged answer, and the checks every fault ends with (every 200 durable, every case
equal to the replay of its events).

Bounds: every wait here waits on progress (a port answering, a row appearing) with a generous
limit; nothing asserts a duration. Ports come from ``FAULT_PORTS`` (a range of our own).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cases.ledger import services
from cases.platform.clock import Clock
from cases.platform.config import Settings
from cases.platform.db import Database
from cases.ledger.engine import get_registry
from cases.platform.migrate import upgrade
from cases.models import Case, CaseEvent
from cases.reference import load_reference_data
from cases.platform.security import issue_token, resolve_signing_key
from tests.conftest import SECRET, Api, seed_world
from tests.machine_paths import PATHS, HttpDriver

REPO = Path(__file__).resolve().parents[2]
FAULT_PORTS = range(18500, 18550)  # 18550: the private PostgreSQL
PRIVATE_PG_PORT = int(os.environ.get("ANJIAN_TEST_PRIVATE_PG_PORT", "18550"))
PG_BIN = Path(os.environ.get("ANJIAN_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_GUARD = 90  # seconds: a process that has not started by then never will


def free_port() -> int:
    for port in FAULT_PORTS:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {FAULT_PORTS}")


def wait_for(predicate, what: str, timeout: float = START_GUARD, every: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(every)


# ---------------------------------------------------------------- a database with the world in it


def scratch_database(backend: str, tmp_path: Path, prefix: str = "anjian_test_faults") -> tuple[str, callable]:
    """A throw-away database of ``backend`` for a test that serves it from its own processes:
    (URL, a function that drops it)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/anjian.db", lambda: None
    from cases.platform.db import create_scratch_postgres
    from tests.conftest import PG_URL

    return create_scratch_postgres(PG_URL, prefix)


def prepare_database(url: str, now: datetime):
    """Migrate ``url``, load reference data and the test world; returns (Database, World)."""
    upgrade(url)
    db = Database(url, connect_timeout=2)
    with db.transaction() as s:
        load_reference_data(s)
    return db, seed_world(db, now)


# ---------------------------------------------------------------- the API as a process


class ApiProcess:
    """``python -m anjian.cli serve --no-prefect`` on a port of ours, on the given database."""

    def __init__(self, database_url: str, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir / f"api-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "ANJIAN_DATABASE_URL": database_url,
                    "ANJIAN_DATA_DIR": str(data_dir), "ANJIAN_SECRET_KEY": SECRET,
                    "ANJIAN_DB_CONNECT_TIMEOUT_SECONDS": "2", **env}
        self.env.pop("ANJIAN_CLOCK_OFFSET", None)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ApiProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "anjian.cli", "serve", "--no-prefect", "--no-access-log",
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the API exited with {self.proc.returncode}: {self.log()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "the API process to answer /healthz", every=0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill(self) -> int:
        """SIGKILL: no shutdown hook, no flush, no rollback by the process itself."""
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def api_factory(url: str, data_dir: Path, clients: list):
    """``api(user)`` for HttpDriver against a server whose data dir is ``data_dir`` (same key)."""
    key = resolve_signing_key(Settings(secret_key=SECRET, data_dir=data_dir))

    def make(user) -> Api:
        token = issue_token(user.id, key, datetime.now(timezone.utc), timedelta(hours=2))
        client = Api(url, token)
        client.http.timeout = httpx.Timeout(60)  # a hang guard; answers come in well under a second
        clients.append(client)
        return client

    return make


# ---------------------------------------------------------------- a stream of officers' actions


@dataclass
class Ack:
    case_id: int
    version: int
    state: str
    action: str


@dataclass
class StreamLog:
    acks: list[Ack] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status → how many
    unavailable: list[httpx.Response] = field(default_factory=list)  # the 503s, kept to inspect
    transport_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def unexpected(self) -> dict[int, int]:
        return {k: v for k, v in self.statuses.items() if k not in (200, 201, 409, 503)}


HAZARD_WALK = PATHS["hazard"]["closed"]  # register → start_rectification → verify → close


class ActionStream:
    """``n`` threads, each creating hazards and walking them to 结案 over HTTP, as fast as the
    server answers. Every 200/201 is recorded (case, version, state). A 503 or a lost connection
    is not an answer: the thread re-reads the case and goes on (``persist``) or stops."""

    def __init__(self, url: str, data_dir: Path, world, n: int = 3, *, persist: bool = False) -> None:
        self.log = StreamLog()
        self.world = world
        self.persist = persist
        self.stop_event = threading.Event()
        self.clients: list[Api] = []
        factory = api_factory(url, data_dir, self.clients)
        self.drivers = [HttpDriver(factory, world, Clock()) for _ in range(n)]
        self.threads = [threading.Thread(target=self._run, args=(d,), daemon=True) for d in self.drivers]

    def __enter__(self) -> "ActionStream":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=120)
        for c in self.clients:
            c.close()

    def acked(self) -> int:
        return len(self.log.acks)

    def _answer(self, call) -> httpx.Response | None:
        try:
            r = call()
        except httpx.TransportError:
            with self.log.lock:
                self.log.transport_errors += 1
            if not self.persist:
                self.stop_event.set()
            time.sleep(0.05)
            return None
        self.log.count(r.status_code)
        if r.status_code == 503:
            with self.log.lock:
                self.log.unavailable.append(r)
            time.sleep(0.05)
        return r

    def _reread(self, drv: HttpDriver, case: dict) -> dict | None:
        while not self.stop_event.is_set():
            r = self._answer(lambda: drv.client(self.world.officer).get(f"/api/cases/{case['id']}"))
            if r is not None and r.status_code == 200:
                return r.json()
        return None

    def _run(self, drv: HttpDriver) -> None:
        while not self.stop_event.is_set():
            r = self._answer(lambda: drv.client(self.world.officer).post(
                "/api/cases", json={"kind": "hazard", "title": "脚手架连墙件缺失", "description": "现场检查发现",
                                    "location": "1号楼", "source": "inspection", "enterprise_id": self.world.e1.id,
                                    "project_id": self.world.p1.id, "category": "scaffolding"}))
            if r is None or r.status_code != 201:
                continue
            case = r.json()
            with self.log.lock:
                self.log.acks.append(Ack(case["id"], case["version"], case["state"], "create"))
            for action in HAZARD_WALK:
                while not self.stop_event.is_set():
                    r = self._answer(lambda: drv.try_act(case, action))
                    if r is not None and r.status_code == 200:
                        case = r.json()
                        with self.log.lock:
                            self.log.acks.append(Ack(case["id"], case["version"], case["state"], action))
                        break
                    # lost, refused or not acknowledged: where is the case now?
                    fresh = self._reread(drv, case)
                    if fresh is None:
                        return
                    case = fresh
                    if case["state"] not in _sources(action):
                        break  # the unacknowledged attempt went through after all: next action
                if self.stop_event.is_set():
                    return


def _sources(action: str) -> set[str]:
    spec = get_registry().latest("hazard").action(action)
    return set(spec.sources)


# ---------------------------------------------------------------- what every fault ends with


def assert_acks_durable(db: Database, acks: list[Ack]) -> None:
    """Every acknowledged request left its event (that action, into that state) and the case is at
    least at the version the answer gave."""
    assert acks, "the stream acknowledged nothing"
    ids = {a.case_id for a in acks}
    with db.session() as s:
        events = {(e.case_id, e.action): e.to_state for e in
                  s.execute(select(CaseEvent.case_id, CaseEvent.action, CaseEvent.to_state)
                            .where(CaseEvent.case_id.in_(ids)))}
        versions = dict(s.execute(select(Case.id, Case.version).where(Case.id.in_(ids))).all())
    lost = [a for a in acks if events.get((a.case_id, a.action)) != a.state or versions.get(a.case_id, 0) < a.version]
    assert lost == [], f"{len(lost)} acknowledged action(s) not durable: {lost[:5]}"


def assert_every_case_replays(db: Database) -> int:
    """Every case's row equals the replay of its events (seqs 1..n, each transition allowed)."""
    lookup = get_registry().get
    with db.session() as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        all_events: dict[int, list[CaseEvent]] = {}
        for e in s.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq)):
            all_events.setdefault(e.case_id, []).append(e)
        for case in cases:
            events = all_events.get(case.id, [])
            assert [e.seq for e in events] == list(range(1, case.event_seq + 1)), f"case {case.id}"
            kind, state, last = services.replay_state(lookup, events)
            assert (kind, state, last) == (case.kind, case.state, case.event_seq), f"case {case.id}"
    return len(cases)


# ---------------------------------------------------------------- a private PostgreSQL cluster


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb into a temporary directory), so it can be
    stopped, crashed and restarted without touching the machine's server. Run as the
    ``postgres`` user when the tests run as root (the server refuses to run as root)."""

    def __init__(self, port: int = PRIVATE_PG_PORT) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="anjian-faults-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=START_GUARD)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({r.returncode}): {r.stderr}{self.server_log()}")
        return r

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def init(self) -> "PrivatePostgres":
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        return self

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", opts, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: a crash (no checkpoint; recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (set ANJIAN_TEST_PG_BIN)")
    pg = PrivatePostgres()
    try:
        pg.init().start()
        yield pg
    finally:
        pg.destroy()
