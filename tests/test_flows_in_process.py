"""`anjian serve` with one API process runs the flows' lanes as threads of that process
(EmbeddedPrefect(in_process_flows=True)), and a commit that writes to the outbox wakes delivery."""
from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cases.issuance import outbox, wakeup
from cases.platform.config import Settings
from cases.models import Case, OutboxMessage, RungFiring, User
from tests.conftest import BACKENDS, make_test_database
from tests.test_workflows import (  # noqa: F401  (prefect_harness, app_db: fixtures)
    _free_port, app_db, assert_exactly_once, completed_runs, descendants, pending_due, prefect_harness,
    register_hazard, seed_world, skipped_timers)


def _enqueue(db, user_id: int, cause: str) -> int:
    with db.transaction() as s:
        user = s.get(User, user_id)
        return outbox.enqueue(s, case=None, template="reminder", recipients=[user], cause=cause,
                              variables={}, now=datetime.now(timezone.utc))


def test_a_commit_that_writes_to_the_outbox_wakes_the_deliverers_a_rollback_does_not(app_db, world):
    woken: list[int] = []
    waker = lambda: woken.append(1)  # noqa: E731
    wakeup.add_outbox_waker(waker)
    try:
        officer = world.officer.id
        assert _enqueue(app_db, officer, "wake:1") >= 1
        assert woken == [1]
        assert _enqueue(app_db, officer, "wake:1") == 0  # nothing new written: nobody woken
        assert woken == [1]
        with pytest.raises(RuntimeError):
            with app_db.transaction() as s:
                outbox.enqueue(s, case=None, template="reminder", recipients=[s.get(User, officer)],
                               cause="wake:2", variables={}, now=datetime.now(timezone.utc))
                raise RuntimeError("rolled back")
        assert woken == [1]
        with app_db.transaction() as s:  # a later commit of the same kind of session wakes nobody
            s.get(User, officer)
        assert woken == [1]
        with app_db.session() as s:
            assert not s.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("wake:2:%"))).all()
    finally:
        wakeup.remove_outbox_waker(waker)


def test_prefect_database_next_to_the_apps_on_postgresql_only():
    from workflows.prefect_env import prefect_database_url, server_env

    pg = Settings(database_url="postgresql://anjian:pw@db.example:5433/cases?sslmode=require")
    assert prefect_database_url(pg) == "postgresql+asyncpg://anjian:pw@db.example:5433/cases_prefect"
    assert prefect_database_url(Settings(database_url="")) is None
    assert prefect_database_url(Settings(database_url="sqlite:////tmp/x.db")) is None
    env = server_env(pg, base={}, database_url=prefect_database_url(pg))
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].endswith("/cases_prefect")
    mine = "postgresql+asyncpg://other@h/p"  # the operator's choice wins
    assert server_env(pg, base={"PREFECT_API_DATABASE_CONNECTION_URL": mine},
                      database_url=prefect_database_url(pg)).get("PREFECT_SERVER_DATABASE_CONNECTION_URL") is None
    assert "PREFECT_SERVER_DATABASE_CONNECTION_URL" not in server_env(Settings(database_url=""), base={})


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_runs_the_lanes_in_its_own_process_and_a_commit_wakes_delivery(backend, tmp_path, monkeypatch,
                                                                              request):
    """One process less (issue 9, "Rest"): the rungs fire and the messages go out as Prefect flow
    runs executed by threads of the process that started the embedded server — no worker child —
    and with the outbox poll set to an hour, a message enqueued later is still delivered: the
    commit woke the lane. On PostgreSQL the Prefect server keeps its state in its own database
    next to the app's (created at start), on SQLite in PREFECT_HOME."""
    from cases.platform import clock as clock_module
    from cases.platform import db as db_module
    from workflows.embedded import EmbeddedPrefect
    from workflows.prefect_env import PREFECT_DATABASE_SUFFIX

    for key in ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(key, raising=False)
    app_db, drop = make_test_database(backend, tmp_path)
    request.addfinalizer(drop)
    prefect_db = None
    if backend == "postgresql":
        prefect_db = make_url(app_db.url).database + PREFECT_DATABASE_SUFFIX
        admin = make_url(app_db.url).set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False)

        def drop_prefect_db() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{prefect_db}" WITH (FORCE)')

        request.addfinalizer(drop_prefect_db)
    previous, previous_clock = db_module._db, clock_module._clock
    db_module.set_database(app_db)  # the lanes run here: they take this process's database and clock
    clock_module.set_clock(clock_module.Clock())  # the wall clock (a test before may have frozen its own)
    request.addfinalizer(lambda: (db_module.set_database(previous), clock_module.set_clock(previous_clock)))
    now = datetime.now(timezone.utc)
    world = seed_world(app_db, now)
    case_id = register_hazard(app_db, world, now - timedelta(days=30), days=7)
    due = pending_due(app_db, now)
    settings = Settings(data_dir=tmp_path / "data", database_url=app_db.url, prefect_port=_free_port(),
                        sweep_interval_seconds=1, delivery_interval_seconds=3600)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    supervisor = EmbeddedPrefect(settings, stop_grace=30, in_process_flows=True)  # a loaded machine: runs are slow
    try:
        assert supervisor.start(wait=90), supervisor.status()
        assert len(supervisor.pids) == 1  # the server only
        status = supervisor.status()["worker"]
        assert status["in_process"] and status["pid"] == os.getpid()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and pending_due(app_db, now):
            time.sleep(0.3)
        assert pending_due(app_db, now) == 0, supervisor.status()
        with app_db.session() as s:
            workers = set(s.scalars(select(RungFiring.worker).where(RungFiring.case_id == case_id)))
        assert workers == {f"embedded-{socket.gethostname()}:{os.getpid()}"[:64]}
        assert skipped_timers(app_db) == 2 and assert_exactly_once(app_db)["firings"] == due - 2

        def status_of(prefix: str) -> set[str]:
            with app_db.session() as s:
                return set(s.scalars(select(OutboxMessage.status).where(OutboxMessage.dedupe_key.like(prefix))))

        # The sweep's own messages: its commit woke the lane (the poll is an hour).
        while time.monotonic() < deadline and status_of("rung:%") - {"sent", "failed", "skipped"}:
            time.sleep(0.3)
        assert status_of("rung:%") and not status_of("rung:%") - {"sent", "failed", "skipped"}
        with app_db.session() as s:
            officer = s.scalar(select(User.id).where(User.role == "officer").limit(1))
        assert _enqueue(app_db, officer, "later") >= 1
        def attempted() -> bool:  # sent, or failed on its content: either way the lane took it
            with app_db.session() as s:
                rows = s.execute(select(OutboxMessage.attempts).where(OutboxMessage.dedupe_key.like("later:%"))).all()
            return bool(rows) and all(a >= 1 for (a,) in rows)

        while time.monotonic() < deadline and not attempted():
            time.sleep(0.2)
        assert attempted()
        # The delivery run lingers for more messages (workflows/passes.py Linger) and completes after
        # DELIVERY_LINGER_SECONDS without work.
        while time.monotonic() < deadline and not completed_runs(supervisor.api_url, "deliver-outbox"):
            time.sleep(0.5)
        assert completed_runs(supervisor.api_url, "sweep-timers") and completed_runs(supervisor.api_url,
                                                                                       "deliver-outbox")
        assert not [c for c in descendants(os.getpid()).values() if "workflows.serve" in c]
        assert supervisor.restarts == {"server": 0, "worker": 0}
        # The new Prefect database was migrated by a short process before the server started (the
        # server keeps no migration memory: workflows/embedded.py _migrate_first) — once.
        server_log = (tmp_path / "data" / "prefect" / "server.log").read_text(errors="replace")
        assert server_log.count("Migrations succeeded!") == 1, server_log[-3000:]
        if prefect_db is not None:  # the runs are in Prefect's own PostgreSQL database, no SQLite file
            with psycopg.connect(make_url(app_db.url).set(drivername="postgresql", database=prefect_db)
                                 .render_as_string(hide_password=False)) as conn:
                assert conn.execute("SELECT count(*) FROM flow_run").fetchone()[0] >= 2
            assert not (tmp_path / "data" / "prefect" / "prefect.db").exists()
        else:
            assert (tmp_path / "data" / "prefect" / "prefect.db").exists()
    finally:
        supervisor.stop()
        app_db.dispose()
    assert supervisor.status()["worker"]["running"] is False


def test_on_postgresql_a_worker_elsewhere_is_woken_by_notify_at_commit_only(app_db, world):
    """Across processes (``anjian worker``, ``anjian serve --workers N``): a process with no
    deliverer of its own NOTIFYs at the commit of an outbox write, and a worker's lanes LISTEN.
    The lanes here never tick (gate closed): only the listener is exercised."""
    import threading

    from workflows.loop import FlowLoop

    woke = threading.Event()
    loop = FlowLoop(sweep_interval=3600, delivery_poll=3600, digest=False, worker="listen-test",
                    gate=lambda: False)
    loop.wake = woke.set  # what the listener calls
    loop.start()
    wakeup.remove_outbox_waker(loop.wake)  # as if the lanes ran in another process
    try:
        listeners = [t for t in loop._threads if t.name == "anjian-outbox-listen"]
        if app_db.dialect != "postgresql":  # SQLite: no listener, the workers elsewhere poll
            assert not listeners
            return
        assert len(listeners) == 1
        time.sleep(1.0)  # the listener is connected
        woke.clear()
        with pytest.raises(RuntimeError):
            with app_db.transaction() as s:
                outbox.enqueue(s, case=None, template="reminder", recipients=[s.get(User, world.officer.id)],
                               cause="notify:rolled-back", variables={}, now=datetime.now(timezone.utc))
                raise RuntimeError("rolled back")
        assert not woke.wait(3.0)  # a rolled-back write notifies nobody
        assert _enqueue(app_db, world.officer.id, "notify:1") >= 1
        assert woke.wait(10.0)
    finally:
        assert loop.stop(10)


def test_a_stalled_prefect_server_delays_no_rung_and_no_message(app_db, world):
    """The Prefect server accepts connections and answers nothing (its event loop stuck, as seen
    with its SQLite database locked): the lanes ask its health check first and, getting no answer
    within PROBE_SECONDS, fire the due rungs and deliver the outbox without a flow run — the same
    claims, so still exactly once."""
    from tests.test_delivery import REMINDER_VARS
    from tests.test_workflows import seed_due_timers
    from workflows.loop import FlowLoop, prefect_answers

    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(64)  # connections complete in the backlog; nothing is ever read or answered
    url = f"http://127.0.0.1:{stalled.getsockname()[1]}/api"
    assert not prefect_answers(url, timeout=0.5)
    from cases.platform import clock as clock_module

    now = clock_module.now()  # the lanes' clock (the suite's, when it sets one)
    seed_due_timers(app_db, world, now, 1, task_deadlines=0)
    due = pending_due(app_db, now)
    assert due > 0
    loop = FlowLoop(sweep_interval=1, delivery_poll=1, digest=False, worker="stall-test", api_url=url)
    loop.start()
    try:
        case_id = register_hazard(app_db, world, now, title="塔吊附着装置松动")
        with app_db.transaction() as s:
            assert outbox.enqueue(s, case=s.get(Case, case_id), template="reminder", recipients=[s.get(User, world.officer.id)],
                                  cause="stall:1", variables=REMINDER_VARS, now=now) >= 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with app_db.session() as s:
                statuses = set(s.scalars(select(OutboxMessage.status).where(OutboxMessage.dedupe_key.like("stall:1:%"))))
            if statuses == {"sent"} and pending_due(app_db, now) == 0:
                break
            time.sleep(0.5)
        with app_db.session() as s:
            errors = set(s.scalars(select(OutboxMessage.last_error).where(OutboxMessage.dedupe_key.like("stall:1:%"))))
        assert statuses == {"sent"}, (statuses, errors)
        assert pending_due(app_db, now) == 0
        assert loop.plain_runs["deliver-outbox"] >= 1 and loop.plain_runs["sweep-timers"] >= 1
        assert loop.failures["deliver-outbox"] == 0 and loop.failures["sweep-timers"] == 0
        with app_db.session() as s:
            fired = s.scalar(select(func.count()).select_from(RungFiring))
        assert fired >= 1
    finally:
        assert loop.stop(15)
        stalled.close()
    assert_exactly_once(app_db)


class _StallingPrefect:
    """An HTTP server that answers ``GET /api/health`` until the first other request — a flow run
    beginning — and from then on accepts connections and answers nothing, health included: a
    Prefect server that stalls inside a run (its SQLite database locked, docs/performance.md)."""

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api"
        self.stalled = False
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.stalled:
                continue  # held open, never read, never answered
            try:
                conn.settimeout(5)
                request = conn.recv(65536).decode("latin-1")
            except OSError:
                continue
            if request.startswith("GET /api/health"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
                             b"Connection: close\r\n\r\ntrue")
                conn.close()
            else:
                self.stalled = True  # the run began: from now on nothing answers

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            try:
                conn.close()
            except OSError:
                pass


def test_a_prefect_server_that_stalls_inside_a_run_delays_no_message_and_no_rung(app_db, world):
    """The health check before a run passes, the run begins, then the server stops answering: the
    run's watchdog (workflows/loop.py run_guarded) finds the health check unanswered after
    STALL_SECONDS and delivers the outbox and fires the rungs without a flow run meanwhile — within
    seconds, not after the stuck client's minute of retries; still exactly once."""
    from tests.test_delivery import REMINDER_VARS
    from tests.test_workflows import seed_due_timers
    from workflows.loop import STALL_SECONDS, FlowLoop, prefect_answers
    from cases.platform import clock as clock_module

    server = _StallingPrefect()
    assert prefect_answers(server.url, timeout=2)
    now = clock_module.now()
    seed_due_timers(app_db, world, now, 1, task_deadlines=0)
    assert pending_due(app_db, now) > 0
    loop = FlowLoop(sweep_interval=1, delivery_poll=1, digest=False, worker="stall-inside-test", api_url=server.url)
    started = time.monotonic()
    loop.start()
    try:
        case_id = register_hazard(app_db, world, now, title="卸料平台限载牌缺失")
        with app_db.transaction() as s:
            assert outbox.enqueue(s, case=s.get(Case, case_id), template="reminder", recipients=[s.get(User, world.officer.id)],
                                  cause="stall-inside:1", variables=REMINDER_VARS, now=now) >= 1
        deadline = time.monotonic() + 60
        statuses: set = set()
        while time.monotonic() < deadline:
            with app_db.session() as s:
                statuses = set(s.scalars(select(OutboxMessage.status)
                                         .where(OutboxMessage.dedupe_key.like("stall-inside:1:%"))))
            if statuses == {"sent"} and pending_due(app_db, now) == 0:
                break
            time.sleep(0.25)
        took = time.monotonic() - started
        assert server.stalled  # a flow run did begin, and stalled
        assert statuses == {"sent"}
        assert pending_due(app_db, now) == 0
        # Not a minute (the Prefect client's timeout): the stall was noticed and worked around.
        assert took < 45, took
        assert sum(loop.rescues.values()) >= 1, (loop.rescues, loop.plain_runs)
        assert loop.plain_runs["deliver-outbox"] + loop.plain_runs["sweep-timers"] + sum(loop.rescues.values()) >= 2
        with app_db.session() as s:
            assert s.scalar(select(func.count()).select_from(RungFiring)) >= 1
        print(f"stall noticed and worked around in {took:.1f} s (STALL_SECONDS {STALL_SECONDS}); rescues {loop.rescues}")
    finally:
        server.close()  # the stuck client's connections are reset: its run fails and the lane stops
        loop.stop(90)
    assert_exactly_once(app_db)


def _delivery_runs(api_url: str) -> list[dict]:
    import httpx

    body: dict = {"flows": {"name": {"any_": ["deliver-outbox"]}}}
    return httpx.post(f"{api_url}/flow_runs/filter", json=body, timeout=60).json()


def _send(app_db, world, case_id: int, cause: str) -> None:
    from cases.platform import clock as clock_module
    from tests.test_delivery import REMINDER_VARS

    with app_db.transaction() as s:
        assert outbox.enqueue(s, case=s.get(Case, case_id), template="reminder",
                              recipients=[s.get(User, world.officer.id)], cause=cause, variables=REMINDER_VARS,
                              now=clock_module.now()) >= 1


def _sent(app_db, cause: str) -> bool:
    with app_db.session() as s:
        return set(s.scalars(select(OutboxMessage.status).where(OutboxMessage.dedupe_key.like(f"{cause}:%")))) == {"sent"}


def _wait_sent(app_db, cause: str, deadline: float) -> None:
    while time.monotonic() < deadline and not _sent(app_db, cause):
        time.sleep(0.1)
    assert _sent(app_db, cause)


def _new_runs_completed(api_url: str, before: set, deadline: float, count: int | None = None) -> list[dict]:
    """The deliver-outbox runs not in ``before``, once all have ended (and, given, there are ``count``)."""
    new: list[dict] = []
    while time.monotonic() < deadline:
        new = [r for r in _delivery_runs(api_url) if r["id"] not in before]
        if new and all(r["state_type"] == "COMPLETED" for r in new) and (count is None or len(new) >= count):
            break
        time.sleep(0.5)
    return new


def test_a_lanes_delivery_run_lingers_for_the_next_message(prefect_harness, app_db, world):
    """Two messages committed a second and a half apart: one deliver-outbox flow run delivers both —
    it stayed open after the first (workflows/passes.py Linger) and the second commit woke it — so no
    flow run is created between a transition and its message; the run ends after its linger."""
    from prefect.settings import PREFECT_API_URL

    from workflows.loop import FlowLoop
    from cases.platform import clock as clock_module

    api_url = PREFECT_API_URL.value().rstrip("/")
    before = {r["id"] for r in _delivery_runs(api_url)}  # the harness is the session's: other tests' runs
    case_id = register_hazard(app_db, world, clock_module.now(), title="施工升降机防坠安全器超期未检")
    loop = FlowLoop(sweep_interval=3600, delivery_poll=3600, delivery_linger=5, digest=False, worker="linger-test",
                    api_url=api_url)
    loop.start()
    try:
        deadline = time.monotonic() + 90
        _send(app_db, world, case_id, "linger:1")
        _wait_sent(app_db, "linger:1", deadline)
        time.sleep(1.5)  # well inside the linger
        _send(app_db, world, case_id, "linger:2")
        _wait_sent(app_db, "linger:2", deadline)
        new = _new_runs_completed(api_url, before, deadline)  # the run ends once it has lingered without work
        assert len(new) == 1 and new[0]["state_type"] == "COMPLETED", [(r["name"], r["state_type"]) for r in new]
        assert loop.runs["deliver-outbox"] == 1 and loop.failures["deliver-outbox"] == 0
    finally:
        assert loop.stop(30)


def test_a_delivery_run_that_ends_at_its_window_while_busy_hands_over_to_the_next_at_once(prefect_harness, app_db,
                                                                                           world):
    """Steady traffic: the run ends at its window (here 6 s) while messages keep coming (one every
    ~1.5 s, the linger being 3 s), and the lane starts the next run at once, before any commit needs
    it — with no commit after the window, a second run exists, and the message committed then is
    delivered inside it. That run, idle for its linger before its window, ends without handing over."""
    from prefect.settings import PREFECT_API_URL

    from workflows.loop import FlowLoop
    from cases.platform import clock as clock_module

    api_url = PREFECT_API_URL.value().rstrip("/")
    before = {r["id"] for r in _delivery_runs(api_url)}
    case_id = register_hazard(app_db, world, clock_module.now(), title="塔吊基础积水未排除")
    loop = FlowLoop(sweep_interval=3600, delivery_poll=3600, delivery_linger=3, delivery_window=6, digest=False,
                    worker="handover-test", api_url=api_url)
    loop.start()
    try:
        deadline = time.monotonic() + 120
        for n in (1, 2, 3):  # busy until near the window's end
            if n > 1:
                time.sleep(1.5)
            _send(app_db, world, case_id, f"handover:{n}")
            _wait_sent(app_db, f"handover:{n}", deadline)
        assert loop.runs["deliver-outbox"] == 1, loop.runs  # all three inside the first run
        # No commit from here: only a handover starts a second run.
        while time.monotonic() < deadline and loop.runs["deliver-outbox"] < 2:
            time.sleep(0.1)
        assert loop.runs["deliver-outbox"] == 2, loop.runs
        _send(app_db, world, case_id, "handover:4")
        _wait_sent(app_db, "handover:4", deadline)
        new = _new_runs_completed(api_url, before, deadline, count=2)
        assert len(new) == 2 and all(r["state_type"] == "COMPLETED" for r in new), [(r["name"], r["state_type"]) for r in new]
        time.sleep(1.0)  # the second ended idle: nothing more starts
        assert loop.runs["deliver-outbox"] == 2 and loop.failures["deliver-outbox"] == 0
    finally:
        assert loop.stop(30)
