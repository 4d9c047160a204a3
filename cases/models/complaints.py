"""Public complaints (投诉举报): what a citizen reported on the public page or through a 12345
referral, the case it became, and the reply the complainant reads with their lookup code
(cases/complaints/, docs/complaints.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class Complaint(Base):
    """One complaint. ``case_id`` is the case that handles it now: the case it created, or after a
    merge (合并重复举报) the surviving case (``first_case_id`` keeps the one it created).

    Personal data: ``contact_name`` / ``contact_phone`` are shown only to staff who see the case,
    never on the public page, never in logs or event payloads. ``code_hash`` is the SHA-256 of the
    lookup code (查询码, 80 random bits, shown once); the code itself is not stored."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint("channel IN ('public_web','hotline_12345')", name="channel"),
        Index("ix_complaints_case_id", "case_id"),
        Index("ix_complaints_jurisdiction_submitted", "jurisdiction_code", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    referral_no: Mapped[Optional[str]] = mapped_column(String(64), unique=True)  # 12345 工单号
    submitted_at: Mapped[datetime]
    received_at: Mapped[datetime]
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    content: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(300), default="")
    named_unit: Mapped[str] = mapped_column(String(200), default="")  # the project or unit named, as typed
    project_id: Mapped[Optional[int]] = mapped_column(ForeignKey("projects.id"))
    contact_name: Mapped[Optional[str]] = mapped_column(String(64))
    contact_phone: Mapped[Optional[str]] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    first_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    merged_at: Mapped[Optional[datetime]]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reply_text: Mapped[Optional[str]] = mapped_column(Text)
    replied_at: Mapped[Optional[datetime]]
    replied_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))


class ComplaintHit(Base):
    """A request counted against a client address's hourly allowance on the public routes: a
    submission (``submit``) or a lookup with an unknown code (``lookup``). ``client_key`` is an
    HMAC of the address under the installation's signing key (the address itself is not kept)."""

    __tablename__ = "complaint_hits"
    __table_args__ = (Index("ix_complaint_hits_kind_client_at", "kind", "client_key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    client_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
