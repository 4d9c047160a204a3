"""Deadline arithmetic, the holiday calendar and the calendar store.

Expected 2026 dates were checked against chinesecalendar 1.11.0 (国办发明电〔2025〕7号):
元旦 1-1..1-3 (1-4 Sun works); 春节 2-15..2-23 (2-14 Sat and 2-28 Sat work);
国庆 10-1..10-7 (9-20 Sun and 10-10 Sat work). 2027 uses SYNTHETIC test data.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from cases.calendar.calendar_store import (
    clear_calendar_cache,
    get_calendar,
    load_calendar,
    load_year,
    read_notice_file,
)
from cases.platform.clock import SHANGHAI
from cases.clocks.legal_time import (
    PACKAGE_VERSION,
    HolidayCalendar,
    add_working_days,
    compute_due,
    end_of_day_utc,
)
from cases.calendar.year_notice import parse_year_notice
from cases.models.base import Base
from cases.models.calendar import CalendarState, CalendarYear

DATA = Path(__file__).parent / "data" / "calendar"
UTC = timezone.utc
D = date
# sha256 prefix of the synthetic 2027 example (days off + workdays); pinned so a
# change in the digest recipe, which would orphan stored versions, fails loudly.
EXAMPLE_2027_DIGEST12 = "998f480399d3"

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


PLAIN = HolidayCalendar()
EXAMPLE_2027 = parse_year_notice(read_notice_file(DATA / "2027-example.yaml"))
WITH_2027 = HolidayCalendar({2027: EXAMPLE_2027})


# ---------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------


def test_package_boundaries_are_handled() -> None:
    # The package raises outside 2004..2026; the calendar must not.
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2003, 12, 31))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2027, 1, 1))
    assert PLAIN.is_known_year(2004) and PLAIN.is_known_year(2026)
    assert not PLAIN.is_known_year(2003) and not PLAIN.is_known_year(2027)
    info = PLAIN.day_info(D(2027, 1, 1))  # a Friday
    assert info.working and info.provisional and info.name is None
    assert PLAIN.is_day_off(D(2035, 6, 2))  # Saturday, provisional
    assert PLAIN.is_working_day(D(2003, 10, 1))  # Wednesday; 2003 is unknown → weekends only


def test_calendar_matches_package_for_every_known_day() -> None:
    d = D(2004, 1, 1)
    while d <= D(2026, 12, 31):
        assert PLAIN.is_working_day(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)


def test_day_info_2026() -> None:
    national = PLAIN.day_info(D(2026, 10, 1))
    assert (national.working, national.name, national.kind, national.provisional) == (
        False, "国庆节", "holiday", False)
    makeup = PLAIN.day_info(D(2026, 10, 10))  # Saturday worked for 国庆
    assert makeup.working and makeup.kind == "makeup_workday" and makeup.name == "国庆节"
    assert PLAIN.day_info(D(2026, 9, 20)).kind == "makeup_workday"  # a Sunday
    assert PLAIN.day_info(D(2026, 10, 11)).kind == "weekend"
    assert PLAIN.day_info(D(2026, 10, 8)).kind == "workday"
    with pytest.raises(TypeError):
        PLAIN.day_info(datetime(2026, 10, 1, tzinfo=UTC))  # type: ignore[arg-type]


def test_calendar_is_immutable() -> None:
    with pytest.raises(AttributeError):
        PLAIN._loaded = {}  # type: ignore[misc]


def test_loaded_year_wins_over_package() -> None:
    corrected = parse_year_notice({
        "year": 2026,
        "notice": "更正测试（合成数据）",
        "days_off": [d.isoformat() for d in chinese_calendar.holidays if d.year == 2026] + ["2026-12-31"],
        "workdays": [d.isoformat() for d in chinese_calendar.workdays if d.year == 2026],
    })
    cal = HolidayCalendar({2026: corrected})
    assert PLAIN.is_working_day(D(2026, 12, 31))
    assert cal.is_day_off(D(2026, 12, 31))
    assert cal.is_day_off(D(2026, 10, 1)) and cal.is_working_day(D(2026, 10, 10))
    r = compute_due(sh(2026, 12, 30, 9), 1, "calendar_day", cal)
    # Dec 31 (corrected off) → Jan 1 2027 (Fri, provisional working day).
    assert r.due_date == D(2027, 1, 1)
    assert r.calendar_version == f"{PACKAGE_VERSION}+2026:{corrected.digest[:12]}+2027:weekends"


# ---------------------------------------------------------------------------
# Working days
# ---------------------------------------------------------------------------


def test_five_working_days_across_national_day_2026() -> None:
    # Day 1 is Oct 1; Oct 1-7 off; Oct 8 (1), 9 (2), Sat 10 make-up (3), Mon 12 (4), Tue 13 (5).
    r = compute_due(sh(2026, 9, 30, 10), 5, "working_day", PLAIN)
    assert r.due_date == D(2026, 10, 13)
    assert r.due_at == utc(2026, 10, 13, 16)
    assert not r.provisional and not r.paused
    assert r.calendar_version == PACKAGE_VERSION


def test_makeup_sunday_counts_as_working_day() -> None:
    # Start Fri Sep 18: Sat 19 is off, Sun 20 is a make-up working day.
    assert compute_due(sh(2026, 9, 18, 15), 1, "working_day", PLAIN).due_date == D(2026, 9, 20)


def test_five_working_days_across_spring_festival_2026() -> None:
    # Start Fri Feb 13: Sat 14 make-up (1), Feb 15-23 off, Tue 24 (2) .. Fri 27 (5).
    r = compute_due(sh(2026, 2, 13, 9), 5, "working_day", PLAIN)
    assert r.due_date == D(2026, 2, 27)
    # The sixth is Sat Feb 28, another make-up day.
    assert compute_due(sh(2026, 2, 13, 9), 6, "working_day", PLAIN).due_date == D(2026, 2, 28)


def test_add_working_days_zero_and_negative() -> None:
    assert add_working_days(D(2026, 10, 8), 0, PLAIN) == D(2026, 10, 8)
    assert add_working_days(D(2026, 10, 3), 0, PLAIN) == D(2026, 10, 8)
    assert add_working_days(D(2026, 10, 13), -5, PLAIN) == D(2026, 9, 30)
    assert add_working_days(D(2026, 10, 8), -1, PLAIN) == D(2026, 9, 30)


# ---------------------------------------------------------------------------
# Calendar days, start-day exclusion, 24:00
# ---------------------------------------------------------------------------


def test_calendar_days_ending_in_holiday_roll_to_first_working_day() -> None:
    # Sep 24 + 10 = Oct 4 (国庆), Oct 5-7 off too → Thu Oct 8.
    r = compute_due(sh(2026, 9, 24, 9), 10, "calendar_day", PLAIN)
    assert r.due_date == D(2026, 10, 8)
    assert r.due_at == utc(2026, 10, 8, 16)


def test_calendar_days_ending_on_weekend_roll_to_monday() -> None:
    # Fri Nov 6 + 1 = Sat Nov 7 → Mon Nov 9 (weekends treated as 法定休假日).
    assert compute_due(sh(2026, 11, 6, 9), 1, "calendar_day", PLAIN).due_date == D(2026, 11, 9)


def test_calendar_days_ending_on_makeup_saturday_do_not_roll() -> None:
    assert compute_due(sh(2026, 10, 3, 9), 7, "calendar_day", PLAIN).due_date == D(2026, 10, 10)


def test_start_day_excluded_and_period_ends_at_24_00_shanghai() -> None:
    # Started one minute before midnight Shanghai: day 1 is still the next day.
    r = compute_due(sh(2026, 3, 2, 23, 59), 1, "calendar_day", PLAIN)
    assert r.due_date == D(2026, 3, 3)
    assert r.due_at == utc(2026, 3, 3, 16)  # 24:00 Shanghai = 16:00 UTC same date
    assert r.due_at.astimezone(SHANGHAI) == datetime(2026, 3, 4, 0, 0, tzinfo=SHANGHAI)
    # 17:00 UTC Mar 2 is already Mar 3 01:00 in Shanghai: the start day is Mar 3.
    r = compute_due(utc(2026, 3, 2, 17), 1, "calendar_day", PLAIN)
    assert r.due_date == D(2026, 3, 4) and r.due_at == utc(2026, 3, 4, 16)
    # Same rule for working days (Mon Mar 2 → Tue Mar 3).
    assert compute_due(sh(2026, 3, 2, 8), 1, "working_day", PLAIN).due_date == D(2026, 3, 3)
    # A start in another time zone is converted, not reinterpreted: 20:00 Berlin on
    # Mar 2 is 03:00 Mar 3 in Shanghai.
    berlin = datetime(2026, 3, 2, 20, tzinfo=ZoneInfo("Europe/Berlin"))
    assert compute_due(berlin, 1, "calendar_day", PLAIN).due_date == D(2026, 3, 4)
    assert end_of_day_utc(D(2026, 3, 3)) == utc(2026, 3, 3, 16)


# ---------------------------------------------------------------------------
# Hours
# ---------------------------------------------------------------------------


def test_hour_deadlines_are_exact_clock_hours() -> None:
    start = utc(2026, 10, 1, 2, 30)  # a holiday: irrelevant for hours
    r = compute_due(start, 24, "hour", PLAIN)
    assert r.due_at == utc(2026, 10, 2, 2, 30)
    assert r.due_date == D(2026, 10, 2)  # the Shanghai date of the instant
    assert r.calendar_version == PACKAGE_VERSION and not r.provisional
    assert compute_due(start, 1, "hour", PLAIN).due_at == utc(2026, 10, 1, 3, 30)
    assert compute_due(start, 0, "hour", PLAIN).due_at == start
    assert compute_due(utc(2035, 1, 1), 2, "hour", PLAIN).provisional is False


# ---------------------------------------------------------------------------
# Unknown years and the synthetic 2027 notice
# ---------------------------------------------------------------------------


def test_crossing_into_2027_without_notice_is_provisional() -> None:
    # Mon Dec 28 2026 + 5 working days, 2027 by weekends only:
    # Dec 29, 30, 31, Fri Jan 1, Mon Jan 4.
    r = compute_due(sh(2026, 12, 28, 9), 5, "working_day", PLAIN)
    assert r.due_date == D(2027, 1, 4)
    assert r.provisional is True
    assert r.calendar_version == f"{PACKAGE_VERSION}+2027:weekends"
    # A period that stays in 2026 is not provisional even with 2027 unknown.
    assert compute_due(sh(2026, 12, 28, 9), 3, "working_day", PLAIN).provisional is False


def test_crossing_into_2027_with_synthetic_notice() -> None:
    # Jan 1-3 2027 are listed off: Dec 29, 30, 31, Mon Jan 4, Tue Jan 5.
    r = compute_due(sh(2026, 12, 28, 9), 5, "working_day", WITH_2027)
    assert r.due_date == D(2027, 1, 5)
    assert r.provisional is False
    assert r.calendar_version == f"{PACKAGE_VERSION}+2027:{EXAMPLE_2027.digest[:12]}"
    assert EXAMPLE_2027.digest[:12] == EXAMPLE_2027_DIGEST12
    # Calendar days: Dec 30 + 2 = Fri Jan 1 2027.
    assert compute_due(sh(2026, 12, 30, 9), 2, "calendar_day", PLAIN).due_date == D(2027, 1, 1)
    assert compute_due(sh(2026, 12, 30, 9), 2, "calendar_day", WITH_2027).due_date == D(2027, 1, 4)
    # Explicit single-date day off (Wed Jun 9) and a make-up Saturday (Feb 20).
    assert WITH_2027.is_day_off(D(2027, 6, 9))
    assert WITH_2027.is_working_day(D(2027, 2, 20))
    assert WITH_2027.day_info(D(2027, 2, 10)).name == "春节"


@pytest.mark.parametrize("year", [2003, 1990, 2035, 2099])
def test_far_years_never_crash(year: int) -> None:
    for unit in ("working_day", "calendar_day"):
        r = compute_due(sh(year, 6, 1, 10), 20, unit, PLAIN)
        assert r.provisional is True
        assert r.calendar_version == f"{PACKAGE_VERSION}+{year}:weekends"
        assert r.due_date is not None and r.due_date.weekday() < 5


def test_result_beyond_year_9999_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="超出"):
        compute_due(datetime(9999, 12, 20, tzinfo=UTC), 30, "working_day", PLAIN)


# ---------------------------------------------------------------------------
# Pauses
# ---------------------------------------------------------------------------


def test_hour_pause_adds_overlapping_duration() -> None:
    t = utc(2026, 5, 6, 1)
    base = t + timedelta(hours=24)
    assert compute_due(t, 24, "hour", PLAIN, pauses=[(t + timedelta(hours=2), t + timedelta(hours=5))]).due_at == base + timedelta(hours=3)
    # Only the part after the start counts.
    assert compute_due(t, 24, "hour", PLAIN, pauses=[(t - timedelta(hours=1), t + timedelta(hours=1))]).due_at == base + timedelta(hours=1)
    # A pause that begins after expiry changes nothing.
    assert compute_due(t, 24, "hour", PLAIN, pauses=[(base, base + timedelta(hours=5))]).due_at == base
    # Overlapping records stop the clock once: 2..5 ∪ 4..6 = 4 h.
    pauses = [(t + timedelta(hours=4), t + timedelta(hours=6)), (t + timedelta(hours=2), t + timedelta(hours=5))]
    assert compute_due(t, 24, "hour", PLAIN, pauses=pauses).due_at == base + timedelta(hours=4)


def test_open_pause_stops_the_clock() -> None:
    t = utc(2026, 5, 6, 1)
    r = compute_due(t, 24, "hour", PLAIN, pauses=[(t + timedelta(hours=3), None)])
    assert r.paused is True and r.due_at is None and r.due_date is None
    r = compute_due(sh(2026, 3, 2, 10), 5, "working_day", PLAIN, pauses=[(sh(2026, 3, 4, 9), None)])
    assert r.paused is True and r.due_at is None
    # Opened after the deadline expired: the deadline stays expired.
    r = compute_due(t, 24, "hour", PLAIN, pauses=[(t + timedelta(hours=30), None)])
    assert r.paused is False and r.due_at == t + timedelta(hours=24)


def test_working_day_pause_pushes_by_working_days() -> None:
    start = sh(2026, 3, 2, 10)  # Mon; 5 working days → Mon Mar 9
    assert compute_due(start, 5, "working_day", PLAIN).due_date == D(2026, 3, 9)
    # Wed+Thu paused whole: 2 working days → Wed Mar 11.
    r = compute_due(start, 5, "working_day", PLAIN, pauses=[(sh(2026, 3, 4), sh(2026, 3, 6))])
    assert r.due_date == D(2026, 3, 11) and r.due_at == utc(2026, 3, 11, 16)
    # A pause over the weekend only costs no working time.
    r = compute_due(start, 5, "working_day", PLAIN, pauses=[(sh(2026, 3, 7), sh(2026, 3, 9))])
    assert r.due_date == D(2026, 3, 9)
    # One hour of pause on a working day is rounded up to a whole working day.
    r = compute_due(start, 5, "working_day", PLAIN, pauses=[(sh(2026, 3, 4, 10), sh(2026, 3, 4, 11))])
    assert r.due_date == D(2026, 3, 10)
    # Pause on the start day itself: the start day is not counted anyway.
    r = compute_due(start, 5, "working_day", PLAIN, pauses=[(sh(2026, 3, 2, 11), sh(2026, 3, 2, 18))])
    assert r.due_date == D(2026, 3, 9)


def test_calendar_day_pause_pushes_then_rolls() -> None:
    start = sh(2026, 9, 14, 10)  # Mon; 10 days → Thu Sep 24
    assert compute_due(start, 10, "calendar_day", PLAIN).due_date == D(2026, 9, 24)
    # 3 days paused → Sep 27 (中秋 Sun) → Mon Sep 28.
    r = compute_due(start, 10, "calendar_day", PLAIN, pauses=[(sh(2026, 9, 16, 10), sh(2026, 9, 19, 10))])
    assert r.due_date == D(2026, 9, 28)
    # A pause that ends later than the original due date still counts whole.
    r = compute_due(start, 10, "calendar_day", PLAIN, pauses=[(sh(2026, 9, 20), sh(2026, 9, 30))])
    assert r.due_date == D(2026, 10, 8)  # Sep 24 + 10 = Oct 4 (国庆) → Oct 8


def test_pause_validation() -> None:
    t = utc(2026, 5, 6, 1)
    with pytest.raises(ValueError, match="暂停"):
        compute_due(t, 5, "hour", PLAIN, pauses=[(t, t - timedelta(hours=1))])
    with pytest.raises(ValueError):
        compute_due(t, 5, "hour", PLAIN, pauses=[(datetime(2026, 5, 6), None)])


# ---------------------------------------------------------------------------
# Extensions and argument checks
# ---------------------------------------------------------------------------


def test_extensions_add_to_amount_and_cap_is_enforced() -> None:
    start = sh(2026, 9, 30, 10)
    # 5 + 2 + 1 working days from Sep 30: Oct 13 (5), 14 (6), 15 (7), 16 (8).
    r = compute_due(start, 5, "working_day", PLAIN, extensions=[2, 1], max_total_extension=3)
    assert r.due_date == D(2026, 10, 16)
    with pytest.raises(ValueError, match="延期总天数不得超过 30 天"):
        compute_due(start, 10, "calendar_day", PLAIN, extensions=[20, 11], max_total_extension=30)
    with pytest.raises(ValueError, match="不得超过 2 个工作日"):
        compute_due(start, 5, "working_day", PLAIN, extensions=[3], max_total_extension=2)
    with pytest.raises(ValueError, match="小时"):
        compute_due(start, 5, "hour", PLAIN, extensions=[3], max_total_extension=2)
    with pytest.raises(ValueError, match="负数"):
        compute_due(start, 5, "hour", PLAIN, extensions=[-1])


def test_bad_arguments() -> None:
    start = sh(2026, 9, 30, 10)
    with pytest.raises(ValueError, match="期限单位"):
        compute_due(start, 5, "week", PLAIN)
    with pytest.raises(ValueError, match="负数"):
        compute_due(start, -1, "calendar_day", PLAIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due(datetime(2026, 9, 30, 10), 5, "calendar_day", PLAIN)


def test_zero_day_amount_is_end_of_start_day_or_next_working_day() -> None:
    assert compute_due(sh(2026, 3, 2, 10), 0, "calendar_day", PLAIN).due_date == D(2026, 3, 2)
    assert compute_due(sh(2026, 10, 3, 10), 0, "working_day", PLAIN).due_date == D(2026, 10, 8)


def test_versions_are_stable_and_name_only_touched_years() -> None:
    a = compute_due(sh(2026, 12, 28, 9), 5, "working_day", WITH_2027)
    b = compute_due(sh(2026, 12, 28, 9), 5, "working_day", HolidayCalendar({2027: EXAMPLE_2027}))
    assert a == b
    # 2027 loaded but untouched: not in the version.
    assert compute_due(sh(2026, 3, 2), 5, "working_day", WITH_2027).calendar_version == PACKAGE_VERSION
    # Spanning 2035-2036, both unknown.
    r = compute_due(sh(2035, 12, 20), 20, "working_day", PLAIN)
    assert r.calendar_version == f"{PACKAGE_VERSION}+2035:weekends+2036:weekends"


# ---------------------------------------------------------------------------
# Year notices
# ---------------------------------------------------------------------------


def test_parse_holidays_only_and_round_trip() -> None:
    ly = parse_year_notice({
        "year": 2028,
        "notice": "合成测试",
        "holidays": [{"name": "元旦", "start": "2028-01-01", "end": "2028-01-03"}],
        "workdays": [D(2028, 1, 8)],  # YAML gives date objects
    })
    assert ly.days_off == frozenset({D(2028, 1, 1), D(2028, 1, 2), D(2028, 1, 3)})
    assert ly.workdays == frozenset({D(2028, 1, 8)})
    again = parse_year_notice(ly.to_data())
    assert again == ly
    assert len(ly.digest) == 64


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"days_off": ["2028-01-01", "2027-12-31"]}, "2027-12-31 不在 2028 年内"),
        ({"workdays": ["2028-01-10"]}, "2028-01-10 是星期一"),
        ({"days_off": ["2028-01-08"], "workdays": ["2028-01-08"]}, "2028-01-08 同时出现"),
        ({"days_off": ["2028-02-30"]}, "2028-02-30"),
        ({"days_off": []}, "没有任何放假日期"),
        ({"year": "2028"}, "年份"),
        ({"notice": ""}, "文号"),
        ({"day_off": ["2028-01-01"]}, "无法识别的字段：day_off"),
        ({"holidays": [{"name": "元旦", "start": "2028-01-03", "end": "2028-01-01"}]}, "早于"),
        ({"holidays": [{"name": "元旦", "start": "2028-12-31", "end": "2029-01-01"}]}, "2029-01-01 不在"),
    ],
)
def test_parse_year_notice_rejects_bad_data(patch: dict, fragment: str) -> None:
    data = {"year": 2028, "notice": "合成测试", "days_off": ["2028-01-01"], "workdays": []}
    data.update(patch)
    with pytest.raises(ValueError, match=fragment):
        parse_year_notice(data)


def test_weekend_day_off_is_allowed() -> None:
    ly = parse_year_notice({"year": 2028, "notice": "合成测试", "days_off": ["2028-01-01", "2028-01-02"]})
    assert D(2028, 1, 2) in ly.days_off  # a Sunday: redundant, but not an error


# ---------------------------------------------------------------------------
# Calendar store (in-memory SQLite, self-contained)
# ---------------------------------------------------------------------------


@pytest.fixture
def lt_session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[CalendarYear.__table__, CalendarState.__table__])
    clear_calendar_cache()
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_store_load_replace_and_cache(lt_session: Session) -> None:
    t0 = utc(2026, 11, 1, 8)
    assert get_calendar(lt_session).loaded_years == {}
    data = read_notice_file(DATA / "2027-example.yaml")
    loaded = load_year(lt_session, data, "admin@province", t0)
    lt_session.commit()
    assert loaded == EXAMPLE_2027

    row = lt_session.get(CalendarYear, 2027)
    assert row is not None and row.digest == EXAMPLE_2027.digest and row.loaded_by == "admin@province"
    assert row.loaded_at == t0 and row.loaded_at.tzinfo is not None
    assert row.data == EXAMPLE_2027.to_data()

    cal = get_calendar(lt_session)
    assert cal.is_known_year(2027) and cal.is_day_off(D(2027, 1, 1))
    assert get_calendar(lt_session) is cal  # unchanged table → cached object

    # Re-loading the year replaces the row (one row per year) and the cache.
    data2 = dict(data, days_off=[*data["days_off"], "2027-12-31"])
    load_year(lt_session, data2, None, t0 + timedelta(days=1))
    lt_session.commit()
    assert lt_session.query(CalendarYear).count() == 1
    cal2 = get_calendar(lt_session)
    assert cal2 is not cal and cal2.is_day_off(D(2027, 12, 31))
    assert load_calendar(lt_session).loaded_years[2027] == cal2.loaded_years[2027]
    assert lt_session.get(CalendarYear, 2027).loaded_by is None

    # Same instant (frozen clock) reload still refreshes this process's cache.
    load_year(lt_session, data, "admin", t0 + timedelta(days=1))
    lt_session.commit()
    assert get_calendar(lt_session).is_working_day(D(2027, 12, 31))


def test_store_rejects_invalid_notice_without_writing(lt_session: Session) -> None:
    with pytest.raises(ValueError, match="星期"):
        load_year(lt_session, {"year": 2027, "notice": "x", "days_off": ["2027-01-01"],
                               "workdays": ["2027-01-04"]}, None, utc(2026, 11, 1))
    assert lt_session.query(CalendarYear).count() == 0


def test_store_deadline_uses_loaded_year(lt_session: Session) -> None:
    load_year(lt_session, read_notice_file(DATA / "2027-example.yaml"), "admin", utc(2026, 11, 1))
    r = compute_due(sh(2026, 12, 28, 9), 5, "working_day", get_calendar(lt_session))
    assert r.due_date == D(2027, 1, 5) and not r.provisional


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2003, 6, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
)
calendars = st.sampled_from([PLAIN, WITH_2027])


def _start_day(start: datetime) -> date:
    return start.astimezone(SHANGHAI).date()


@PROPS
@given(start=starts, amount=st.integers(0, 60), cal=calendars)
def test_prop_working_day_due_is_working_and_not_before_start(start, amount, cal) -> None:
    r = compute_due(start, amount, "working_day", cal)
    assert cal.is_working_day(r.due_date)
    assert r.due_date >= _start_day(start)
    if amount > 0:
        assert r.due_date > _start_day(start)
    assert r.due_at == end_of_day_utc(r.due_date)
    assert r.due_at.astimezone(SHANGHAI).time() == time(0)


@PROPS
@given(start=starts, amount=st.integers(0, 60), unit=st.sampled_from(["working_day", "calendar_day", "hour"]), cal=calendars)
def test_prop_due_monotonic_in_amount(start, amount, unit, cal) -> None:
    a = compute_due(start, amount, unit, cal)
    b = compute_due(start, amount + 1, unit, cal)
    assert a.due_at <= b.due_at
    # Strict except where several counts roll onto the same working day (calendar
    # days ending in a holiday) or amount 0 on a day off equals amount 1.
    if unit == "hour" or (unit == "working_day" and amount > 0):
        assert a.due_at < b.due_at


@PROPS
@given(start=starts, amount=st.integers(0, 60), cal=calendars)
def test_prop_calendar_day_due_not_before_plain_count(start, amount, cal) -> None:
    r = compute_due(start, amount, "calendar_day", cal)
    plain = _start_day(start) + timedelta(days=amount)
    assert r.due_date >= plain
    assert cal.is_working_day(r.due_date)
    # Rolling stops at the first working day: everything between is a day off.
    d = plain
    while d < r.due_date:
        assert cal.is_day_off(d)
        d += timedelta(days=1)


@PROPS
@given(start=starts, amount=st.integers(1, 30), offset=st.integers(0, 29), length=st.integers(1, 20), cal=calendars)
def test_prop_whole_day_pause_pushes_by_counted_days(start, amount, offset, length, cal) -> None:
    # A pause of whole Shanghai days, starting inside the period.
    s0 = _start_day(start)
    first = add_working_days(s0, min(offset, amount - 1) + 1, cal)
    pause = (end_of_day_utc(first - timedelta(days=1)), end_of_day_utc(first + timedelta(days=length - 1)))
    paused_days = [first + timedelta(days=i) for i in range(length)]
    n_working = sum(cal.is_working_day(d) for d in paused_days)
    r = compute_due(start, amount, "working_day", cal, pauses=[pause])
    assert r.due_date == add_working_days(s0, amount + n_working, cal)
    assert not r.paused

    c_first = s0 + timedelta(days=min(offset, amount - 1) + 1)
    c_pause = (end_of_day_utc(c_first - timedelta(days=1)), end_of_day_utc(c_first + timedelta(days=length - 1)))
    r = compute_due(start, amount, "calendar_day", cal, pauses=[c_pause])
    expect = add_working_days(s0 + timedelta(days=amount + length), 0, cal)
    assert r.due_date == expect


@PROPS
@given(
    start=starts,
    amount=st.integers(0, 40),
    unit=st.sampled_from(["working_day", "calendar_day", "hour"]),
    pauses=st.lists(
        st.tuples(st.integers(-48 * 60, 60 * 24 * 60), st.integers(0, 20 * 24 * 60)), max_size=3
    ),
)
def test_prop_pauses_never_shorten_and_day_results_end_at_midnight(start, amount, unit, pauses) -> None:
    spans = [(start + timedelta(minutes=a), start + timedelta(minutes=a + b)) for a, b in pauses]
    base = compute_due(start, amount, unit, PLAIN)
    r = compute_due(start, amount, unit, PLAIN, pauses=spans)
    assert r.due_at >= base.due_at
    if unit == "hour":
        # Pauses can only add their own total length.
        assert r.due_at - base.due_at <= sum((e - s for s, e in spans), timedelta(0))
    else:
        assert r.due_at == end_of_day_utc(r.due_date)
    assert compute_due(start, amount, unit, PLAIN, pauses=list(reversed(spans))) == r


@PROPS
@given(start=starts, hours=st.integers(1, 500), a=st.integers(0, 1000), b=st.integers(0, 1000))
def test_prop_hour_pause_inside_period_adds_its_length(start, hours, a, b) -> None:
    ps = start + timedelta(minutes=min(a, hours * 60 - 1))
    r = compute_due(start, hours, "hour", PLAIN, pauses=[(ps, ps + timedelta(minutes=b))])
    assert r.due_at == start + timedelta(hours=hours, minutes=b)
