"""The countdown a person reads (cases/clocks/countdown.py): working days left on the legal calendar,
today, overdue days, paused — pure functions, no database."""
from __future__ import annotations

from datetime import date, datetime, timezone

from cases.clocks.countdown import countdown, working_days_between
from cases.clocks.legal_time import end_of_day_utc


class Calendar:
    """Weekends off, plus some holidays, plus some make-up Saturdays."""

    def __init__(self, off=(), on=()):
        self.off, self.on = set(off), set(on)

    def is_working_day(self, d: date) -> bool:
        return d in self.on or (d.weekday() < 5 and d not in self.off)


def at(y, m, d, h=1):  # 09:00 Beijing
    return datetime(y, m, d, h, 0, tzinfo=timezone.utc)


def test_working_days_exclude_today_and_count_the_due_date():
    cal = Calendar()
    assert working_days_between(date(2026, 11, 23), date(2026, 12, 2), cal) == 7  # Mon → next Wed
    assert working_days_between(date(2026, 11, 27), date(2026, 11, 30), cal) == 1  # Fri → Mon
    assert working_days_between(date(2026, 11, 30), date(2026, 11, 30), cal) == 0
    assert working_days_between(date(2026, 12, 1), date(2026, 11, 30), cal) == 0
    holidays = Calendar(off={date(2026, 12, 1)}, on={date(2026, 11, 28)})  # a day off and a make-up Saturday
    assert working_days_between(date(2026, 11, 27), date(2026, 12, 2), holidays) == 3  # Sat 28, Mon 30, Wed 2


def test_countdown_texts():
    cal = Calendar()
    due = date(2026, 12, 2)
    assert countdown(end_of_day_utc(due), due, at(2026, 11, 23), cal).text == "还剩7个工作日"
    assert countdown(end_of_day_utc(due), due, at(2026, 12, 2), cal).text == "今日到期"
    late = countdown(end_of_day_utc(due), due, at(2026, 12, 5), cal)
    assert (late.state, late.days, late.text) == ("overdue", 3, "已逾期3天")
    assert countdown(None, None, at(2026, 12, 5), cal).text == "已暂停"
    # An hour-based clock: due at 14:00 today and already past, or on a Sunday (no working day left).
    assert countdown(at(2026, 11, 23, 6), date(2026, 11, 23), at(2026, 11, 23, 7), cal).text == "已逾期（今日届满）"
    assert countdown(at(2026, 11, 29, 6), date(2026, 11, 29), at(2026, 11, 28, 1), cal).text == "还剩1天"
