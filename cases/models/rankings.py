"""Published enterprise rankings (issue 12 part 8; cases/rankings/, docs/patterns.md): a staff member
of a city (or above) publishes the ranking of the city's enterprises as a frozen snapshot — period,
publishing authority, the rows as computed then; the public page shows the latest publication."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class RankingPublication(Base):
    """One published ranking of a city. ``stop_work`` and ``credit``: the rows as published (name,
    credit code, figures — no personal data); ``score_source`` names the credit score's source."""

    __tablename__ = "ranking_publications"
    __table_args__ = (Index("ix_ranking_publications_city_at", "city_code", "published_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    authority_name: Mapped[str] = mapped_column(String(100))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime]
    published_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score_source: Mapped[str] = mapped_column(String(32))
    stop_work: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    credit: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
