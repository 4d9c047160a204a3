"""Holiday notices in the database, and the calendar built from them.

``load_year`` stores an administrator's upload and bumps the calendar generation
(``calendar_state``); ``get_calendar`` is what request handlers and the deadline sweep call: it
answers from memory while the process's watch (cases.calendar.calendar_watch: PostgreSQL LISTEN/NOTIFY, a
version file on SQLite) says nothing changed — no query per transition — and rebuilds the
``HolidayCalendar`` otherwise. docs/legal-time.md "The calendar in memory".
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
from sqlalchemy import event, select, text as sql_text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cases.calendar import calendar_watch
from cases.clocks.legal_time import HolidayCalendar, LoadedYear
from cases.calendar.year_notice import parse_year_notice
from cases.models.calendar import CalendarState, CalendarYear

log = logging.getLogger(__name__)

_cache_lock = threading.Lock()
# Keyed weakly by engine: a disposed test engine must not hand its calendar to a new
# engine that happens to reuse the same id() and has the same cache key.
_cache: "weakref.WeakKeyDictionary[Engine, tuple[Any, HolidayCalendar]]" = (
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


def read_notice_text(text: str) -> dict[str, Any]:
    """A notice pasted as text (YAML, or JSON — a subset of YAML) into the dict ``load_year`` takes."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"（第{mark.line + 1}行第{mark.column + 1}列）" if mark is not None else ""
        raise ValueError(f"无法读取放假安排：不是有效的 YAML 或 JSON{where}") from None
    if not isinstance(data, dict):
        raise ValueError("放假安排的内容不是一个对象（应含 year、notice、days_off 等字段）")
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
    generation = bump_generation(session)
    if session.get_bind().dialect.name == "postgresql":
        # Delivered to every listening process when (and only if) this transaction commits.
        session.execute(sql_text("SELECT pg_notify(:channel, :generation)"),
                        {"channel": calendar_watch.CHANNEL, "generation": str(generation)})
    return loaded


def bump_generation(session: Session) -> int:
    """The next calendar generation, in the caller's transaction (the row lock serialises uploads).

    Until the transaction ends, ``get_calendar`` in this session builds the calendar from what the
    session sees without caching it; after the commit every process rebuilds (cases.calendar.calendar_watch).
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # The row appears with the first upload (an empty database has none: generation 0).
    stmt = insert(CalendarState).values(id=1, generation=1)
    stmt = stmt.on_conflict_do_update(index_elements=[CalendarState.id],
                                      set_={"generation": CalendarState.generation + 1})
    generation = session.execute(stmt.returning(CalendarState.generation)).scalar_one()
    session.info[_CHANGED] = generation
    with _cache_lock:
        _cache.pop(_engine(session), None)
    return generation


def read_generation(session: Session) -> int:
    return session.execute(select(CalendarState.generation).where(CalendarState.id == 1)).scalar() or 0


_CHANGED = "anjian_calendar_changed"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the upload is not committed yet
    generation = session.info.pop(_CHANGED, None)
    if generation is None:
        return
    engine = _engine(session)
    with _cache_lock:
        _cache.pop(engine, None)
    watch = calendar_watch.watch_for(engine)
    watch.bump()
    watch.signal(generation)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT rolled back; the outer transaction decides
    if session.info.pop(_CHANGED, None) is not None:
        with _cache_lock:
            _cache.pop(_engine(session), None)


def load_calendar(session: Session) -> HolidayCalendar:
    """Build a calendar from every loaded year, tagged with the current generation.

    The generation is read first: under READ COMMITTED an upload committing in between makes the
    years newer than the tag (repaired needlessly, harmless), never older.
    """
    generation = read_generation(session)
    years: dict[int, LoadedYear] = {}
    for row in session.scalars(select(CalendarYear).order_by(CalendarYear.year)):
        loaded = parse_year_notice(row.data)
        if loaded.digest != row.digest:
            # The data column is authoritative; a mismatch means a manual DB edit.
            log.warning("calendar year %s: stored digest %s does not match its data", row.year, row.digest)
        years[loaded.year] = loaded
    return HolidayCalendar(years, generation=generation)


def get_calendar(session: Session) -> HolidayCalendar:
    """The current calendar: from memory while this process's watch says nothing changed (no
    query), else checked against the database's generation (one query) and rebuilt if older."""
    if _CHANGED in session.info:
        return load_calendar(session)  # this transaction uploads: its own view, never cached
    engine = _engine(session)
    token = calendar_watch.watch_for(engine).token()
    with _cache_lock:
        hit = _cache.get(engine)
    if hit is not None and token is not None and hit[0] == token:
        return hit[1]
    if hit is not None and token is None:
        # The watch cannot vouch (listener reconnecting): ask for the generation.
        if read_generation(session) == hit[1].generation:
            return hit[1]
    return _rebuild(session, engine, token)


def current_calendar(session: Session) -> HolidayCalendar:
    """The calendar of the database's current generation, whatever the watch says (the sweep)."""
    engine = _engine(session)
    token = calendar_watch.watch_for(engine).token()
    with _cache_lock:
        hit = _cache.get(engine)
    if hit is not None and read_generation(session) == hit[1].generation:
        return hit[1]
    return _rebuild(session, engine, token)


def _rebuild(session: Session, engine: Engine, token: Any) -> HolidayCalendar:
    # The token was taken before reading: a change committed meanwhile makes it stale at once.
    calendar = load_calendar(session)
    with _cache_lock:
        _cache[engine] = (token, calendar)
    return calendar
