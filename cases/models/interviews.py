"""约谈 records (issue 12, cases/interviews/, docs/interviews.md): an interview opened by a 约谈通知书
of the ladder (or by staff, outside the ladder: 约谈提醒), the units summoned, what happened when
it was held (attendees, minutes) and the commitments made there — each one a clock of its own
(a ``deadlines`` row, key ``commitment``, ladder ``commitment``)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class Interview(Base):
    """One 约谈. ``jurisdiction_code``: the interviewing authority (the notice's issuer, or the
    bureau of the staff member who opened it). ``notice_document_id``: the 约谈通知书 it was opened
    from (unique: one record per notice). ``record_document_id``: the 约谈记录 issued when it was
    recorded as held. ``status``: scheduled / held / cancelled."""

    __tablename__ = "interviews"
    __table_args__ = (
        CheckConstraint("status IN ('scheduled','held','cancelled')", name="status"),
        CheckConstraint("source IN ('notice','manual')", name="source"),
        Index("ix_interviews_case_id", "case_id"),
        Index("ix_interviews_jurisdiction_scheduled", "jurisdiction_code", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    source: Mapped[str] = mapped_column(String(8))
    measure: Mapped[str] = mapped_column(String(16), default="interview")  # interview 约谈 / reminder 约谈提醒
    notice_document_id: Mapped[Optional[int]] = mapped_column(ForeignKey("documents.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    scheduled_at: Mapped[Optional[datetime]]
    place: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    held_at: Mapped[Optional[datetime]]
    held_place: Mapped[Optional[str]] = mapped_column(String(200))
    hosts: Mapped[Optional[str]] = mapped_column(String(200))  # 约谈人 (the authority's side), as typed
    attendees: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, unit, position}]
    minutes: Mapped[Optional[str]] = mapped_column(Text)
    record_document_id: Mapped[Optional[int]] = mapped_column(ForeignKey("documents.id"))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: opened by the sweep
    created_at: Mapped[datetime]
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[Optional[datetime]]


class InterviewUnit(Base):
    """A unit summoned: the case's responsible enterprise (``enterprise_id``) or an authority
    (``authority_code``: the supervised bureau). ``name`` as printed at the time."""

    __tablename__ = "interview_units"
    __table_args__ = (
        CheckConstraint("(enterprise_id IS NULL) <> (authority_code IS NULL)", name="one_unit"),
        Index("ix_interview_units_interview_id", "interview_id"),
        Index("ix_interview_units_enterprise_id", "enterprise_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    interview_id: Mapped[int] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"))
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprises.id"))
    authority_code: Mapped[Optional[str]] = mapped_column(ForeignKey("jurisdictions.code"))
    name: Mapped[str] = mapped_column(String(200))


class InterviewCommitment(Base):
    """A promise made at the interview: what, by when, who answers for it, and its clock
    (``deadline_id``: key ``commitment``, ladder ``commitment``, party ``enterprise`` or
    ``authority`` by the unit that made it). ``status``: open / met. ``missed_at`` is set once by
    the ladder's ``commitment_missed`` rung; a commitment met after it stays marked as met late."""

    __tablename__ = "interview_commitments"
    __table_args__ = (
        CheckConstraint("status IN ('open','met','cancelled')", name="status"),
        Index("ix_interview_commitments_interview_id", "interview_id"),
        Index("ix_interview_commitments_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    interview_id: Mapped[int] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    responsible_person: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("interview_units.id"))
    party: Mapped[str] = mapped_column(String(12))  # enterprise / authority
    due_on: Mapped[date] = mapped_column(Date)  # the legal due date of its clock (Beijing)
    promised_on: Mapped[Optional[date]] = mapped_column(Date)  # the date as promised, when one was given
    deadline_id: Mapped[Optional[int]] = mapped_column(ForeignKey("deadlines.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="open")
    missed_at: Mapped[Optional[datetime]]
    met_at: Mapped[Optional[datetime]]
    met_note: Mapped[Optional[str]] = mapped_column(Text)
    met_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
