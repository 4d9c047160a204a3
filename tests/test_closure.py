"""Closing (dismissing, concluding safe: any final state) ends every clock of the case and
cancels its pending rungs; follow-ups (回头看, 整改评估, 复鉴定) keep running. Both firing paths
ignore a rung of a closed case, and a closed case is never red in any list."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update


from cases.clocks import sweep
from cases.models import Case, CaseEvent, Deadline, Document, RungFiring, Timer
from tests.machine_paths import HttpDriver, ServiceDriver


def _pending(db, case_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        return sorted(s.execute(select(Deadline.key, Timer.rung).join(Deadline, Deadline.id == Timer.deadline_id)
                                .where(Timer.case_id == case_id, Timer.status == "pending")).all())


def _open(db, case_id: int) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Deadline.key).where(Deadline.case_id == case_id, Deadline.status == "open")))


def test_closing_an_accident_keeps_only_the_evaluation(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    case_id = drv.drive("accident", "verified")
    assert "evaluation" in _open(db, case_id) and "casualty_window" in _open(db, case_id)
    drv.act(case_id, "close")
    # the 30-day casualty window and the unreported 48-hour clock end; the one-year evaluation stays
    assert _open(db, case_id) == ["evaluation"]
    assert {k for k, _ in _pending(db, case_id)} == {"evaluation"}


def test_concluded_safe_keeps_its_reappraisal(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    case_id = drv.create("dangerous_building")
    valid = (clock.today() + timedelta(days=300)).isoformat()
    from tests.machine_paths import action_payload

    drv.act(case_id, "conclude_safe", payload=action_payload("dangerous_building", "conclude_safe", world, clock,
                                                             valid_until=valid))
    assert _open(db, case_id) == ["reappraisal"]


@pytest.mark.parametrize("path", ["bulk", "one_by_one"])
def test_a_closed_case_gets_no_rung_even_if_a_timer_slipped_through(db, world, clock, api, path):
    """Second line of defence: a case closed while its clocks still ran (data from before the
    fix, say) — neither firing path issues a letter, an event or a 提级 for it."""
    drv = HttpDriver(api, world, clock)
    case = drv.drive("major_hazard", "registered")  # listed at once: supervision ladder up to 提级
    with db.transaction() as s:
        s.execute(update(Case).where(Case.id == case["id"]).values(state="closed", closed_at=clock.now()))
    assert _pending(db, case["id"])  # the rungs are still there, as in the reported data
    with db.session() as s:
        docs_before = s.scalar(select(func.count()).select_from(Document).where(Document.case_id == case["id"]))
        events_before = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case["id"]))
    clock.advance(timedelta(days=90))
    if path == "bulk":
        counts = sweep.fire_all_due(db, clock.now())
    else:
        counts = {"fired": 0, "stale": 0}
        with db.transaction() as s:
            for t in sweep.due_timers(s, clock.now(), 1000):
                outcome = sweep.fire_timer(s, t, clock.now())
                counts[outcome] = counts.get(outcome, 0) + 1
    assert counts["fired"] == 0 and counts["stale"] > 0
    assert _pending(db, case["id"]) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RungFiring).where(RungFiring.case_id == case["id"])) == 0
        assert s.scalar(select(func.count()).select_from(Document).where(Document.case_id == case["id"])) == docs_before
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case["id"])) == events_before
        assert s.get(Case, case["id"]).jurisdiction_code == "320508"
    # never red: the case, ?light=red, /overdue and the counts agree
    sup = api(world.supervisor)
    assert sup.get(f"/api/cases/{case['id']}").json()["light"] != "red"
    assert case["id"] not in {c["id"] for c in sup.get("/api/cases", params={"light": "red"}).json()["items"]}
    assert case["id"] not in {c["id"] for c in sup.get("/api/overdue").json()["items"]}
    assert sup.get("/api/stats/lights").json()["totals"]["red"] == 0


def test_the_48_hour_report_never_filed_ends_as_missed_at_the_approval(api, world, clock):
    """A verified accident is not red for a report that can no longer be filed: the clock ends
    as missed (kept in its history with the overdue rung that fired), a met one is never red."""
    drv = HttpDriver(api, world, clock)
    case = drv.drive("accident", "rectifying")
    clock.advance(timedelta(days=3))  # the 48 hours have run out, nothing filed
    assert drv.get(case)["light"] == "red"
    case = drv.act(drv.get(case), "submit_report")
    case = drv.act(case, "verify")
    assert case["light"] != "red"
    items = api(world.officer).get(f"/api/cases/{case['id']}/deadlines").json()["items"]
    detailed = next(d for d in items if d["key"] == "detailed_report")
    assert detailed["status"] == "missed" and detailed["light"] is None
