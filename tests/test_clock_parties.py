"""Whose clock it is (``Deadline.party``) decides who hears of it — the same on both firing paths.

Two identical cases: one's timers fired one by one (``fire_timer``, the per-timer path), the other's
in a batch (``fire_due_batch`` → ``_fire_bulk``). Every rung must reach the same people.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.clocks import supervision
from cases.clocks.sweep import fire_due_batch, fire_timer
from cases.models import Case, Deadline, OutboxMessage, Timer, User
from tests.machine_paths import ServiceDriver


def _recipients(db, case_id: int) -> dict[tuple[str, str], set[str]]:
    """(deadline key, rung) → usernames told (inbox rows)."""
    with db.session() as s:
        names = dict(s.execute(select(User.id, User.username)).all())
        keys = dict(s.execute(select(Deadline.id, Deadline.key)).all())
        out: dict[tuple[str, str], set[str]] = {}
        for m in s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id,
                                                        OutboxMessage.dedupe_key.like("rung:%"))):
            _, deadline_id, rung = m.dedupe_key.split(":")[:3]
            out.setdefault((keys[int(deadline_id)], rung), set()).add(names[m.recipient_user_id])
        return out


def _fire_one_by_one(db, case_id: int, now) -> None:
    with db.transaction() as s:
        for t in s.scalars(select(Timer).where(Timer.case_id == case_id, Timer.status == "pending",
                                               Timer.fire_at <= now).order_by(Timer.fire_at, Timer.id)):
            assert fire_timer(s, t, now, "test") == "fired"


def _two_cases(db, world, clock, setup) -> tuple[int, int]:
    drv = ServiceDriver(db, world, clock)
    ids = []
    for _ in range(2):
        case_id = drv.drive("hazard", "rectifying")
        setup(drv, case_id)
        ids.append(case_id)
    return ids[0], ids[1]


def _compare(db, clock, slow: int, fast: int, days: int = 30) -> dict:
    # Swept day by day at 09:00 (the reminders' hour), as the served sweep would: each rung fires
    # while it is true (a reminder found late is skipped, docs/legal-time.md "Late rungs").
    for day in range(1, days + 1):
        now = clock.now() + timedelta(days=day)
        _fire_one_by_one(db, slow, now)
        counts = fire_due_batch(db, now, limit=500, worker="test")
        assert counts["failed"] == 0 and counts["stale"] == 0
    a, b = _recipients(db, slow), _recipients(db, fast)
    assert a == b
    return a


def test_officer_clock_reaches_the_officer_and_their_chain_on_both_paths(db, world, clock):
    def report(drv, case_id):
        drv.act(case_id, "report_completion", world.contact, payload={"completion_report": "已整改"})

    slow, fast = _two_cases(db, world, clock, report)
    told = _compare(db, clock, slow, fast)
    assert told == {("reinspection", "remind_before"): {"officer"}, ("reinspection", "remind_due_day"): {"officer"},
                    ("reinspection", "overdue"): {"officer", "supervisor"},
                    ("reinspection", "supervise"): {"supervisor"}}


def test_approver_clock_reaches_the_approver_and_their_chain_on_both_paths(db, world, clock):
    def ask(drv, case_id):
        drv.act(case_id, "request_extension", world.contact, payload={"extension_days": 5, "reason": "材料未到"})

    slow, fast = _two_cases(db, world, clock, ask)
    told = _compare(db, clock, slow, fast)
    assert "contact" not in set().union(*told.values())
    assert told == {("extension_decision", "remind_before"): {"supervisor"},
                    ("extension_decision", "remind_due_day"): {"supervisor"},
                    ("extension_decision", "overdue"): {"supervisor", "province"},
                    ("extension_decision", "supervise"): {"province"}}


def test_listing_body_decision_clock_on_both_paths(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    ids = []
    for _ in range(2):
        case_id = drv.create("major_hazard")
        drv.act(case_id, "register")
        with db.transaction() as s:
            sup = supervision.active_supervision(s, case_id)
            supervision.request_extension(s, world.officer, sup.id, 5, "专家论证", clock.now())
        ids.append(case_id)
    told = _compare(db, clock, ids[0], ids[1], days=10)
    decision = {k: v for k, v in told.items() if k[0] == "extension_decision"}
    # 苏州市 lists 姑苏区's case: the city's supervisors decide; above them, the province.
    assert decision == {("extension_decision", "remind_before"): {"supervisor"},
                        ("extension_decision", "remind_due_day"): {"supervisor"},
                        ("extension_decision", "overdue"): {"supervisor", "province"},
                        ("extension_decision", "supervise"): {"province"}}


def test_enterprise_clock_still_reaches_the_unit(db, world, clock):
    slow, fast = _two_cases(db, world, clock, lambda drv, case_id: None)
    told = _compare(db, clock, slow, fast, days=10)
    assert told[("rectification", "remind_due_day")] == {"officer", "contact"}
    assert told[("rectification", "overdue")] == {"officer", "supervisor", "contact"}  # the contact: its 警示函
    with db.session() as s:
        assert s.get(Case, fast).state == "rectifying"
