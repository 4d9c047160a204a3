"""Holiday notices in the database, and the calendar built from them.

``load_year`` stores an administrator's upload; ``get_calendar`` is what request
handlers and the deadline sweep call: it rebuilds the ``HolidayCalendar`` only when
the table changed (cache key: row count and latest ``loaded_at``).
"""
from __future__ import annotations

import json
import logging
import threading
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cases.legal_time import HolidayCalendar, LoadedYear, parse_year_notice
from cases.models.calendar import CalendarYear

log = logging.getLogger(__name__)

_cache_lock = threading.Lock()
# Keyed weakly by engine: a disposed test engine must not hand its calendar to a new
# engine that happens to reuse the same id() and has the same cache key.
_cache: "weakref.WeakKeyDictionary[Engine, tuple[tuple[Any, ...], HolidayCalendar]]" = (
    weakref.WeakKeyDictionary()
)


def read_notice_file(path: str | Path) -> dict[str, Any]:
    """Read a notice file (.json, or YAML for anything else) into the dict ``load_year`` takes."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} 的内容不是一个放假安排对象")
    return data


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def clear_calendar_cache() -> None:
    with _cache_lock:
        _cache.clear()


def load_year(
    session: Session, data: Mapping[str, Any], loaded_by: str | None, now: datetime
) -> LoadedYear:
    """Validate a notice and insert or replace its year's row; flushes, the caller commits.

    Open deadlines touching that year must be recomputed by the caller.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    loaded = parse_year_notice(data)
    row = session.get(CalendarYear, loaded.year)
    if row is None:
        row = CalendarYear(year=loaded.year)
        session.add(row)
    row.notice = loaded.notice
    row.data = loaded.to_data()
    row.digest = loaded.digest
    row.loaded_at = now
    row.loaded_by = loaded_by
    session.flush()
    # A reload at the same instant (frozen test clocks) would keep the cache key, so
    # drop this process's entry explicitly; other processes see the new key.
    with _cache_lock:
        _cache.pop(_engine(session), None)
    return loaded


def load_calendar(session: Session) -> HolidayCalendar:
    """Build a calendar from every loaded year."""
    years: dict[int, LoadedYear] = {}
    for row in session.scalars(select(CalendarYear).order_by(CalendarYear.year)):
        loaded = parse_year_notice(row.data)
        if loaded.digest != row.digest:
            # The data column is authoritative; a mismatch means a manual DB edit.
            log.warning("calendar year %s: stored digest %s does not match its data", row.year, row.digest)
        years[loaded.year] = loaded
    return HolidayCalendar(years)


def get_calendar(session: Session) -> HolidayCalendar:
    """The current calendar, rebuilt only when ``calendar_years`` changed."""
    count, latest = session.execute(
        select(func.count(CalendarYear.year), func.max(CalendarYear.loaded_at))
    ).one()
    key = (count, latest)
    engine = _engine(session)
    with _cache_lock:
        hit = _cache.get(engine)
    if hit is not None and hit[0] == key:
        return hit[1]
    calendar = load_calendar(session)
    with _cache_lock:
        _cache[engine] = (key, calendar)
    return calendar
