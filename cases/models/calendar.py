"""Holiday arrangements loaded from State Council notices, one row per year."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base


class CalendarYear(Base):
    """A year's 放假安排 as loaded by an administrator.

    For this year it overrides the ``chinesecalendar`` package (so errors can be
    corrected) and makes an otherwise unknown year non-provisional. Re-loading a year
    replaces the row; ``digest`` identifies the data in deadline calendar versions.
    """

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    notice: Mapped[str] = mapped_column(String(200))  # 通知文号, e.g. 国办发明电〔2026〕N号
    data: Mapped[dict]  # normalised notice, see cases.clocks.legal_time.LoadedYear.to_data
    digest: Mapped[str] = mapped_column(String(64))  # sha256 hex of the computation-relevant data
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str | None] = mapped_column(String(100))


class CalendarState(Base):
    """One row (id 1): the calendar generation, bumped in the transaction of every upload.

    Processes hold the calendar in memory tagged with the generation they read, and every
    deadline stores the generation that computed it (``deadlines.calendar_gen``): the sweep
    recomputes open deadlines of an older generation (cases.calendar.calendar_repair). A missing row
    reads as generation 0.
    """

    __tablename__ = "calendar_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(Integer)
