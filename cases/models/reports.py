"""Periodic reports (定期报送): a jurisdiction's submitted, frozen report for a period (cases/reports/)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class ReportSubmission(Base):
    """One version of a jurisdiction's report for a period: the figures frozen at submission (JSON),
    the cut-off they were computed as of, the policy versions, the 文号, who and when, and the late
    flag against the reporting deadline. A correction is a new version; earlier ones are kept."""

    __tablename__ = "report_submissions"
    __table_args__ = (
        UniqueConstraint("jurisdiction_code", "period_kind", "period_key", "version", name="uq_report_submissions_period_version"),
        Index("ix_report_submissions_period", "period_kind", "period_key", "jurisdiction_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    period_kind: Mapped[str] = mapped_column(String(8))  # month / quarter / half / year
    period_key: Mapped[str] = mapped_column(String(8))   # 2026-03 / 2026-Q1 / 2026-H1 / 2026
    version: Mapped[int] = mapped_column(Integer)
    cutoff_at: Mapped[datetime]
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    definitions_version: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)  # reporting-vN.yaml: the deadline checked
    deadline_date: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean)
    late_days: Mapped[int] = mapped_column(Integer)
    doc_number: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[Optional[str]] = mapped_column(Text)  # 更正说明 of a new version
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime]
