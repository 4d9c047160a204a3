"""The derive process (workflows/derive_worker.py, started by workflows/derive_launcher.py): a
separate, on-demand process derives the documents a commit left due — woken by the commit, gone
when idle, started again by the next commit; killed mid-batch it loses nothing and nothing is
issued twice."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cases.issuance import derive
from cases.models import Document, OutboxMessage
from tests.conftest import BACKENDS
from tests.machine_paths import HttpDriver
from tests.test_derive import _registered_but_not_derived, _state, _wait_for, ready  # noqa: F401
from workflows.derive_launcher import DeriveLauncher

ROOT = Path(__file__).resolve().parents[1]


def _launcher(db, tmp_path, *, idle: float = 3.0, poll: float = 3600.0, inline_cases: int = 0,
              keep: float = 900.0) -> DeriveLauncher:
    """A launcher whose derive process works on the test's database (no Prefect: plain passes)."""
    env = {**os.environ, "ANJIAN_DATABASE_URL": db.url, "ANJIAN_DATA_DIR": str(tmp_path),
           "ANJIAN_DERIVE_PREFECT": "0", "ANJIAN_DERIVE_IDLE_SECONDS": str(idle),
           "ANJIAN_DERIVE_KEEP_WARM_SECONDS": str(keep),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("PREFECT_API_URL", None)
    env.pop("ANJIAN_DERIVE_PREFECT_API_URL", None)
    return DeriveLauncher(env, poll_seconds=poll, due=lambda: derive.derivations_due(db), inline_cases=inline_cases,
                          database=db)


def _pending(db, case_id: int) -> int:
    return _state(db, case_id)["pending"]


def test_woken_by_a_commit_exits_when_idle_and_restarts_on_the_next(api, db, ready, clock, live_server, tmp_path):
    world = ready
    launcher = _launcher(db, tmp_path, idle=2.0)
    state = live_server.server.config.app.state
    state.derive_before_response, state.derive_waker = False, launcher.wake
    try:
        launcher.start()
        assert launcher.started == 0  # nothing pending at start: no process
        drv = HttpDriver(api, world, clock)
        first = drv.create("hazard")
        drv.act(first, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, first["id"]) == 0, "the derive process derives the registered notice")
        assert launcher.started == 1
        child = launcher._proc
        assert child is not None and child.pid != os.getpid()
        # Idle for ANJIAN_DERIVE_IDLE_SECONDS: it exits by itself, cleanly.
        _wait_for(lambda: child.poll() is not None, "the idle derive process exits")
        assert child.returncode == 0 and launcher.pid() is None
        second = drv.create("hazard")
        drv.act(second, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, second["id"]) == 0, "a new derive process derives the next notice")
        assert launcher.started == 2
        numbers = sorted(n for c in (first, second) for (_, n, _) in _state(db, c["id"])["docs"])
        assert numbers == ["姑苏建质改〔2026〕1号", "姑苏建质改〔2026〕2号"]
    finally:
        state.derive_before_response, state.derive_waker = True, None
        launcher.stop()


def test_a_signed_in_request_readies_the_derive_process_for_the_next_commit(api, db, ready, clock, live_server,
                                                                           tmp_path):
    """An officer at work (any signed-in request) has a derive process started before there is
    anything to derive, so the next commit's documents do not wait for its start-up; one look per
    few seconds however many requests keeps it while people work; without requests or work it
    leaves ``ANJIAN_DERIVE_KEEP_WARM_SECONDS`` after the last request."""
    world = ready
    launcher = _launcher(db, tmp_path, idle=8.0, keep=10.0)
    state = live_server.server.config.app.state
    state.derive_before_response, state.derive_waker, state.derive_warmer = False, launcher.wake, launcher.warm
    try:
        launcher.start()
        drv = HttpDriver(api, world, clock)
        case = drv.create("hazard")  # signed in; nothing to derive yet
        _wait_for(lambda: launcher.warmed == 1 and launcher.ready(), "a derive process readied")
        child = launcher._proc
        assert launcher.started == 1
        drv.act(case, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, case["id"]) == 0, "the readied process derives the notice")
        assert launcher.started == 1 and launcher._proc is child  # the same process, woken
        # Signed-in requests, no commits, for longer than its idle time: it stays (each look says
        # someone is at work).
        until = time.monotonic() + 12
        while time.monotonic() < until:
            assert drv.client(world.officer).get("/api/me").status_code == 200
            time.sleep(1.0)
        assert child.poll() is None and launcher.started == 1 and launcher.warmed == 1
        _wait_for(lambda: child.poll() is not None, "without requests the idle derive process exits")
        assert child.returncode == 0
    finally:
        state.derive_before_response, state.derive_waker, state.derive_warmer = True, None, None
        launcher.stop()


def test_signing_in_readies_the_derive_process_and_a_failed_attempt_does_not(db, ready, live_server, tmp_path):
    """The first commit of an officer who has just signed in does not wait for a derive process to
    start: the sign-in starts it. A wrong password starts nothing."""
    import httpx

    launcher = _launcher(db, tmp_path, idle=8.0)
    state = live_server.server.config.app.state
    state.derive_warmer = launcher.warm
    try:
        launcher.start()

        def sign_in(password: str) -> int:
            return httpx.post(f"{live_server.url}/api/auth/token", timeout=60,
                              data={"username": "officer", "password": password}).status_code

        assert sign_in("wrong-pw") == 401
        time.sleep(1.0)
        assert launcher.warmed == 0 and launcher.pid() is None
        assert sign_in("secret-pw") == 200
        _wait_for(lambda: launcher.warmed == 1 and launcher.ready(), "a derive process readied by the sign-in")
    finally:
        state.derive_warmer = None
        launcher.stop()


def test_someone_at_work_keeps_the_derive_process_up_past_its_idle_time(api, db, ready, clock, live_server, tmp_path):
    """An officer who signs in and reads a case for minutes before acting finds the derive process
    still up (it would leave ``ANJIAN_DERIVE_IDLE_SECONDS`` after its last work): it stays
    ``ANJIAN_DERIVE_KEEP_WARM_SECONDS`` after the last signed-in request, then leaves; the commit
    that finally comes is derived by that same process. Nobody at work, it leaves after its idle time."""
    import httpx

    idle, keep = 2.0, 14.0
    world = ready
    launcher = _launcher(db, tmp_path, idle=idle, keep=keep)
    state = live_server.server.config.app.state
    state.derive_before_response, state.derive_waker = False, launcher.wake
    state.derive_warmer = launcher.warm
    try:
        launcher.start()
        signed_in = time.monotonic()
        answer = httpx.post(f"{live_server.url}/api/auth/token", timeout=60,
                            data={"username": "officer", "password": "secret-pw"})
        assert answer.status_code == 200
        _wait_for(lambda: launcher.ready(), "a derive process readied by the sign-in")
        pid = launcher.pid()
        time.sleep(3 * idle)  # reading: no request
        assert launcher.pid() == pid, "the derive process left while someone was at work"
        drv = HttpDriver(api, world, clock)  # its requests are signed-in requests: each keeps it warm too
        first = drv.create("hazard")
        drv.act(first, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, first["id"]) == 0, "the notice is derived")
        assert launcher.started == 1 and launcher.inline_derived == 0  # by the process kept warm
        _wait_for(lambda: launcher.pid() is None, "the derive process leaves once nobody has been at work for a while")
        assert time.monotonic() - signed_in >= keep
        # A commit with nobody at work (a commit from elsewhere: no signed-in request warms): the
        # next process leaves after its idle time.
        state.derive_warmer = None
        second = drv.create("hazard")
        drv.act(second, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, second["id"]) == 0, "the second notice is derived")
        assert launcher.started == 2
        committed = time.monotonic()
        _wait_for(lambda: launcher.pid() is None, "the derive process leaves after its idle time")
        assert time.monotonic() - committed < keep
    finally:
        state.derive_before_response, state.derive_waker, state.derive_warmer = True, None, None
        launcher.stop()


def test_after_a_quiet_spell_the_api_process_derives_first_and_the_process_takes_over(api, db, ready, clock,
                                                                                     live_server, tmp_path):
    """No derive process running: the launcher's thread derives the first commits itself (the
    webhook need not wait for a process to start) and starts the process anyway (rendering, the
    rest) — as it does for commits while the process is still starting; once the process has said it
    is ready, the process derives everything."""
    world = ready
    launcher = _launcher(db, tmp_path, idle=30.0, inline_cases=5)
    state = live_server.server.config.app.state
    state.derive_before_response, state.derive_waker = False, launcher.wake
    try:
        launcher.start()
        drv = HttpDriver(api, world, clock)
        first = drv.create("hazard")
        drv.act(first, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, first["id"]) == 0, "the first notice is derived")
        _wait_for(lambda: launcher.ready(), "the derive process is started all the same, and says it is ready")
        assert launcher.inline_derived == 1 and launcher.started == 1
        second = drv.create("hazard")
        drv.act(second, "register", enterprise_id=world.e1.id, severity="general",
                rectification_days=10, requirements="立即设置临边防护栏杆")
        _wait_for(lambda: _pending(db, second["id"]) == 0, "the running process derives the next notice")
        assert launcher.inline_derived == 1 and launcher.started == 1
        numbers = sorted(n for c in (first, second) for (_, n, _) in _state(db, c["id"])["docs"])
        assert numbers == ["姑苏建质改〔2026〕1号", "姑苏建质改〔2026〕2号"]
    finally:
        state.derive_before_response, state.derive_waker = True, None
        launcher.stop()


def test_killed_mid_batch_loses_nothing_and_issues_nothing_twice(db, ready, clock, tmp_path):
    world = ready
    cases = [_registered_but_not_derived(db, world, clock)[0] for _ in range(30)]
    launcher = _launcher(db, tmp_path)
    try:
        launcher.start()  # its first check finds the pending events and starts the derive process
        _wait_for(lambda: launcher.pid() is not None, "the launcher starts the derive process")
        pid = launcher.pid()

        def issued() -> int:
            with db.session() as s:
                return s.scalar(select(func.count()).select_from(Document))

        _wait_for(lambda: issued() > 0, "the derive process issues a first document")
        os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: launcher._proc.poll() is not None, "the killed derive process is gone")
        print(f"killed after {issued()} of {len(cases)} documents")
        # The next wake (a commit, the launcher's poll or the sweep lane's check) starts another.
        launcher.wake()
        _wait_for(lambda: all(_pending(db, c) == 0 for c in cases), "a fresh derive process derives the rest")
        assert launcher.started == 2
    finally:
        launcher.stop()
    states = [_state(db, c) for c in cases]
    assert all(len(st["docs"]) == 1 for st in states), [st["docs"] for st in states]
    numbers = sorted((int(n.split("〕")[1].rstrip("号")) for st in states for (_, n, _) in st["docs"]))
    assert numbers == list(range(1, len(cases) + 1))  # no 文号 taken twice, none lost
    assert all(st["messages"] == states[0]["messages"] and st["messages"] for st in states)
    with db.session() as s:
        per_key = s.execute(select(OutboxMessage.dedupe_key, func.count()).group_by(OutboxMessage.dedupe_key)
                            .having(func.count() > 1)).all()
        assert per_key == []
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.template == "rectification_notice")) == len(cases) * len(states[0]["messages"])


@pytest.mark.parametrize("parent_gone", [True])
def test_the_derive_process_exits_when_its_parent_goes(db, ready, clock, tmp_path, parent_gone):
    """stdin closed (the API process died or stopped): it finishes what it has and exits."""
    world = ready
    case_id, _ = _registered_but_not_derived(db, world, clock)
    launcher = _launcher(db, tmp_path, idle=3600.0)
    launcher.start()
    _wait_for(lambda: _pending(db, case_id) == 0, "the derive process derives the pending notice")
    proc = launcher._proc
    launcher.stop(grace=60.0)
    assert proc.poll() == 0


def test_batches_of_cases_in_one_transaction_race_other_derivers_exactly_once(db, ready, clock):
    """The derive process's pass (PostgreSQL: several cases per transaction) against another batch
    pass and an API process deriving case by case: every notice once, 文号 without a gap."""
    import threading

    world = ready
    cases = [_registered_but_not_derived(db, world, clock)[0] for _ in range(12)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run(body) -> None:
        try:
            barrier.wait(timeout=30)
            body()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    bodies = [lambda: derive.derive_pending(db, batch=5), lambda: derive.derive_pending(db, batch=4),
              lambda: [derive.derive_case(db, c) for c in reversed(cases)]]
    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    states = [_state(db, c) for c in cases]
    assert all(len(st["docs"]) == 1 and st["pending"] == 0 for st in states), states
    numbers = sorted(int(n.split("〕")[1].rstrip("号")) for st in states for (_, n, _) in st["docs"])
    assert numbers == list(range(1, len(cases) + 1))
    with db.session() as s:
        assert s.execute(select(OutboxMessage.dedupe_key).group_by(OutboxMessage.dedupe_key)
                         .having(func.count() > 1)).all() == []


def test_a_new_environment_replaces_the_running_process(db, ready, clock, tmp_path):
    """``anjian serve`` learns its Prefect server after the first commits may have started a derive
    process without rendering: configuring the launcher anew ends that one (it finishes its batch)
    and the next is started with the new environment — otherwise a process that is woken by every
    sweep would never idle out and the documents would never be rendered."""
    world = ready
    _registered_but_not_derived(db, world, clock)
    launcher = _launcher(db, tmp_path, idle=30.0)
    try:
        launcher.start()
        _wait_for(lambda: launcher.pid() is not None, "the pending event starts a derive process")
        old = launcher._proc
        launcher.configure({**launcher.env, "ANJIAN_DERIVE_IDLE_SECONDS": "31"}, render=True)
        _wait_for(lambda: old.poll() is not None, "the process of the old environment exits")
        assert old.returncode == 0
        launcher.wake()
        _wait_for(lambda: launcher.pid() is not None, "a process with the new environment is started")
        assert launcher._proc is not old and launcher.started == 2
        assert launcher.env["ANJIAN_DERIVE_RENDER"] == "1" and launcher.env["ANJIAN_DERIVE_IDLE_SECONDS"] == "31"
        # Unchanged environment: the running process is kept.
        current = launcher._proc
        launcher.configure(dict(launcher.env), render=True)
        time.sleep(0.5)
        assert current.poll() is None and launcher._proc is current
    finally:
        launcher.stop()


def test_an_orphaned_derive_process_stuck_on_a_dead_prefect_leaves(db, ready, clock, tmp_path):
    """`anjian serve` killed while its derive process is inside a flow run whose Prefect server died too:
    Prefect's client would retry for minutes, holding the database open. The process sees its parent
    gone and leaves within its grace (workflows/derive_worker.py PARENT_GONE_GRACE_SECONDS); what it
    had not derived is still pending (derived by the next process), nothing is half done."""
    import http.server
    import subprocess
    import sys
    import threading

    class HealthOnly(http.server.BaseHTTPRequestHandler):  # /health answers; every other call hangs
        def do_GET(self):
            if self.path.endswith("/health"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"true")
            else:
                time.sleep(600)

        do_POST = do_PATCH = do_PUT = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthOnly)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    world = ready
    env = {**os.environ, "ANJIAN_DATABASE_URL": db.url, "ANJIAN_DATA_DIR": str(tmp_path),
           "ANJIAN_DERIVE_PREFECT": "1", "ANJIAN_DERIVE_IDLE_SECONDS": "3600",
           "PREFECT_API_URL": f"http://127.0.0.1:{server.server_address[1]}/api",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # The stand-in for `anjian serve`: starts the derive process with a pipe on its stdin, prints its
    # pid, and passes each line it reads on as a wake (what the launcher does after a commit).
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys\n"
         "p = subprocess.Popen([sys.executable, '-m', 'workflows.derive_worker'], stdin=subprocess.PIPE, "
         "stdout=subprocess.DEVNULL)\nprint(p.pid, flush=True)\n"
         "for line in sys.stdin:\n    p.stdin.write(b'w'); p.stdin.flush()\n"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    try:
        # Until the worker has imported Prefect (on a thread) its passes run without a flow run and
        # derive the commit; once it has, a pass asks /health (answered), then starts a flow run,
        # which hangs. Commits until one is held in such a run.
        deadline = time.monotonic() + 120
        while True:
            case_id, _ = _registered_but_not_derived(db, world, clock)
            parent.stdin.write("commit\n")
            parent.stdin.flush()
            _wait_for(lambda: _has_connection_to(worker, server.server_address[1]) or _pending(db, case_id) == 0,
                      "the worker calls Prefect or derives the commit")
            if _has_connection_to(worker, server.server_address[1]) and _pending(db, case_id) == 1:
                break
            assert time.monotonic() < deadline, "the worker never called Prefect"
            time.sleep(0.5)
        parent.kill()
        parent.wait()
        _wait_for(lambda: not _alive(worker), "the orphaned worker leaves", bound=120)
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
        server.shutdown()
    assert _pending(db, case_id) == 1  # left for the next derive process, not half done


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _has_connection_to(pid: int, port: int) -> bool:
    """Does ``pid`` hold an established TCP connection to 127.0.0.1:``port`` (/proc/net/tcp)?"""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
    except (FileNotFoundError, ProcessLookupError):
        return False
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[2].endswith(f":{port:04X}") and parts[3] == "01" and parts[9] in inodes:
                return True
    return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopping_the_service_stops_its_derive_process_before_it_exits(backend, tmp_path):
    """``anjian serve`` stopped (SIGTERM) while its derive process runs: the served app's shutdown
    has the derive process finish and leave first — under the embedded Prefect, its flow run ends
    while the Prefect server is still there — instead of leaving it orphaned to its watchdog."""
    from datetime import datetime, timezone

    from tests.faults.conftest import ApiProcess, api_factory, prepare_database, scratch_database, wait_for
    from tests.test_workflows import descendants

    url, drop = scratch_database(backend, tmp_path, "anjian_test_derive")
    db, server, clients = None, None, []
    try:
        db, world = prepare_database(url, datetime.now(timezone.utc))
        server = ApiProcess(url, tmp_path / "data").start()
        officer = api_factory(server.url, server.data_dir, clients)(world.officer)
        assert officer.get("/api/me").status_code == 200  # signed in: a derive process is readied

        def derive_process() -> int | None:
            return next((pid for pid, cmd in descendants(server.proc.pid).items()
                         if "workflows.derive_worker" in cmd), None)

        child = wait_for(derive_process, "the derive process readied by a signed-in request")
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=60)  # uvicorn shuts down, then raises the signal again: -15
        assert "Application shutdown complete" in server.log()
        assert not _alive(child), "the derive process outlived the service that started it"
        assert "is gone" not in server.log()  # it did not leave by its parent-gone watchdog
    finally:
        for client in clients:
            client.close()
        if server is not None:
            server.stop()
        if db is not None:
            db.dispose()
        drop()


def test_the_derive_process_starts_without_the_senders_or_prefect():
    """What the derive process imports before it says ready (workflows/derive_worker.py ``main`` and
    its ``Pass``) leaves out what it never uses at its cold start — apprise (sending is the API
    process's), httpx (the Prefect health probe), Prefect itself (imported later, when quiet) and
    WeasyPrint (the warm-up thread's): each would delay the first document of a quiet spell."""
    import subprocess
    import sys

    probe = ("import sys, workflows.derive_worker, workflows.passes, workflows.loop, cases.ledger.rules, "
             "notifications.delivery.preferences, notifications.documents.store, cases.issuance.wakeup, cases.platform.config; "
             "print(' '.join(sorted(m for m in ('apprise', 'httpx', 'prefect', 'weasyprint') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


def test_a_rendering_derive_process_says_it_is_ready_once_its_fonts_are_open(db, tmp_path):
    """Ready (``r``) means a document costs what later ones do: with rendering on, WeasyPrint is
    loaded and the CJK faces are open by then — until that moment the launcher goes on deriving a
    few cases itself, so a commit's webhook does not wait behind the new process's first render."""
    launcher = _launcher(db, tmp_path, idle=30.0)
    launcher.env["ANJIAN_DERIVE_RENDER"] = "1"
    try:
        launcher.start()
        launcher.warm()
        _wait_for(lambda: launcher.ready(), "the derive process says it is ready", bound=120)
        with open(f"/proc/{launcher.pid()}/maps") as maps:
            mapped = {line.split()[-1] for line in maps if line.rstrip().endswith((".ttc", ".otf", ".ttf"))}
        assert any("CJK" in path for path in mapped), mapped
    finally:
        launcher.stop()
