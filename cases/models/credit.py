"""Credit records (不良行为记录), their appeal trail, and the blacklist / exposure listings
(cases/credit/, docs/credit.md)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class CreditRecord(Base):
    """One record against an enterprise. ``source_key`` names its cause exactly once (e.g.
    ``major_hazard:<case>``, ``rung:<deadline>:overdue``): a retry, a second firing path or a
    re-registration finds it taken. ``table_version`` / ``item_code`` / ``points`` are what the
    deduction table said when it was recorded (``points`` changes only by a correction under the
    same table; ``original_points`` keeps the first figure). In force while ``status`` is active
    or appealed and today (Beijing) is before ``valid_until``."""

    __tablename__ = "credit_records"
    __table_args__ = (
        CheckConstraint("status IN ('active','appealed','withdrawn','expired')", name="status"),
        Index("ix_credit_records_enterprise_status", "enterprise_id", "status"),
        Index("ix_credit_records_status_valid_until", "status", "valid_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    cause: Mapped[str] = mapped_column(String(32))
    source_key: Mapped[str] = mapped_column(String(96), unique=True)
    table_version: Mapped[int] = mapped_column(Integer)
    item_code: Mapped[str] = mapped_column(String(16))
    item_label: Mapped[str] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(Integer)
    original_points: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("cases.id"), index=True)
    document_id: Mapped[Optional[int]] = mapped_column(ForeignKey("documents.id"))
    document_number: Mapped[Optional[str]] = mapped_column(String(64))
    authority_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")


class CreditRecordEvent(Base):
    """The record's trail: recorded, appealed, upheld, corrected, withdrawn, regraded, expired —
    each with its actor (None: the system), time, reason and the points before and after."""

    __tablename__ = "credit_record_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    points_before: Mapped[Optional[int]] = mapped_column(Integer)
    points_after: Mapped[Optional[int]] = mapped_column(Integer)


class CreditListing(Base):
    """An enterprise on the blacklist (黑名单) or the exposure list (曝光) from ``listed_on`` for the
    period; ``active_key`` (``<list>:<enterprise>``) is set while listed and cleared when lifted,
    so an enterprise is listed at most once per list at a time; lifted rows stay as history."""

    __tablename__ = "credit_listings"
    __table_args__ = (
        CheckConstraint("list IN ('blacklist','exposure')", name="list"),
        Index("ix_credit_listings_list_lifted", "list", "lifted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    list: Mapped[str] = mapped_column(String(16))
    active_key: Mapped[Optional[str]] = mapped_column(String(48), unique=True)
    table_version: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    authority_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    listed_at: Mapped[datetime]
    listed_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date)
    lifted_at: Mapped[Optional[datetime]]
    lifted_reason: Mapped[Optional[str]] = mapped_column(Text)
