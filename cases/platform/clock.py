"""The one clock of the application.

Every "now" in the API, the services and the Prefect flows comes from here, so tests
can move time and ``ANJIAN_CLOCK_OFFSET`` can shift a running service for demos.
Instants are timezone-aware UTC; legal dates are taken in Asia/Shanghai.
"""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_OFFSET_PART = re.compile(r"(\d+)\s*([wdhms])")
_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_offset(text: str | None) -> timedelta:
    """Parse "+12d", "-3h", "+1d2h30m" (empty → zero). Raises ValueError on anything else."""
    if not text or not text.strip():
        return timedelta(0)
    s = text.strip().replace(" ", "")
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s or _OFFSET_PART.sub("", s):
        raise ValueError(f"invalid clock offset {text!r}; expected e.g. +12d, -3h, +1d2h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _OFFSET_PART.findall(s))
    return timedelta(seconds=sign * seconds)


class Clock:
    """Wall clock plus an offset; tests call :meth:`advance` / :meth:`set`."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._lock = threading.Lock()
        self._offset = offset
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(timezone.utc) + self._offset

    def today(self) -> date:
        """Today's legal date (Asia/Shanghai)."""
        return self.now().astimezone(SHANGHAI).date()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta

    def set(self, instant: datetime) -> None:
        """Freeze the clock at ``instant`` (aware)."""
        if instant.tzinfo is None:
            raise ValueError("clock needs an aware datetime")
        with self._lock:
            self._frozen = instant.astimezone(timezone.utc)

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(timezone.utc)
                self._frozen = None

    @property
    def offset(self) -> timedelta:
        return self._offset


_clock: Clock | None = None


def get_clock() -> Clock:
    global _clock
    if _clock is None:
        from cases.platform.config import get_settings

        _clock = Clock(parse_offset(get_settings().clock_offset))
    return _clock


def set_clock(clock: Clock | None) -> None:
    global _clock
    _clock = clock


def now() -> datetime:
    return get_clock().now()


def to_local(instant: datetime) -> datetime:
    return instant.astimezone(SHANGHAI)
