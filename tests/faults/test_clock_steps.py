"""The clock stepped forward and back (a bad NTP source, an operator fixing the time by hand).

Told through the scenario stage (tests/scenarios/conftest.py ``story``: the real API, the sweep
as the served flows run it, the one injectable clock of cases/platform/clock.py). The promise: a rung fires
only once its moment has come by the clock the service runs on — never early — and a rung that
fired never fires again, however often the clock passes its moment; messages and documents follow
their rung (one set per firing).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from cases.models import CaseEvent, Document, OutboxMessage, RungFiring, Timer
from tests.scenarios.conftest import beijing, story  # noqa: F401  (the fixture)


def _register(story, title: str, days: int) -> dict:
    case = story.drv.create("hazard", title=title, description=title, location="1号楼")
    return story.act(case, "register", fields={"enterprise_id": story.world.e1.id, "severity": "general",
                                               "rectification_days": days, "requirements": "按要求整改"})


def _rungs(story, case) -> list[str]:
    return [e["payload"]["rung"] for e in story.events(case) if e["action"] == "rung_fired"]


def _sweep_checked(story) -> None:
    """One sweep; then nothing fired ahead of the clock, nothing twice, and one set of messages
    and documents per firing."""
    now = story.clock.now()
    story.sweep()
    db = story.db
    with db.session() as s:
        early = s.scalars(select(RungFiring).where(RungFiring.scheduled_at > RungFiring.fired_at)).all()
        assert early == [], [(f.rung, f.scheduled_at, f.fired_at) for f in early]
        ahead = s.scalars(select(RungFiring).where(RungFiring.scheduled_at > now, RungFiring.fired_at == now)).all()
        assert ahead == []
        dup = s.execute(select(RungFiring.deadline_id, RungFiring.rung, func.count())
                        .group_by(RungFiring.deadline_id, RungFiring.rung).having(func.count() > 1)).all()
        assert dup == []
        firings = s.scalar(select(func.count()).select_from(RungFiring))
        assert firings == s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
        assert firings == s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "rung_fired"))
        keys = list(s.scalars(select(OutboxMessage.dedupe_key)))
        assert len(keys) == len(set(keys))
        causes = {":".join(k.split(":")[:3]) for k in keys if k.startswith("rung:")}
        assert causes <= {f"rung:{d}:{r}" for d, r in s.execute(select(RungFiring.deadline_id, RungFiring.rung))}
        docs = s.execute(select(Document.case_id, Document.cause, Document.doc_type)).all()
        assert len(docs) == len(set(docs))


STEP = timedelta(hours=6)  # how often the sweep runs here (served: every 10 s; the promise is the same)


def _sweep_every(story, until, step: timedelta = STEP) -> None:
    while story.clock.now() < until:
        story.clock.set(min(story.clock.now() + step, until))
        _sweep_checked(story)


def _state(story) -> tuple[int, int, int]:
    with story.db.session() as s:
        return (s.scalar(select(func.count()).select_from(RungFiring)),
                s.scalar(select(func.count()).select_from(OutboxMessage)),
                s.scalar(select(func.count()).select_from(Document)))


def test_clock_stepped_forward_and_back_no_rung_early_or_twice(story):
    # Monday 23 November 2026 09:00: four days (due Friday 27th) and ten working days (due 7 December).
    soon = _register(story, "外脚手架连墙件缺失", 4)
    later = _register(story, "塔吊限位失灵", 10)
    _sweep_every(story, beijing(2026, 11, 25, 10))
    assert _rungs(story, soon) == ["remind_before"] and _rungs(story, later) == []

    # The clock jumps five days ahead (Monday 30th 10:00): what is due by that clock fires, once.
    story.clock.set(beijing(2026, 11, 30, 10))
    _sweep_checked(story)
    assert _rungs(story, soon) == ["remind_before", "overdue"]
    assert _rungs(story, later) == []  # its reminder (2 December) is still ahead, even by the fast clock
    # Created while the clock is ahead: four days from Monday 30th is due Friday 4 December.
    ahead = _register(story, "临边防护缺失", 4)
    assert story.get(ahead)["deadlines"][0]["due_date"] == "2026-12-04"
    fired = _state(story)

    # Corrected back to Wednesday 25th 11:00: a day of sweeps re-fires nothing and fires nothing of
    # what was scheduled by the fast clock (the new case's reminder of 1 December waits).
    story.clock.set(beijing(2026, 11, 25, 11))
    _sweep_checked(story)
    _sweep_every(story, beijing(2026, 11, 26, 11), timedelta(hours=3))
    assert _state(story) == fired
    assert _rungs(story, ahead) == []
    # Officers work meanwhile (the event log's times go back; the case stays whole).
    story.act(later, "start_rectification", story.world.contact)

    # Back and forth once more around the moment the first case fell due, then on to 10 December:
    # each rung fires at its moment, in ladder order, once.
    story.clock.set(beijing(2026, 11, 27, 10))
    _sweep_checked(story)
    story.clock.set(beijing(2026, 11, 26, 12))
    _sweep_checked(story)
    _sweep_every(story, beijing(2026, 12, 10, 10))
    assert _rungs(story, soon) == ["remind_before", "overdue", "listing"]
    assert _rungs(story, ahead)[:2] == ["remind_before", "remind_due_day"]
    assert _rungs(story, later)[:2] == ["remind_before", "remind_due_day"]
    with story.db.session() as s:
        # the new case's reminders came at their own moments (1 and 4 December, 09:00) — at the
        # first sweep after them, not before
        rows = s.execute(select(RungFiring.rung, RungFiring.scheduled_at, RungFiring.fired_at)
                         .where(RungFiring.case_id == ahead["id"]).order_by(RungFiring.id)).all()
    assert [(r.rung, r.scheduled_at) for r in rows[:2]] == [("remind_before", beijing(2026, 12, 1, 9)),
                                                            ("remind_due_day", beijing(2026, 12, 4, 9))]
    assert all(timedelta(0) <= r.fired_at - r.scheduled_at < STEP for r in rows)
