"""Documents derived after commit (cases/issuance/derive.py): the action commits the state change and marks
its event; the 文号, snapshot, recipients and messages are derived afterwards — by the process that
committed (after its response) or by the worker — exactly once, as of the event."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy import event, func, make_url, select, text, update

from cases.issuance import derive
from cases.ledger import services
from cases.models import Case, CaseEvent, Document, DocumentNumberCounter, OutboxMessage, User
from tests.conftest import complete_project
from tests.machine_paths import HttpDriver, create_payload

REGISTER = {"severity": "general", "rectification_days": 10, "requirements": "立即设置临边防护栏杆\n整改完成后报送整改回复单"}


@pytest.fixture
def ready(db, world, clock):
    complete_project(db, world, clock)  # builder, supervisor, the officer's phone: the notice can be filled
    return world


def _registered_but_not_derived(db, world, clock, **register) -> tuple[int, int]:
    """A hazard registered through the services, its commit not followed by a derivation (as if
    the process had died right after committing). Returns (case id, register event id)."""
    with derive.paused():
        with db.transaction() as s:
            case = services.create_case(s, world.officer, create_payload("hazard", world, clock), now=clock.now())
            case_id, version = case.id, case.version
        with db.transaction() as s:
            _, event = services.perform_action(s, world.officer, case_id, "register",
                                               {"enterprise_id": world.e1.id, **REGISTER, **register},
                                               version=version, now=clock.now())
            event_id = event.id
    return case_id, event_id


def _state(db, case_id: int) -> dict:
    with db.session() as s:
        docs = list(s.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id)))
        msgs = sorted(s.execute(select(OutboxMessage.recipient_user_id, OutboxMessage.channel).where(
            OutboxMessage.case_id == case_id, OutboxMessage.template == "rectification_notice")).tuples())
        pending = s.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.derive_due.is_not(None)))
        event = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "register")).one()
        return {"docs": [(d.doc_type, d.number, d.cause) for d in docs], "variables": [d.variables for d in docs],
                "messages": msgs, "pending": pending, "event_documents": (event.payload or {}).get("documents"),
                "event_id": event.id}


def test_a_crash_between_commit_and_derivation_loses_nothing_the_worker_issues_it_once(db, ready, clock):
    world = ready
    case_id, event_id = _registered_but_not_derived(db, world, clock)
    before = _state(db, case_id)
    # Committed: the state changed, the event is marked; no 文号 taken, no document, no message.
    assert before["docs"] == [] and before["messages"] == [] and before["pending"] == 1
    with db.session() as s:
        assert s.get(Case, case_id).state == "registered"
        assert s.scalar(select(func.count()).select_from(DocumentNumberCounter)) == 0
        assert derive.derivations_due(db)
    # The worker's pass (what the derive-documents flow runs) issues it.
    assert derive.derive_pending(db) == {"cases": 1, "events": 1, "busy": 0, "errors": 0}
    after = _state(db, case_id)
    assert after["docs"] == [("rectification_notice", "姑苏建质改〔2026〕1号", f"action:{event_id}")]
    # The enterprise's contact and the assignee, on each of their channels.
    assert {u for u, _ in after["messages"]} == {world.contact.id, world.officer.id} and after["pending"] == 0
    assert len(set(after["messages"])) == len(after["messages"])
    assert [d["number"] for d in after["event_documents"]] == ["姑苏建质改〔2026〕1号"]
    # Run twice: no second 文号, no second message.
    assert derive.derive_pending(db) == {"cases": 0, "events": 0, "busy": 0, "errors": 0}
    assert derive.derive_case(db, case_id) == 0
    assert _state(db, case_id) == after
    assert not derive.derivations_due(db)


def test_two_concurrent_derivers_issue_each_document_exactly_once(db, ready, clock):
    world = ready
    cases = [_registered_but_not_derived(db, world, clock)[0] for _ in range(4)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deriver(kind: str) -> None:
        try:
            barrier.wait(timeout=30)
            for case_id in (cases if kind.startswith("api") else reversed(cases)):
                if kind.startswith("api"):
                    derive.derive_case(db, case_id)  # the API process: waits for the case's lock
                else:
                    derive.derive_pending(db)  # the worker: skips a case another deriver holds
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=deriver, args=(k,)) for k in ("api-1", "api-2", "worker-1", "worker-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    states = [_state(db, c) for c in cases]
    numbers = [n for st in states for (_, n, _) in st["docs"]]
    # One notice per case, numbers 1..4 without a gap or a repeat, two messages per case, flags cleared.
    assert all(len(st["docs"]) == 1 and st["pending"] == 0 for st in states), states
    assert all(st["messages"] == states[0]["messages"] and len(set(st["messages"])) == len(st["messages"])
               for st in states)
    assert sorted(numbers) == [f"姑苏建质改〔2026〕{i}号" for i in range(1, 5)]
    assert all([d["number"] for d in st["event_documents"]] == [st["docs"][0][1]] for st in states)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.template == "rectification_notice")) == 4 * len(states[0]["messages"]) >= 8


def test_the_document_says_what_was_true_at_the_event(db, ready, clock):
    """Derived after the case moved on (the unit rectified and reported; the requirements were
    edited; the officer changed): the notice keeps the requirements, the deadline and the case
    number of the register, and is addressed as it was then."""
    world = ready
    case_id, event_id = _registered_but_not_derived(db, world, clock)
    with db.session() as s:
        opened = s.get(CaseEvent, event_id).payload["deadlines"]
    [rect] = [d for d in opened if d.get("key") == "rectification"]
    with derive.paused():
        for action, user, fields in (("start_rectification", world.contact, {}),
                                     ("report_completion", world.contact, {"completion_report": "已设置防护栏杆"})):
            with db.transaction() as s:
                version = s.get(Case, case_id).version
                services.perform_action(s, user, case_id, action, fields, version=version, now=clock.now())
        with db.transaction() as s:
            case = s.get(Case, case_id)
            s.execute(update(Case).where(Case.id == case_id).values(
                details={**(case.details or {}), "requirements": "后来改写的要求"}, number="320508-YH-2026-999999"))
    assert derive.derive_case(db, case_id) == 1
    [variables] = _state(db, case_id)["variables"]
    assert variables["requirements"] == ["立即设置临边防护栏杆", "整改完成后报送整改回复单"]
    assert variables["deadline_at"] == rect["due_at"] and variables["due_date"] == rect["due_date"]
    assert variables["case_number"] != "320508-YH-2026-999999"
    with db.session() as s:
        recipients = set(s.scalars(select(OutboxMessage.recipient_user_id).where(
            OutboxMessage.case_id == case_id, OutboxMessage.template == "rectification_notice")))
    assert recipients == {world.contact.id, world.officer.id}


def test_preflight_still_refuses_before_the_state_changes_with_nothing_written(db, ready, clock):
    world = ready
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone=None))
        case = services.create_case(s, world.officer, create_payload("hazard", world, clock), now=clock.now())
        case_id = case.id
    from cases.platform.errors import ValidationFailed
    import notifications.documents.store  # noqa: F401  (installs the preflight)

    with db.session() as s:  # the officer as the API's user check reads it for the request: no phone
        officer = s.get(User, world.officer.id)
        s.expunge(officer)
    assert officer.phone is None
    with pytest.raises(ValidationFailed) as refused:
        with db.transaction() as s:
            services.perform_action(s, officer, case_id, "register", {"enterprise_id": world.e1.id, **REGISTER},
                                    version=1, now=clock.now())
    assert [(e["field"], e["label"]) for e in refused.value.errors] == [("assignee_id", "承办人联系电话")]
    with db.session() as s:
        assert s.get(Case, case_id).state == "found" and s.get(Case, case_id).version == 1
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)) == 1
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.derive_due.is_not(None))) == 0
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.case_id == case_id)) == 0


def test_pending_cases_come_oldest_first_once_each_from_the_partial_index(db, ready, clock):
    world = ready
    cases = [_registered_but_not_derived(db, world, clock)[0] for _ in range(3)]
    with db.transaction() as s:  # the first case's events derived already: only the other two wait
        s.execute(update(CaseEvent).where(CaseEvent.case_id == cases[0]).values(derive_due=None))
    with db.session() as s:
        first = {c: s.scalar(select(func.min(CaseEvent.id)).where(CaseEvent.case_id == c,
                                                                  CaseEvent.derive_due.is_not(None))) for c in cases}
    waiting = sorted((c for c in cases if first[c] is not None), key=first.get)
    assert waiting == cases[1:]
    with db.session() as s:
        assert derive.pending_cases(s, 10) == waiting
        assert derive.pending_cases(s, 1) == waiting[:1]
    assert derive.derivations_due(db)
    if db.dialect != "postgresql":
        return
    # PostgreSQL chose a table scan for the old query shapes whenever its statistics still counted many
    # pending events; analysed during a backlog (a tenth of 20,000 events), then drained, the new
    # shapes read the partial index. (A table of a few rows is best read whole, hence the 20,000.)
    with db.transaction() as s:
        s.execute(text("INSERT INTO case_events (case_id, seq, at, action, to_state, payload, derive_due) "
                       "SELECT :c, 1000 + n, now(), 'note', 'found', '{}', CASE WHEN n % 10 = 0 THEN true END "
                       "FROM generate_series(1, 20000) AS n"), {"c": cases[0]})
    with db.engine.connect() as c:
        c.exec_driver_sql("ANALYZE case_events")
        c.commit()
    with db.transaction() as s:
        s.execute(update(CaseEvent).values(derive_due=None))
    with db.engine.connect() as c:
        for stmt in (derive._ANY_PENDING, derive._PENDING_IN_ORDER.params(rows=400)):
            sql = str(stmt.compile(dialect=c.dialect, compile_kwargs={"literal_binds": True}))
            plan = "\n".join(c.exec_driver_sql(f"EXPLAIN {sql}").scalars())
            assert "ix_case_events_derive_due" in plan and "Seq Scan" not in plan, plan
    assert not derive.derivations_due(db)


def test_the_derive_process_pass_is_one_transaction_whose_commit_wakes_every_deliverer(db, ready, clock, monkeypatch):
    """The derive process (workflows/derive_worker.py) lists the pending cases and derives the first
    batch in one transaction — a pass per commit at a moderate rate, so one transaction per event —
    and that commit wakes the deliverers: its parent's through the process's waker, those of other
    processes by the NOTIFY the outbox INSERT carries (PostgreSQL), not by a transaction of its own."""
    from cases.issuance import wakeup

    case_id, event_id = _registered_but_not_derived(db, ready, clock)
    checkouts: list[int] = []
    woken: list[int] = []

    def waker() -> None:
        woken.append(1)

    def checkout(*_args) -> None:
        checkouts.append(1)

    wakeup.add_outbox_waker(waker)  # the derive process's: one line to its parent
    monkeypatch.setattr(wakeup, "_notify_always", False)
    wakeup.notify_other_processes()  # what the derive process's main() says (undone by monkeypatch)
    event.listen(db.engine, "checkout", checkout)
    try:
        if db.dialect != "postgresql":  # SQLite: one case per transaction, the others poll (no NOTIFY)
            assert derive.derive_pending(db, batch=derive.PG_BATCH_CASES)["events"] == 1
            assert woken == [1]
            return
        dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as listener:  # the test's own database: NOTIFY is per database
            listener.execute(f"LISTEN {wakeup.CHANNEL}")
            with psycopg.connect(dsn) as other, other.transaction():  # another deriver holds the case
                other.execute("SELECT pg_advisory_xact_lock(%s, %s)", (derive.ADVISORY_CLASS, case_id))
                assert derive.derive_pending(db, batch=derive.PG_BATCH_CASES) == {"cases": 0, "events": 0, "busy": 1,
                                                                                   "errors": 0}
            checkouts.clear()
            assert derive.derive_pending(db, batch=derive.PG_BATCH_CASES) == {"cases": 1, "events": 1, "busy": 0,
                                                                               "errors": 0}
            assert len(checkouts) == 1  # listed and derived in one transaction
            assert woken == [1]
            assert [n.channel for n in listener.notifies(timeout=10, stop_after=1)] == [wakeup.CHANNEL]
            # A transaction that wakes held e-mails without inserting any (a render's) NOTIFYs too; one that
            # rolls back does not.
            with pytest.raises(RuntimeError):
                with db.transaction() as s:
                    wakeup.outbox_written(s)
                    raise RuntimeError("rolled back")
            assert list(listener.notifies(timeout=1)) == []
            with db.transaction() as s:
                wakeup.outbox_written(s)
            assert [n.channel for n in listener.notifies(timeout=10, stop_after=1)] == [wakeup.CHANNEL]
            # Nothing left: the next pass is one read and no NOTIFY.
            checkouts.clear()
            assert derive.derive_pending(db, batch=derive.PG_BATCH_CASES)["events"] == 0
            assert len(checkouts) == 1 and list(listener.notifies(timeout=1)) == []
    finally:
        event.remove(db.engine, "checkout", checkout)
        wakeup.remove_outbox_waker(waker)
    assert _state(db, case_id)["docs"] == [("rectification_notice", "姑苏建质改〔2026〕1号", f"action:{event_id}")]


@pytest.fixture
def after_response(live_server):
    """The live server as in production: documents derived in a background task after the answer."""
    state = live_server.server.config.app.state
    state.derive_before_response = False
    yield
    state.derive_before_response = True


def _wait_for(predicate, what: str, bound: float = 60.0):
    deadline = time.monotonic() + bound
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {bound} s: {what}"
        time.sleep(0.05)


def test_the_case_shows_the_notice_as_issuing_until_it_is_derived(api, db, ready, clock, after_response):
    world = ready
    drv = HttpDriver(api, world, clock)
    officer = drv.client(world.officer)
    # Before derivation (the worker's case: the process died after its commit): 生成中 on the
    # case page and in the document list, with the type and title known from the event.
    case_id, event_id = _registered_but_not_derived(db, world, clock)
    page = officer.get(f"/api/cases/{case_id}").json()
    assert [(d["doc_type"], d["title"], d["status"], d["status_label"], d["number"]) for d in page["documents_issuing"]] \
        == [("rectification_notice", "隐患整改通知书", "issuing", "生成中", None)]
    items = officer.get(f"/api/cases/{case_id}/documents").json()["items"]
    assert [(d["status"], d["cause"]) for d in items] == [("issuing", f"action:{event_id}")]
    derive.derive_pending(db)
    assert officer.get(f"/api/cases/{case_id}").json()["documents_issuing"] == []
    [item] = officer.get(f"/api/cases/{case_id}/documents").json()["items"]
    assert item["status"] == "issued" and item["number"]
    # Over HTTP: the action's answer says 生成中; the API process derives it after the answer.
    case = drv.create("hazard")
    r = drv.try_act(case, "register", fields={"enterprise_id": world.e1.id, **REGISTER})
    assert r.status_code == 200, r.text
    assert [d["status_label"] for d in r.json()["documents_issuing"]] == ["生成中"]
    issued = _wait_for(lambda: [d for d in officer.get(f"/api/cases/{case['id']}/documents").json()["items"]
                                if d["status"] == "issued"], "the notice derived by the API process")
    assert [d["doc_type"] for d in issued] == ["rectification_notice"]
    assert officer.get(f"/api/cases/{case['id']}").json()["documents_issuing"] == []


from tests.test_workflows import app_db, prefect_harness  # noqa: E402,F401  (a Prefect API, the flows' database)


def test_the_worker_lane_derives_what_a_crashed_process_left_as_a_flow_run(prefect_harness, app_db, ready, clock,
                                                                           monkeypatch):
    """The sweep lane's check finds the pending event, the ``derive-documents`` flow run issues it;
    the next tick finds nothing and starts no flow run."""
    import workflows.loop as loop_module
    from workflows.loop import FlowLoop

    monkeypatch.setattr(loop_module, "documents_due", lambda now: False)  # rendering is not this test's
    case_id, event_id = _registered_but_not_derived(app_db, ready, clock)
    loop = FlowLoop(sweep_interval=10, digest=False, worker="derive-test")
    loop._sweep_tick()
    assert loop.runs["derive-documents"] == 1 and loop.failures["derive-documents"] == 0
    state = _state(app_db, case_id)
    assert state["docs"] == [("rectification_notice", "姑苏建质改〔2026〕1号", f"action:{event_id}")]
    assert state["pending"] == 0 and state["messages"]
    loop._sweep_tick()
    assert loop.runs["derive-documents"] == 1
    assert _state(app_db, case_id) == state


def test_the_derive_process_pass_is_one_flow_run_that_lingers_for_the_next_commit(prefect_harness, app_db, ready,
                                                                                    clock):
    """Two registrations committed a second and a half apart: one ``derive-documents`` flow run derives
    and renders both — it stayed open after the first (workflows/passes.py Linger) and the second
    commit's wake reached it — so no flow run is created between a transition and its e-mail."""
    import threading
    import time

    import httpx
    from prefect.settings import PREFECT_API_URL

    from workflows.derive_worker import Pass

    api_url = PREFECT_API_URL.value().rstrip("/")

    def derive_runs() -> list[dict]:
        return httpx.post(f"{api_url}/flow_runs/filter", json={"flows": {"name": {"any_": ["derive-documents"]}}},
                          timeout=60).json()

    def rendered(case_id: int) -> bool:
        with app_db.session() as s:
            return set(s.scalars(select(Document.status).where(Document.case_id == case_id))) == {"rendered"}

    before = {r["id"] for r in derive_runs()}  # the harness is the session's: other tests' runs
    wake, stop = threading.Event(), threading.Event()
    work = Pass(use_prefect=True, render=True, wake=wake, stop=stop, linger_seconds=4.0)
    work.quiet()  # what the process does after a few quiet seconds: Prefect is imported
    assert work.prefect_ready.wait(60)  # on a thread; until then a pass runs without a flow run
    first, _ = _registered_but_not_derived(app_db, ready, clock)
    done: list[int] = []
    runner = threading.Thread(target=lambda: done.append(work.run()), daemon=True)
    try:
        runner.start()
        _wait_for(lambda: rendered(first), "the first notice derived and rendered", bound=120)
        time.sleep(1.5)  # well inside the linger
        second, _ = _registered_but_not_derived(app_db, ready, clock)
        wake.set()  # what the launcher's byte on stdin does
        _wait_for(lambda: rendered(second), "the second notice, in the same run", bound=120)
        runner.join(120)
        assert not runner.is_alive() and done == [4]  # two events derived, two documents rendered
    finally:
        stop.set()
        wake.set()
        runner.join(30)
        work.close()
    new = [r for r in derive_runs() if r["id"] not in before]
    assert len(new) == 1 and new[0]["state_type"] == "COMPLETED", [(r["name"], r["state_type"]) for r in new]
    assert [n for (_, n, _) in _state(app_db, second)["docs"]] == ["姑苏建质改〔2026〕2号"]


def test_a_derive_run_that_ends_at_its_window_while_busy_hands_over_to_the_next(prefect_harness, app_db, ready,
                                                                                 clock, monkeypatch):
    """The derive process's run ends at its window (here 3 s) while commits keep coming: the next
    pass is a flow run at once even with nothing due (it waits for the next commit inside its run, no
    creation on that commit's way) and ends after its linger; a pass after a run that ended idle makes
    no empty run."""
    import threading

    import httpx
    from prefect.settings import PREFECT_API_URL

    import workflows.derive_worker
    from workflows.derive_worker import Pass

    monkeypatch.setattr(workflows.derive_worker, "LINGER_WINDOW_SECONDS", 3.0)
    api_url = PREFECT_API_URL.value().rstrip("/")

    def derive_runs() -> list[dict]:
        return httpx.post(f"{api_url}/flow_runs/filter", json={"flows": {"name": {"any_": ["derive-documents"]}}},
                          timeout=60).json()

    def derived(case_id: int) -> bool:
        with app_db.session() as s:
            return bool(s.scalars(select(Document.id).where(Document.case_id == case_id)).first())

    before = {r["id"] for r in derive_runs()}
    wake, stop = threading.Event(), threading.Event()
    work = Pass(use_prefect=True, render=False, wake=wake, stop=stop, linger_seconds=2.5)
    work.quiet()
    assert work.prefect_ready.wait(60)
    first, _ = _registered_but_not_derived(app_db, ready, clock)
    runner = threading.Thread(target=work.run, daemon=True)
    try:
        runner.start()
        _wait_for(lambda: derived(first), "the first notice derived", bound=120)
        for _ in range(2):  # a commit a second: busy until the window ends
            time.sleep(1.0)
            case_id, _ = _registered_but_not_derived(app_db, ready, clock)
            wake.set()
            _wait_for(lambda: derived(case_id), "a notice derived in the same run", bound=120)
        runner.join(120)
        assert not runner.is_alive()
        assert wake.is_set() and len([r for r in derive_runs() if r["id"] not in before]) == 1
        wake.clear()
        assert work.run() == 0  # nothing due, yet a flow run: it lingered for a commit that did not come
        new = [r for r in derive_runs() if r["id"] not in before]
        assert len(new) == 2 and all(r["state_type"] == "COMPLETED" for r in new), [(r["name"], r["state_type"]) for r in new]
        assert not wake.is_set() and work.run() == 0  # that one ended idle: no third run
        assert len([r for r in derive_runs() if r["id"] not in before]) == 2
    finally:
        stop.set()
        wake.set()
        runner.join(30)
        work.close()


def test_while_the_derive_process_imports_prefect_its_passes_run_without_a_flow_run(prefect_harness, app_db,
                                                                                     ready, clock, monkeypatch):
    """Importing Prefect costs the derive process ~2 s of CPU; it does so on a thread, after a few
    quiet seconds (the commits that started it are derived and rendered without waiting for it, or
    sharing the CPU with it). A commit that arrives while it imports is derived and rendered at once, without a
    flow run; once Prefect is in, the next pass is a ``derive-documents`` flow run again."""
    import threading

    import httpx
    from prefect.settings import PREFECT_API_URL

    import workflows.loop
    from workflows.derive_worker import Pass

    api_url = PREFECT_API_URL.value().rstrip("/")

    def derive_runs() -> set[str]:
        return {r["id"] for r in httpx.post(f"{api_url}/flow_runs/filter", timeout=60,
                                            json={"flows": {"name": {"any_": ["derive-documents"]}}}).json()}

    importing, imported = threading.Event(), threading.Event()
    real_import = workflows.loop.import_prefect_quietly

    def slow_import() -> None:  # the import, held until the test lets it finish
        importing.set()
        assert imported.wait(120)
        real_import()

    monkeypatch.setattr(workflows.loop, "import_prefect_quietly", slow_import)
    before = derive_runs()
    work = Pass(use_prefect=True, render=True, linger_seconds=0)
    try:
        first, _ = _registered_but_not_derived(app_db, ready, clock)
        assert work.run() == 2  # derived and rendered without a flow run, Prefect not even importing
        assert not importing.is_set()
        work.quiet()  # what the process does after a few quiet seconds: Prefect's import starts
        assert importing.wait(60) and not work.prefect_ready.is_set()
        second, _ = _registered_but_not_derived(app_db, ready, clock)
        assert work.run() == 2  # Prefect still importing: the same
        with app_db.session() as s:
            assert set(s.scalars(select(Document.status).where(Document.case_id.in_([first, second])))) == {"rendered"}
        assert derive_runs() == before  # no flow run
        imported.set()
        assert work.prefect_ready.wait(120)
        third, _ = _registered_but_not_derived(app_db, ready, clock)
        assert work.run() == 2
        assert len(derive_runs() - before) == 1  # a flow run now
    finally:
        imported.set()
        work.close()
    assert [n for (_, n, _) in _state(app_db, third)["docs"]] == ["姑苏建质改〔2026〕3号"]
