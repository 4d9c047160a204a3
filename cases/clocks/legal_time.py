"""Legal deadline arithmetic in Asia/Shanghai on the Chinese statutory calendar.

Pure functions, no I/O: the calendar (which days are working days) is ``cases.clocks.holiday_calendar``,
re-exported here; the database side (loaded State Council notices) lives in
``cases.calendar.calendar_store``. The rules are documented in ``docs/legal-time.md``.

Vocabulary:

* instants are timezone-aware ``datetime`` values, normalised to UTC;
* legal dates are Asia/Shanghai dates (``date``);
* a *day off* is a statutory holiday or a weekend day that is not a make-up working
  day (调休上班); a *working day* is every other day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Sequence

from cases.clocks.holiday_calendar import (  # noqa: F401  (re-exported: the calendar's public names)
    _DAY, _WEEKDAY_ZH, PACKAGE_VERSION, PACKAGE_YEARS, UNITS, DayInfo, HolidayCalendar, HolidayRange, LoadedYear,
    _check_date,
    WorkingDayOracle,
)
from cases.platform.clock import SHANGHAI

# ---------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DueResult:
    due_at: datetime | None  # UTC; None while the clock is stopped by an open pause
    due_date: date | None  # day-based: the last day; hour: the Shanghai date of due_at
    provisional: bool  # an unknown year was computed with weekends only
    calendar_version: str
    paused: bool


class _Probe:
    """Per-call view of a calendar that records which years were consulted."""

    def __init__(self, calendar: HolidayCalendar) -> None:
        self.calendar = calendar
        self.years: set[int] = set()

    def is_working_day(self, d: date) -> bool:
        self.years.add(d.year)
        return self.calendar.is_working_day(d)

    @property
    def provisional(self) -> bool:
        return any(not self.calendar.is_known_year(y) for y in self.years)

    def version(self) -> str:
        return self.calendar.calendar_version(self.years)


def end_of_day_utc(d: date) -> datetime:
    """24:00 of Shanghai date ``d`` (= 00:00 of the next day) as a UTC instant."""
    return datetime.combine(d + _DAY, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def shanghai_date(instant: datetime) -> date:
    return _aware_utc(instant, "instant").astimezone(SHANGHAI).date()


def _aware_utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.astimezone(timezone.utc)


def _first_working_from(d: date, calendar: WorkingDayOracle) -> date:
    while not calendar.is_working_day(d):
        d += _DAY
    return d


def add_working_days(d: date, n: int, calendar: WorkingDayOracle) -> date:
    """The n-th working day after ``d`` (``d`` itself is not counted).

    n == 0 gives ``d`` if it is a working day, else the first working day after it;
    n < 0 counts backwards (the |n|-th working day before ``d``).
    """
    d = _check_date(d)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("n must be an int")
    try:
        if n == 0:
            return _first_working_from(d, calendar)
        step = _DAY if n > 0 else -_DAY
        remaining = abs(n)
        while remaining:
            d += step
            if calendar.is_working_day(d):
                remaining -= 1
        return d
    except OverflowError:
        raise ValueError("期限超出可计算的日期范围") from None


def _check_amount(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}必须是整数")
    if value < 0:
        raise ValueError(f"{what}不得为负数")
    return value


def _extension_total(extensions: Sequence[int], unit: str, cap: int | None) -> int:
    total = sum(_check_amount(e, "延期数值") for e in extensions)
    if cap is not None:
        _check_amount(cap, "延期上限")
        if total > cap:
            if unit == "hour":
                raise ValueError(f"延期总时长不得超过 {cap} 小时（合计 {total} 小时）")
            if unit == "working_day":
                raise ValueError(f"延期总天数不得超过 {cap} 个工作日（合计 {total} 个工作日）")
            raise ValueError(f"延期总天数不得超过 {cap} 天（合计 {total} 天）")
    return total


def _merge_pauses(
    pauses: Iterable[Sequence[datetime | None]], start: datetime
) -> list[tuple[datetime, datetime | None]]:
    """Union of the pause intervals, clipped to ``start``, sorted.

    Merging happens only here, for the arithmetic: callers keep their list of pauses
    as recorded, and overlapping records must not stop the clock twice.
    """
    spans: list[tuple[datetime, datetime | None]] = []
    for item in pauses:
        try:
            raw_start, raw_end = item
        except (TypeError, ValueError):
            raise ValueError("每个暂停时段必须是（开始时间, 结束时间或 None）") from None
        ps = _aware_utc(raw_start, "pause start")
        pe = None if raw_end is None else _aware_utc(raw_end, "pause end")
        if pe is not None and pe < ps:
            raise ValueError("暂停时段的结束时间不能早于开始时间")
        if pe is not None and pe <= start:
            continue  # entirely before the clock started
        spans.append((max(ps, start), pe))
    spans.sort(key=lambda s: s[0])
    merged: list[tuple[datetime, datetime | None]] = []
    for ps, pe in spans:
        if merged:
            last_s, last_e = merged[-1]
            if last_e is None:
                break  # an open pause swallows everything after it
            if ps <= last_e:
                merged[-1] = (last_s, None if pe is None else max(last_e, pe))
                continue
        merged.append((ps, pe))
    return [(s, e) for s, e in merged if e is None or e > s]


def _countable_overlap(
    ps: datetime, pe: datetime, start_day: date, unit: str, probe: _Probe
) -> timedelta:
    """Time of [ps, pe) lying on days the period counts: after the start day, and for
    working_day only on working days."""
    total = timedelta(0)
    d = max(ps.astimezone(SHANGHAI).date(), start_day + _DAY)
    last = pe.astimezone(SHANGHAI).date()
    while d <= last:
        day_start = end_of_day_utc(d - _DAY)
        day_end = end_of_day_utc(d)
        lo, hi = max(ps, day_start), min(pe, day_end)
        if hi > lo and (unit == "calendar_day" or probe.is_working_day(d)):
            total += hi - lo
        d += _DAY
    return total


def _whole_days(span: timedelta) -> int:
    q, r = divmod(span, _DAY)
    return q + (1 if r else 0)


def compute_due(
    start: datetime,
    amount: int,
    unit: str,
    calendar: HolidayCalendar,
    *,
    pauses: Iterable[Sequence[datetime | None]] = (),
    extensions: Sequence[int] = (),
    max_total_extension: int | None = None,
) -> DueResult:
    """Due instant of a deadline of ``amount`` (+ ``extensions``) ``unit`` from ``start``.

    See docs/legal-time.md for the rules (start day excluded, 24:00 end, roll-over of
    calendar-day periods, pauses).
    """
    if unit not in UNITS:
        raise ValueError(f"不支持的期限单位 {unit!r}，应为 hour（小时）、calendar_day（自然日）或 working_day（工作日）")
    _check_amount(amount, "期限数值")
    start_utc = _aware_utc(start, "start")
    total = amount + _extension_total(extensions, unit, max_total_extension)
    spans = _merge_pauses(pauses, start_utc)
    probe = _Probe(calendar)

    def result(due_at: datetime | None, due_date: date | None) -> DueResult:
        return DueResult(
            due_at=due_at,
            due_date=due_date,
            provisional=probe.provisional,
            calendar_version=probe.version(),
            paused=due_at is None,
        )

    try:
        if unit == "hour":
            # Clock hours: the running period is consumed up to each pause, then resumes.
            t, remaining = start_utc, timedelta(hours=total)
            for ps, pe in spans:
                if ps >= t + remaining:
                    break  # pause began at/after expiry: it cannot revive the deadline
                remaining -= ps - t
                if pe is None:
                    return result(None, None)
                t = pe
            due_at = t + remaining
            return result(due_at, due_at.astimezone(SHANGHAI).date())

        start_day = start_utc.astimezone(SHANGHAI).date()

        def last_day(units: int) -> date:
            if unit == "working_day":
                return add_working_days(start_day, units, probe)
            # Calendar days: a period ending on a day off runs to the next working day.
            return _first_working_from(start_day + timedelta(days=units), probe)

        due_date = last_day(total)
        due_at = end_of_day_utc(due_date)
        credit = timedelta(0)
        for ps, pe in spans:
            if ps >= due_at:
                break
            if pe is None:
                return result(None, None)
            credit += _countable_overlap(ps, pe, start_day, unit, probe)
            due_date = last_day(total + _whole_days(credit))
            due_at = end_of_day_utc(due_date)
        return result(due_at, due_date)
    except OverflowError:
        raise ValueError("期限超出可计算的日期范围") from None


__all__ = [
    "PACKAGE_VERSION",
    "PACKAGE_YEARS",
    "UNITS",
    "DayInfo",
    "DueResult",
    "HolidayCalendar",
    "HolidayRange",
    "LoadedYear",
    "add_working_days",
    "compute_due",
    "end_of_day_utc",
    "shanghai_date",
]
