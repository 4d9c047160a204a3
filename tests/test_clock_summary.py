"""Property: each case's stored clock summary (``Case.clock_due_at``, ``clock_warn_at``, ``clock_live``,
kept by the database's trigger on deadlines — migration 0005_clocksum) always equals the one computed
from the deadlines rows, whatever happens to the clocks: real actions (opening, meeting, pausing,
extending, cancelling clocks), sweeps (reminders, 挂牌督办 with its own clocks, 提级), a holiday notice
that moves due dates, supervision extensions, and set-wise Core writes and deletes of deadlines.
And the light read from the summary (``light_expression``) equals the light computed from the rows
(``computed_light_expression``) and the Python ``light_of``; the next due equals the computed one.
Runs on SQLite and PostgreSQL (the ``db`` fixture)."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from cases.clocks import deadlines as dl

from cases.clocks import lights
from cases.ledger import services
from cases.clocks import supervision
from cases.platform.errors import ActionNotAllowed, Forbidden, ValidationFailed
from cases.clocks.sweep import fire_all_due
from cases.models import Case, Deadline
from tests.machine_paths import KINDS, ServiceDriver, action_payload


def check(db, now) -> None:
    with db.session() as s:
        assert s.execute(lights.summary_mismatches()).all() == []
        assert s.execute(lights.jurisdiction_mismatches()).all() == []
        stored = dict(s.execute(select(Case.id, lights.light_expression(now))).all())
        computed = dict(s.execute(select(Case.id, lights.computed_light_expression(now))).all())
        assert stored == computed
        due = dict(s.execute(select(Case.id, lights.next_due_expression())).all())
        assert due == dict(s.execute(select(Case.id, lights.computed_next_due_expression())).all())
        clocks: dict[int, list[Deadline]] = {}
        for d in s.scalars(select(Deadline)):
            clocks.setdefault(d.case_id, []).append(d)
        for case in s.scalars(select(Case)):
            assert lights.light_of(clocks.get(case.id, []), now, closed=case.closed_at is not None) == stored[case.id]


def _act(db, world, clock, drv, case_id, data) -> None:
    users = (world.officer, world.supervisor, world.contact, world.province)
    with db.session() as s:
        case = services.get_case(s, world.province, case_id)
        allowed = {}
        for u in users:
            for a in services.allowed_actions(s, u, case, now=clock.now()):
                allowed.setdefault(a.name, (a, u))
        kind, version = case.kind, case.machine_version
    if not allowed:
        return
    name = data.draw(st.sampled_from(sorted(allowed)), label="action")
    action, user = allowed[name]
    payload = action_payload(kind, action, world, clock, version=version)
    if name == "decide_extension":
        payload["approved"] = data.draw(st.booleans(), label="approved")
    try:
        drv.act(case_id, name, user, payload=payload)
    except (ActionNotAllowed, Forbidden, ValidationFailed):
        pass  # a generated payload the rules refuse: nothing written


def _supervision_extension(db, world, clock, case_id, data) -> None:
    with db.session() as s:
        sup = supervision.active_supervision(s, case_id)
    if sup is None:
        return
    try:
        with db.transaction() as s:
            if sup.status == "extension_requested":
                supervision.decide_extension(s, world.supervisor, sup.id, data.draw(st.booleans(), label="ok"),
                                             5, "同意", clock.now())
            else:
                supervision.request_extension(s, world.officer, sup.id, 5, "材料未到场", clock.now())
    except (ActionNotAllowed, Forbidden, ValidationFailed):
        pass


def _calendar(db, world, clock, data) -> None:
    days = data.draw(st.lists(st.sampled_from([date(2027, 1, d) for d in (1, 4, 5, 6, 7, 8)]), min_size=1,
                              max_size=3, unique=True), label="days off")
    notice = {"year": 2027, "notice": "测试用放假安排（非官方）", "days_off": sorted(d.isoformat() for d in days), "workdays": []}
    with db.transaction() as s:
        dl.load_calendar_year(s, notice, loaded_by="admin", now=clock.now())


def _core_writes(db, case_ids, data) -> None:
    """Set-wise statements past the ORM: the trigger sees them too."""
    case_id = data.draw(st.sampled_from(case_ids), label="case")
    what = data.draw(st.sampled_from(["shift", "stop lighting", "cancel", "delete one"]), label="core")
    with db.transaction() as s:
        live = (Deadline.case_id == case_id, Deadline.status == "open")
        if what == "shift":
            ids = list(s.scalars(select(Deadline.id).where(*live, Deadline.due_at.is_not(None))))
            for i in ids:  # per row: SQLite has no interval arithmetic in SQL
                d = s.get(Deadline, i)
                s.execute(update(Deadline).where(Deadline.id == i).values(
                    due_at=d.due_at - timedelta(days=3), warn_at=d.warn_at and d.warn_at - timedelta(days=3)))
        elif what == "stop lighting":
            s.execute(update(Deadline).where(*live).values(affects_light=False))
        elif what == "cancel":
            s.execute(update(Deadline).where(*live).values(status="cancelled"))
        else:
            first = s.scalar(select(Deadline.id).where(Deadline.case_id == case_id).order_by(Deadline.id.desc()).limit(1))
            if first is not None:
                s.execute(delete(Deadline).where(Deadline.id == first))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_stored_clock_summary_equals_the_deadlines(db, world, clock, data):
    from datetime import datetime, timezone

    clock.set(datetime(2026, 12, 21, 2, 0, tzinfo=timezone.utc))  # clocks run into 2027: the notice moves them
    drv = ServiceDriver(db, world, clock)
    kinds = data.draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3), label="kinds")
    case_ids = [drv.create(k) for k in kinds]
    check(db, clock.now())
    for _ in range(data.draw(st.integers(3, 12), label="steps")):
        step = data.draw(st.sampled_from(["act", "act", "act", "wait and sweep", "supervision extension",
                                          "calendar", "core"]), label="step")
        if step == "act":
            _act(db, world, clock, drv, data.draw(st.sampled_from(case_ids), label="case"), data)
        elif step == "wait and sweep":
            clock.advance(data.draw(st.sampled_from([timedelta(hours=2), timedelta(days=3), timedelta(days=12)]),
                                    label="wait"))
            fire_all_due(db, clock.now())
        elif step == "supervision extension":
            _supervision_extension(db, world, clock, data.draw(st.sampled_from(case_ids), label="case"), data)
        elif step == "calendar":
            _calendar(db, world, clock, data)
        else:
            _core_writes(db, case_ids, data)
        check(db, clock.now())


def test_summary_follows_each_kind_of_write(db, world, clock):
    """The plain cases, step by step: open, second clock, pause, close, delete, case deleted."""
    now = clock.now()
    drv = ServiceDriver(db, world, clock)
    case_id = drv.create("hazard")
    with db.transaction() as s:
        s.execute(delete(Deadline).where(Deadline.case_id == case_id))

    def summary():
        with db.session() as s:
            return tuple(s.execute(select(Case.clock_due_at, Case.clock_warn_at, Case.clock_live)
                                   .where(Case.id == case_id)).one())

    assert summary() == (None, None, False)
    base = dict(case_id=case_id, key="rectification", label="整改期限", ladder="rectification", policy_version=1,
                start_at=now, amount=7, unit="calendar_day", extensions=[], pauses=[], provisional=False,
                calendar_version="t", created_at=now)
    with db.transaction() as s:
        a = Deadline(**base, affects_light=True, status="open", due_at=now + timedelta(days=7), warn_at=now + timedelta(days=5))
        s.add(a)
        s.flush()
        a_id = a.id
    assert summary() == (now + timedelta(days=7), now + timedelta(days=5), True)
    with db.transaction() as s:  # an earlier clock that does not light the case: no change
        s.add(Deadline(**base, affects_light=False, status="open", due_at=now + timedelta(days=1), warn_at=now))
        s.add(Deadline(**base, affects_light=True, status="open", due_at=now + timedelta(days=3), warn_at=now + timedelta(days=6)))
    assert summary() == (now + timedelta(days=3), now + timedelta(days=5), True)
    with db.transaction() as s:  # both lighting clocks paused: still live, no dates
        s.execute(update(Deadline).where(Deadline.case_id == case_id, Deadline.affects_light.is_(True))
                  .values(due_at=None, warn_at=None))
    assert summary() == (None, None, True)
    with db.transaction() as s:
        s.execute(update(Deadline).where(Deadline.case_id == case_id, Deadline.id != a_id).values(status="met"))
    assert summary() == (None, None, True)
    with db.transaction() as s:
        s.execute(delete(Deadline).where(Deadline.id == a_id))
    assert summary() == (None, None, False)
    other = drv.create("hazard")
    with db.transaction() as s:
        s.add(Deadline(**{**base, "case_id": other}, affects_light=True, status="open", due_at=now, warn_at=now))
    with db.session() as s:
        assert s.get(Case, other).clock_live is True and s.get(Case, other).clock_due_at == now
    with db.transaction() as s:  # a clock moved to another case updates both
        s.execute(update(Deadline).where(Deadline.case_id == other).values(case_id=case_id))
    with db.session() as s:
        assert s.execute(lights.summary_mismatches()).all() == []
        assert s.get(Case, other).clock_live is False and s.get(Case, case_id).clock_live is True
    with db.transaction() as s:  # deleting a case cascades to its clocks without tripping the trigger
        s.execute(delete(Case).where(Case.id == case_id))
    with db.session() as s:
        assert s.execute(lights.summary_mismatches()).all() == []


def test_concurrent_clock_writes_on_one_case_keep_the_summary(db, world, clock):
    """Two transactions close the two clocks of one case at the same time; the first one's change
    leaves the stored summary as it was. The trigger makes the second wait for the first (the case row's
    lock) and then computes from what the first committed: no clock left, no light."""
    import threading
    import time

    now = clock.now()
    case_id = ServiceDriver(db, world, clock).create("hazard")
    base = dict(case_id=case_id, key="rectification", label="整改期限", ladder="rectification", policy_version=1,
                start_at=now, amount=7, unit="calendar_day", extensions=[], pauses=[], provisional=False,
                calendar_version="t", created_at=now, affects_light=True, status="open")
    with db.transaction() as s:
        s.execute(delete(Deadline).where(Deadline.case_id == case_id))
        later = Deadline(**base, due_at=now + timedelta(days=5), warn_at=now + timedelta(days=3))
        earliest = Deadline(**base, due_at=now + timedelta(days=2), warn_at=now + timedelta(days=1))
        s.add_all([later, earliest])
        s.flush()
        later_id, earliest_id = later.id, earliest.id
    first = db.engine.connect()
    tx = first.begin()
    first.execute(update(Deadline).where(Deadline.id == later_id).values(status="met"))  # summary unchanged
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with db.transaction() as s:
                s.execute(update(Deadline).where(Deadline.id == earliest_id).values(status="met"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=second)
    worker.start()
    time.sleep(1.0)  # let the second transaction reach the case row (it waits there; not a timed assertion)
    tx.commit()
    first.close()
    worker.join(60)
    assert not worker.is_alive() and errors == []
    with db.session() as s:
        assert s.execute(lights.summary_mismatches()).all() == []
        assert tuple(s.execute(select(Case.clock_due_at, Case.clock_warn_at, Case.clock_live)
                               .where(Case.id == case_id)).one()) == (None, None, False)
