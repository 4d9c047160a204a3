"""A hazard found on Friday 25 September 2026, the last day before 国庆, with seven days to fix it.

What the 2026 notice says (read from the ``chinesecalendar`` package, not guessed): 25–27 Sept
are 中秋 (the Friday itself is a day off — the officer found the hazard on a holiday inspection),
1–7 Oct are 国庆, and Sunday 20 Sept and Saturday 10 Oct are make-up working days (调休上班).

A period of ten days or less is counted in working days (行政强制法 Art. 69; domain.md §7):
28, 29, 30 Sept, then 8, 9 Oct, Saturday 10 Oct (make-up day) and Monday 12 Oct — due
2026年10月12日, not 2 Oct (a holiday) rolled to 8 Oct as seven calendar days would give.
The 整改通知书 prints that date, the reminders arrive at 09:00 on working days (8 Oct, three
working days before, and 12 Oct), and nothing reaches the enterprise during the holidays.
"""
from datetime import date, timedelta

import chinese_calendar

from tests.scenarios.conftest import SHANGHAI, beijing, cn


def _check_the_2026_notice() -> None:
    """The story's dates, as the package has them (if a package release changes them, so must the story)."""
    assert chinese_calendar.get_holiday_detail(date(2026, 9, 25)) == (True, "Mid-autumn Festival")
    assert all(not chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert chinese_calendar.is_workday(date(2026, 9, 20)) and chinese_calendar.is_workday(date(2026, 10, 10))


def test_seven_days_from_the_friday_before_national_day_run_in_working_days(story):
    _check_the_2026_notice()
    officer, contact = story.world.officer, story.world.contact
    story.clock.set(beijing(2026, 9, 25, 9, 0))

    # The officer finds the hazard on the holiday inspection and registers it with seven days.
    case = story.drv.create("hazard", title="2号楼卸料平台限载标志缺失", description="卸料平台未设限载标志",
                            location="2号楼12层卸料平台")
    case = story.act(case, "register", fields={"enterprise_id": story.world.e1.id, "severity": "general",
                                               "rectification_days": 7, "requirements": "设置限载标志并验收"})
    [d] = case["deadlines"]
    assert (d["amount"], d["unit"], d["due_date"]) == (7, "working_day", "2026-10-12")

    # The deadline preview an officer can consult agrees with the case.
    preview = story.client(officer).get("/api/calendar/deadline", params={
        "start": "2026-09-25T09:00:00+08:00", "amount": 7, "rule": "hazard.rectification"}).json()
    assert (preview["unit"], preview["due_date"]) == ("working_day", "2026-10-12")

    # The notice is rendered and tells the enterprise the working-day date, in Chinese.
    story.advance(hours=3)
    [notice] = story.document_rows(case, "rectification_notice")
    text = story.text_of(notice)
    assert f"请于{cn(date(2026, 10, 12))}" in text and "2026年10月8日" not in text
    assert "2026-10-12" not in text

    # Through 国庆: the sweep runs every three hours from 12:00 (so 09:00 is always one of the steps).
    story.advance(to=beijing(2026, 10, 12, 12, 0), step=timedelta(hours=3))

    reminders = story.messages(case, "reminder")
    sent_at = sorted({m.created_at.astimezone(SHANGHAI) for m in reminders})
    assert [t.date() for t in sent_at] == [date(2026, 10, 8), date(2026, 10, 12)]
    assert all(t.hour == 9 and t.minute == 0 for t in sent_at)
    assert all(chinese_calendar.is_workday(t.date()) for t in sent_at)
    assert "contact" in story.notified(case, "reminder")

    # Nothing was sent or fired during the holidays (9-26..9-27, 10-1..10-7), nor on the weekend 10-11.
    fired = [e for e in story.events(case) if e["action"] in ("rung_fired", "rung_skipped")]
    assert [e["payload"]["rung"] for e in fired] == ["remind_before", "remind_due_day"]
    days_off = {date(2026, 9, 26), date(2026, 9, 27), date(2026, 10, 11)} | {date(2026, 10, n) for n in range(1, 8)}
    sent = {m.created_at.astimezone(SHANGHAI).date() for m in story.messages(case)}
    assert not sent & days_off, sorted(sent & days_off)

    # On the due day the enterprise reads the real date in its reminder, and the light is yellow.
    detail = story.get(case, contact)
    assert detail["light"] == "yellow"
    due_day = [m for m in reminders if m.created_at.astimezone(SHANGHAI).date() == date(2026, 10, 12)]
    assert due_day and all(m.variables["due_date"] == "2026-10-12" and m.variables["days_left"] == 0 for m in due_day)
