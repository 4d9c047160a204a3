"""The calendar held in memory (docs/legal-time.md "The calendar in memory"): no calendar query on
the transition path; every process hears of an upload (LISTEN/NOTIFY on PostgreSQL, the version
file on SQLite); a deadline another process computes with the stale calendar just after an upload
is repaired by the sweep, with the same ``deadline_recomputed`` event an upload writes."""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import event, select

from cases.calendar import calendar_watch
from cases.calendar.calendar_repair import repair_calendar
from cases.calendar.calendar_store import get_calendar, read_notice_file
from cases.platform.db import Database
from cases.clocks.deadlines import get_policy, load_calendar_year, open_deadline, planned_timers
from cases.clocks.legal_time import compute_due
from cases.models import Case, CaseEvent, Deadline, Timer
from tests.conftest import T0, complete_project
from tests.machine_paths import HttpDriver, ServiceDriver

NOTICE_2027 = read_notice_file(Path(__file__).parent / "data" / "calendar" / "2027-example.yaml")
# 39 calendar days from Monday 23 November 2026 end on Friday 1 January 2027: a working day while
# 2027 is counted with weekends only (provisional), 元旦 in the notice — then the period runs to
# Monday 4 January.
AMOUNT = 39


@contextmanager
def statements(engine):
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def wait_for_watch(engine, timeout: float = 10.0) -> None:
    """The PostgreSQL listener connects in its thread; until then the watch asks per transition."""
    watch = calendar_watch.watch_for(engine)
    deadline = time.monotonic() + timeout
    while watch.token() is None:
        assert time.monotonic() < deadline, "the calendar watch never became ready"
        time.sleep(0.02)


def test_a_transition_issues_no_calendar_query(api, world, clock, database):
    complete_project(database, world, clock)
    drv = HttpDriver(api, world, clock)
    wait_for_watch(database.engine)
    first = drv.create("hazard")
    drv.act(first, "register", severity="serious", rectification_days=10, requirements="补设连墙件")  # loads it
    case = drv.create("hazard")
    with statements(database.engine) as seen:
        case = drv.act(case, "register", severity="serious", rectification_days=10, requirements="补设连墙件")
    assert case["deadlines"], "register opens the rectification deadline (so it needs the calendar)"
    assert seen, "the listener sees the request's statements"
    assert [s for s in seen if "calendar_years" in s or "calendar_state" in s] == []


def _stale_world(db, world, clock):
    """A case, and what another process holds: the calendar before 2027 was loaded."""
    complete_project(db, world, clock)
    case_id = ServiceDriver(db, world, clock).create("hazard")
    with db.session() as s:
        stale = get_calendar(s)
    assert stale.generation == 0 and not stale.is_known_year(2027)
    return case_id, stale


def test_other_processes_hear_of_an_upload(db, world, clock):
    other = Database(db.url)  # another process: its own engine, cache and watch
    try:
        wait_for_watch(other.engine)
        with other.session() as s:
            assert get_calendar(s).generation == 0
        with db.transaction() as s:
            load_calendar_year(s, NOTICE_2027, loaded_by="admin", now=clock.now())
        deadline = time.monotonic() + 10
        while True:
            with other.session() as s, statements(other.engine) as seen:
                cal = get_calendar(s)
            if cal.generation == 1:
                break
            assert seen == [], "while nothing was heard, the calendar comes from memory"
            assert time.monotonic() < deadline, "the other process never heard of the upload"
            time.sleep(0.02)
        assert cal.is_known_year(2027) and cal.is_day_off(date(2027, 1, 1))
        with other.session() as s, statements(other.engine) as seen:
            assert get_calendar(s) is cal
        assert seen == []
    finally:
        other.dispose()


def test_a_deadline_computed_with_the_stale_calendar_is_repaired_by_the_sweep(db, world, clock):
    case_id, stale = _stale_world(db, world, clock)
    with db.transaction() as s:  # the administrator loads 2027 …
        result = load_calendar_year(s, NOTICE_2027, loaded_by="admin", now=clock.now())
    assert result["cases"] == 0
    # … and a process that has not heard of it yet opens a deadline with its old calendar.
    with db.transaction() as s:
        case = s.get(Case, case_id)
        d = open_deadline(s, case=case, key="rectification", label="整改期限", ladder="rectification", start_at=T0,
                          amount=AMOUNT, unit="calendar_day", now=clock.now(), calendar=stale)
        deadline_id = d.id
    with db.session() as s:
        d = s.get(Deadline, deadline_id)
        assert (d.due_date, d.provisional, d.calendar_gen) == (date(2027, 1, 1), True, 0)

    clock.set(T0 + timedelta(minutes=1))
    assert repair_calendar(db, clock.now()) == {"generation": 1, "deadlines": 1, "recomputed": 1, "cases": 1}

    with db.session() as s:
        d = s.get(Deadline, deadline_id)
        current = get_calendar(s)
        expected = compute_due(T0, AMOUNT, "calendar_day", current)
        assert (d.due_date, d.provisional, d.calendar_gen) == (date(2027, 1, 4), False, 1)
        assert (d.due_at, d.calendar_version) == (expected.due_at, expected.calendar_version)
        pending = {t.rung: t.fire_at for t in s.scalars(select(Timer).where(Timer.deadline_id == deadline_id,
                                                                           Timer.status == "pending"))}
        assert pending == planned_timers(s, d, clock.now(), current, get_policy())
        [ev] = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                 CaseEvent.action == "deadline_recomputed")).all()
        assert (ev.payload["year"], ev.payload["notice"]) == (2027, NOTICE_2027["notice"])
        [item] = ev.payload["deadlines"]
        assert item["deadline"] == "整改期限" and item["from"].startswith("2027-01-01T16:00")  # 1 Jan 24:00 Beijing
        assert item["due_date"] == "2027-01-04" and "2027" in ev.comment

    # The next sweep finds nothing: exactly once.
    assert repair_calendar(db, clock.now())["deadlines"] == 0
    with db.session() as s:
        assert len(s.scalars(select(CaseEvent).where(CaseEvent.action == "deadline_recomputed")).all()) == 1


def test_the_repair_ends_as_if_the_transition_came_before_the_upload(db, world, clock):
    case_id, stale = _stale_world(db, world, clock)
    # The order the race stands for: the deadline first, then the upload (which recomputes it).
    with db.transaction() as s:
        d = open_deadline(s, case=s.get(Case, case_id), key="rectification", label="整改期限",
                          ladder="rectification", start_at=T0, amount=AMOUNT, unit="calendar_day",
                          now=clock.now(), calendar=stale)
        deadline_id = d.id
    with db.transaction() as s:
        assert load_calendar_year(s, NOTICE_2027, loaded_by="admin", now=clock.now())["cases"] == 1
    with db.session() as s:
        d = s.get(Deadline, deadline_id)
        before_upload = (d.due_at, d.warn_at, d.provisional, d.calendar_version, d.calendar_gen)
        timers = sorted(s.execute(select(Timer.rung, Timer.fire_at).where(Timer.status == "pending")).all())
        [ev] = s.scalars(select(CaseEvent).where(CaseEvent.action == "deadline_recomputed")).all()
        payload = ev.payload
    assert repair_calendar(db, clock.now())["deadlines"] == 0  # nothing left to repair

    # Now the race on a second case: the same deadline written just after the upload, then the sweep.
    case2 = ServiceDriver(db, world, clock).create("hazard")
    with db.transaction() as s:
        d2 = open_deadline(s, case=s.get(Case, case2), key="rectification", label="整改期限",
                           ladder="rectification", start_at=T0, amount=AMOUNT, unit="calendar_day",
                           now=clock.now(), calendar=stale)
        second = d2.id
    assert repair_calendar(db, clock.now())["recomputed"] == 1
    with db.session() as s:
        d2 = s.get(Deadline, second)
        assert (d2.due_at, d2.warn_at, d2.provisional, d2.calendar_version, d2.calendar_gen) == before_upload
        assert sorted(s.execute(select(Timer.rung, Timer.fire_at).where(
            Timer.status == "pending", Timer.deadline_id == second)).all()) == \
            timers  # the same rungs at the same instants as the first case's (its own, the only others)
        [ev2] = s.scalars(select(CaseEvent).where(CaseEvent.action == "deadline_recomputed",
                                                  CaseEvent.case_id == case2)).all()
        strip = lambda p: [{k: v for k, v in i.items() if k != "id"} for i in p["deadlines"]]  # noqa: E731
        assert (ev2.payload["year"], ev2.payload["notice"], strip(ev2.payload)) == \
            (payload["year"], payload["notice"], strip(payload))


def test_an_upload_marks_clocks_it_cannot_touch_current(db, world, clock):
    """Deadlines outside the uploaded year's window are not recomputed, only stamped current; the
    sweep then has nothing to do."""
    case_id, stale = _stale_world(db, world, clock)
    with db.transaction() as s:
        d = open_deadline(s, case=s.get(Case, case_id), key="rectification", label="整改期限",
                          ladder="rectification", start_at=T0, amount=10, unit="calendar_day", now=clock.now(),
                          calendar=stale)
        deadline_id, due = d.id, d.due_at
    notice_2029 = {"year": 2029, "notice": "合成测试〔2029〕1号", "days_off": ["2029-01-01"], "workdays": []}
    with db.transaction() as s:
        assert load_calendar_year(s, notice_2029, loaded_by="admin", now=clock.now())["deadlines_recomputed"] == 0
    with db.session() as s:
        d = s.get(Deadline, deadline_id)
        assert (d.calendar_gen, d.due_at) == (1, due)
    assert repair_calendar(db, clock.now())["deadlines"] == 0


def test_the_worker_sees_a_stale_deadline_as_sweep_work(db, world, clock):
    """The sweep lane runs the sweep flow when a deadline is stale even if no timer is due, and the
    flow's first step repairs it."""
    from cases.platform import db as db_module
    from workflows import loop
    from workflows.passes import repair_calendar_task

    case_id, stale = _stale_world(db, world, clock)
    previous = db_module._db
    db_module.set_database(db)
    try:
        assert not loop.calendar_stale()
        with db.transaction() as s:
            load_calendar_year(s, NOTICE_2027, loaded_by="admin", now=clock.now())
        with db.transaction() as s:
            open_deadline(s, case=s.get(Case, case_id), key="rectification", label="整改期限",
                          ladder="rectification", start_at=T0, amount=AMOUNT, unit="calendar_day",
                          now=clock.now(), calendar=stale)
        assert loop.calendar_stale() and not loop.timers_due(clock.now())
        assert repair_calendar_task() == 1
        assert not loop.calendar_stale()
    finally:
        db_module.set_database(previous)


def test_a_savepoint_inside_the_upload_does_not_announce_it_early(db, world, clock):
    """The upload is announced when its transaction commits, not when a SAVEPOINT inside it is
    released (SQLAlchemy calls after_commit for both)."""
    other = Database(db.url)
    try:
        wait_for_watch(other.engine)
        with other.session() as s:
            assert get_calendar(s).generation == 0
        token = calendar_watch.watch_for(db.engine).token()
        with db.transaction() as s:
            load_calendar_year(s, NOTICE_2027, loaded_by="admin", now=clock.now())
            with s.begin_nested():
                pass
            assert calendar_watch.watch_for(db.engine).token() == token  # not yet
            time.sleep(0.3 if db.dialect == "postgresql" else 0)
            with other.session() as o:
                assert get_calendar(o).generation == 0
        assert calendar_watch.watch_for(db.engine).token() != token
    finally:
        other.dispose()
