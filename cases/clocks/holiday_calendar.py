"""The Chinese statutory calendar in Asia/Shanghai: which dates are working days (weekends, State
Council holidays and 调休 make-up days), per year, from the loaded notices or the package's data.

Pure, no I/O: the database side (loaded State Council notices) lives in
``cases.calendar.calendar_store``; the deadline arithmetic on top of it in ``cases.clocks.legal_time``.
The rules are documented in ``docs/legal-time.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Protocol

import chinese_calendar


UNITS: tuple[str, ...] = ("hour", "calendar_day", "working_day")
PACKAGE_VERSION = f"chinesecalendar-{chinese_calendar.__version__}"

_DAY = timedelta(days=1)
_WEEKDAY_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_UNIT_ZH = {"hour": "小时", "calendar_day": "自然日", "working_day": "工作日"}
# Chinese display names of the package's (English) holiday labels.
_HOLIDAY_ZH = {h.value: h.chinese for h in chinese_calendar.Holiday}


def _probe_package_years() -> frozenset[int]:
    """Years the installed package has data for.

    Probed rather than read from package internals: ``is_workday`` raises
    ``NotImplementedError`` outside its range (1.11.0: 2004–2026 inclusive), and a
    newer release may widen that range.
    """
    years = set()
    for year in range(1900, 2201):
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            continue
        years.add(year)
    return frozenset(years)


PACKAGE_YEARS: frozenset[int] = _probe_package_years()


# ---------------------------------------------------------------------------
# Calendar data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HolidayRange:
    """A named holiday period from a notice (display only; its dates are in ``days_off``)."""

    name: str
    start: date
    end: date


@dataclass(frozen=True)
class LoadedYear:
    """One year's holiday arrangement as published by the State Council (国务院办公厅通知)."""

    year: int
    days_off: frozenset[date]
    workdays: frozenset[date]
    notice: str
    digest: str
    holidays: tuple[HolidayRange, ...] = ()
    source: str | None = None

    def names(self) -> dict[date, str]:
        out: dict[date, str] = {}
        for h in self.holidays:
            d = h.start
            while d <= h.end:
                out.setdefault(d, h.name)
                d += _DAY
        return out

    def to_data(self) -> dict[str, Any]:
        """The normalised notice (JSON-safe); ``parse_year_notice`` round-trips it."""
        data: dict[str, Any] = {
            "year": self.year,
            "notice": self.notice,
            "days_off": sorted(d.isoformat() for d in self.days_off),
            "workdays": sorted(d.isoformat() for d in self.workdays),
            "holidays": [
                {"name": h.name, "start": h.start.isoformat(), "end": h.end.isoformat()}
                for h in self.holidays
            ],
        }
        if self.source:
            data["source"] = self.source
        return data


@dataclass(frozen=True)
class DayInfo:
    working: bool
    provisional: bool  # True when the year is unknown and only weekends were applied
    name: str | None  # holiday name (for a make-up working day: the holiday it belongs to)
    kind: str  # "workday" | "weekend" | "holiday" | "makeup_workday"


class WorkingDayOracle(Protocol):
    def is_working_day(self, d: date) -> bool: ...


def _check_date(d: object) -> date:
    # A datetime is a date subclass; its .date() is not necessarily the Shanghai date,
    # so refuse it instead of silently using the wrong day.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}")
    return d


class HolidayCalendar:
    """Working-day oracle: loaded notices, else the ``chinese_calendar`` package, else weekends.

    Immutable after construction (plain dict/frozenset reads), hence safe to share
    between threads and cheap to query.
    """

    __slots__ = ("_loaded", "_names", "generation")

    def __init__(self, loaded_years: Mapping[int, LoadedYear] | None = None, *, generation: int = 0) -> None:
        loaded = dict(loaded_years or {})
        for year, ly in loaded.items():
            if ly.year != year:
                raise ValueError(f"loaded_years key {year} does not match LoadedYear.year {ly.year}")
        names: dict[date, str] = {}
        for ly in loaded.values():
            names.update(ly.names())
        object.__setattr__(self, "_loaded", MappingProxyType(loaded))
        object.__setattr__(self, "_names", MappingProxyType(names))
        # The calendar generation (cases.calendar.calendar_store) this was built from; stamped on deadlines.
        object.__setattr__(self, "generation", generation)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("HolidayCalendar is immutable")

    def __repr__(self) -> str:
        return f"HolidayCalendar(loaded={sorted(self._loaded)})"

    @property
    def loaded_years(self) -> Mapping[int, LoadedYear]:
        return self._loaded

    def is_known_year(self, year: int) -> bool:
        return year in self._loaded or year in PACKAGE_YEARS

    def is_working_day(self, d: date) -> bool:
        return self.day_info(d).working

    def is_day_off(self, d: date) -> bool:
        return not self.day_info(d).working

    def day_info(self, d: date) -> DayInfo:
        d = _check_date(d)
        weekend = d.weekday() >= 5
        loaded = self._loaded.get(d.year)
        if loaded is not None:  # loaded data wins over the package, so an admin can correct it
            if d in loaded.workdays:
                return DayInfo(True, False, self._names.get(d), "makeup_workday")
            if d in loaded.days_off:
                return DayInfo(False, False, self._names.get(d), "holiday")
        elif d.year in PACKAGE_YEARS:
            # Same logic as chinese_calendar.get_holiday_detail, read from its public
            # tables: the function re-validates the year range on every call (slow).
            label = chinese_calendar.workdays.get(d)
            if label is not None:
                kind = "makeup_workday" if weekend else "workday"
                return DayInfo(True, False, _HOLIDAY_ZH.get(label, label), kind)
            label = chinese_calendar.holidays.get(d)
            if label is not None:
                return DayInfo(False, False, _HOLIDAY_ZH.get(label, label), "holiday")
        else:
            return DayInfo(not weekend, True, None, "weekend" if weekend else "workday")
        return DayInfo(not weekend, False, None, "weekend" if weekend else "workday")

    def calendar_version(self, years: Iterable[int]) -> str:
        """Identify the data used for ``years`` (deterministic, order-independent).

        Package years are covered by the package version; loaded years add their
        digest prefix; unknown years add ``:weekends`` (provisional rule).
        """
        parts = [PACKAGE_VERSION]
        for year in sorted(set(years)):
            loaded = self._loaded.get(year)
            if loaded is not None:
                parts.append(f"+{year}:{loaded.digest[:12]}")
            elif year not in PACKAGE_YEARS:
                parts.append(f"+{year}:weekends")
        return "".join(parts)


