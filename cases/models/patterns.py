"""Repeat-offender flags (屡查屡犯, issue 12 part 2; cases/patterns/, docs/patterns.md): an enterprise
reaching a pattern's window of state_machines/policies/patterns-v*.yaml is flagged once per
(enterprise, pattern, window, triggering event), with the policy version, basis, proposal and the
events (cases) behind it; the supervisor's acknowledgement and decision are its trail."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class RepeatOffenderFlag(Base):
    """One flag. ``trigger_key`` names the event whose arrival made the window's count reach the
    threshold (``event:<case_events.id>`` for a registration, ``deadline:<deadlines.id>`` for an
    overdue 整改期限); ``events``: [{key, case_id, number, title, at}] — the events counted, each
    counted by at most one flag of the same enterprise, pattern and window."""

    __tablename__ = "repeat_offender_flags"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "pattern", "window_days", "trigger_key", name="uq_repeat_offender_flags_key"),
        CheckConstraint("status IN ('open','acknowledged','handled')", name="status"),
        Index("ix_repeat_offender_flags_j_status", "jurisdiction_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    pattern: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[int] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    trigger_key: Mapped[str] = mapped_column(String(64))
    trigger_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    triggered_at: Mapped[datetime]
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    label: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str] = mapped_column(Text)
    proposal: Mapped[str] = mapped_column(Text)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    flagged_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open")
    decision: Mapped[Optional[str]] = mapped_column(String(32))
    decision_note: Mapped[Optional[str]] = mapped_column(Text)
    decided_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[Optional[datetime]]


class RepeatOffenderFlagEvent(Base):
    """The trail of a flag: ``flagged`` (the sweep), ``acknowledged``, ``decided`` (a supervisor)."""

    __tablename__ = "repeat_offender_flag_events"
    __table_args__ = (Index("ix_repeat_offender_flag_events_flag", "flag_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("repeat_offender_flags.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]
    decision: Mapped[Optional[str]] = mapped_column(String(32))
    note: Mapped[Optional[str]] = mapped_column(Text)


class PatternScanState(Base):
    """One row (id 1): the instant up to which the sweep has looked for triggering events."""

    __tablename__ = "pattern_scan_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scanned_to: Mapped[datetime]
