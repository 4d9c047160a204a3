"""The service is down for ten days; when it comes back, nobody is told "今日到期" about a day long past.

Two hazards are registered on Monday 23 November 2026: one with four days (due Friday 27 November),
one with ten (due Monday 7 December; ≤10 days run in working days). The sweep runs normally until
Friday 27 November 08:00, then the service is down until Monday 7 December 08:00 — no sweep at all —
and comes back with one catch-up sweep.

The rule (docs/legal-time.md "Late rungs"): a reminder whose moment passed is sent only while it is
still true; the measures after the due instant (逾期预警/警示函, 挂牌督办, 约谈 …) are acts the
policy requires in order, so each that came due fires once, late, in ladder order, and states the
real dates.
"""
from datetime import date, timedelta

from tests.scenarios.conftest import SHANGHAI, beijing


def _register(story, title: str, days: int) -> dict:
    case = story.drv.create("hazard", title=title, description=title, location="1号楼")
    return story.act(case, "register", fields={"enterprise_id": story.world.e1.id, "severity": "general",
                                               "rectification_days": days, "requirements": "按要求整改"})


def _rungs(story, case, action: str) -> list[str]:
    return [e["payload"]["rung"] for e in story.events(case) if e["action"] == action]


def _local_day(m) -> date:
    return m.created_at.astimezone(SHANGHAI).date()


def test_after_ten_days_down_only_what_is_still_true_is_sent_once(story):
    overdue_case = _register(story, "外脚手架连墙件缺失", 4)
    due_today = _register(story, "塔吊限位失灵", 10)
    assert story.get(overdue_case)["deadlines"][0]["due_date"] == "2026-11-27"
    assert story.get(due_today)["deadlines"][0]["due_date"] == "2026-12-07"

    # Running normally: the first case's reminder three working days ahead (Tue 24 Nov) goes out.
    story.advance(to=beijing(2026, 11, 27, 8, 0))
    assert _rungs(story, overdue_case, "rung_fired") == ["remind_before"]

    # Down for ten days: the clock jumps, no sweep runs. Back on Monday 7 December 08:00: one sweep.
    story.clock.set(beijing(2026, 12, 7, 8, 0))
    story.sweep()

    # The four-day case expired on 27 November. Its "今日到期" reminder is not sent on 7 December;
    # the case records why.
    reminders = story.messages(overdue_case, "reminder")
    assert {_local_day(m) for m in reminders} == {date(2026, 11, 24)}
    [skip] = [e for e in story.events(overdue_case) if e["action"] == "rung_skipped"]
    assert skip["payload"]["rung"] == "remind_due_day" and "2026年11月27日" in skip["payload"]["reason"]
    # What is true now is sent, each measure once and in order: the overdue warning with its 警示函,
    # then — five working days past due (4 December) — the listing.
    assert _rungs(story, overdue_case, "rung_fired") == ["remind_before", "overdue", "listing"]
    assert story.get(overdue_case)["supervision"]["status"] == "listed"
    warning = story.messages(overdue_case, "overdue_warning")[0]
    assert warning.variables["due_date"] == "2026-11-27" and warning.variables["overdue_days"] == 10
    [letter] = story.document_rows(overdue_case, "warning_letter")
    assert letter.issued_at.astimezone(SHANGHAI).date() == date(2026, 12, 7)
    text = story.text_of(letter)
    assert "2026年11月27日" in text  # the real due date, not a made-up one
    assert "contact" in story.notified(overdue_case, "warning_letter")

    # The ten-day case is due today. Its reminder of 2 December ("还有3天") is no longer true and is
    # not sent late; today's reminder comes at 09:00 as usual, once.
    assert _rungs(story, due_today, "rung_skipped") == ["remind_before"]
    assert story.messages(due_today, "reminder") == []
    story.advance(to=beijing(2026, 12, 7, 10, 0))
    reminders = story.messages(due_today, "reminder")
    assert reminders and {m.created_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") for m in reminders} == {"12-07 09:00"}
    assert all(m.variables["days_left"] == 0 and m.variables["due_date"] == "2026-12-07" for m in reminders)
    assert _rungs(story, due_today, "rung_fired") == ["remind_due_day"]

    # Nothing fires twice: more sweeps at the same hour add nothing.
    before = len(story.messages(overdue_case)) + len(story.messages(due_today))
    story.sweep()
    story.advance(hours=1, step=timedelta(minutes=30))
    assert len(story.messages(overdue_case)) + len(story.messages(due_today)) == before
    assert _rungs(story, overdue_case, "rung_fired") == ["remind_before", "overdue", "listing"]
