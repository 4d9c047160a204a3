"""The countdown a person reads next to a due date: 还剩N个工作日 / 今日到期 / 已逾期N天 / 已暂停.

Pure functions over the legal calendar (``cases.clocks.legal_time``): "today" is the Beijing date of
``now``; a day-based clock is due at 24:00 of its due date, so on the due date itself it is still
running (今日到期) and from the next day on it is overdue. The working days left are counted as the
deadlines are (the start day excluded): the working days after today up to and including the due
date — a 7-working-day period registered today shows 还剩7个工作日.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cases.clocks.legal_time import WorkingDayOracle, shanghai_date

_DAY = timedelta(days=1)


def working_days_between(start: date, end: date, calendar: WorkingDayOracle) -> int:
    """Working days ``d`` with ``start < d <= end`` (0 when ``end <= start``)."""
    n, d = 0, start
    while d < end:
        d += _DAY
        if calendar.is_working_day(d):
            n += 1
    return n


@dataclass(frozen=True)
class Countdown:
    state: str  # running / due_today / overdue / paused
    days: int  # running: working days left; overdue: calendar days past the due date
    text: str  # 还剩3个工作日 / 今日到期 / 已逾期2天 / 已暂停


def countdown(due_at: datetime | None, due_date: date | None, now: datetime, calendar: WorkingDayOracle) -> Countdown:
    """The countdown of one clock at ``now`` (``due_at`` None: paused, e.g. while an extension waits)."""
    if due_at is None:
        return Countdown("paused", 0, "已暂停")
    today = shanghai_date(now)
    due_day = due_date or shanghai_date(due_at)
    if due_at <= now:
        late = (today - due_day).days
        return Countdown("overdue", max(late, 0), f"已逾期{late}天" if late > 0 else "已逾期（今日届满）")
    if due_day <= today:
        return Countdown("due_today", 0, "今日到期")
    left = working_days_between(today, due_day, calendar)
    if left == 0:  # an hour-based clock due on a day off: say the calendar days
        days = (due_day - today).days
        return Countdown("running", 0, f"还剩{days}天")
    return Countdown("running", left, f"还剩{left}个工作日")
