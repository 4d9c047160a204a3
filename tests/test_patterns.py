"""屡查屡犯 flags (cases/patterns/): exactly once per (enterprise, pattern, window, triggering event)
when the pass runs again from scratch or several run at once; the fresh-events semantics of
docs/patterns.md."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, func, select

from cases.models import OutboxMessage
from cases.models.patterns import PatternScanState, RepeatOffenderFlag, RepeatOffenderFlagEvent
from cases.patterns import detect
from tests.pages.test_cockpit import _major


def _counts(db):
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(RepeatOffenderFlag)),
                s.scalar(select(func.count()).select_from(RepeatOffenderFlagEvent)),
                s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.template == "repeat_offender_flag")))


def _three(api, world, clock):
    officer = api(world.officer)
    cases = []
    for title in ("连墙件整层缺失", "深基坑未按方案开挖", "高支模未验收即浇筑"):
        cases.append(_major(officer, world, title=title))
        clock.advance(timedelta(days=10))
    return cases


def test_a_rerun_from_scratch_and_concurrent_runs_record_and_send_once(db, api, world, clock):
    cases = _three(api, world, clock)
    assert detect.sweep(db, clock.now())["pattern_flags"] == 1
    once = _counts(db)
    assert once[0] == 1 and once[1] == 1 and once[2] >= 1
    # the watermark forgotten: the next run looks at every event again and meets the unique key
    with db.transaction() as s:
        s.execute(delete(PatternScanState))
    assert detect.sweep(db, clock.now()) == {"pattern_flags": 0, "pattern_messages": 0}
    assert _counts(db) == once
    # several runs at once, from scratch: still one flag, one trail row, the same messages
    with db.transaction() as s:
        s.execute(delete(PatternScanState))
    results = []
    threads = [threading.Thread(target=lambda: results.append(detect.sweep(db, clock.now()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _counts(db) == once
    assert sum(r.get("pattern_flags", 0) for r in results) == 0
    with db.session() as s:
        flag = s.scalars(select(RepeatOffenderFlag)).one()
        assert [e["case_id"] for e in flag.events] == [c["id"] for c in cases]
        assert (flag.window_days, flag.threshold, flag.policy_version, flag.trigger_key.startswith("event:")) == (180, 3, 1, True)


def test_each_event_counts_once_per_window(db, api, world, clock):
    """Six in 60 days: the 3rd and the 6th raise 180-day flags, the 4th the 365-day one; the 5th none."""
    officer = api(world.officer)
    made = []
    for i in range(6):
        made.append(_major(officer, world, title=f"重大隐患{i + 1}"))
        clock.advance(timedelta(days=10))
        detect.sweep(db, clock.now())
    with db.session() as s:
        flags = list(s.scalars(select(RepeatOffenderFlag).order_by(RepeatOffenderFlag.id)))
        got = [(f.window_days, f.trigger_case_id, [e["case_id"] for e in f.events]) for f in flags
               if f.pattern == "major_hazards"]
    ids = [c["id"] for c in made]
    assert got == [(180, ids[2], ids[:3]), (365, ids[3], ids[:4]), (180, ids[5], ids[3:6])]


def test_the_lane_check_sees_new_events_and_nothing_once_scanned(db, api, world, clock):
    assert detect.due_check(db, clock.now()) is False  # nothing ever happened: an idle lane stays idle
    _major(api(world.officer), world, title="连墙件整层缺失")
    assert detect.due_check(db, clock.now()) is True
    detect.sweep(db, clock.now())
    assert detect.due_check(db, clock.now()) is False
    clock.advance(timedelta(days=31))  # its 整改期限 (30 days) ran over: an event of the second pattern
    assert detect.due_check(db, clock.now()) is True
