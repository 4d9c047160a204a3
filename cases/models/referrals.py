"""Referrals (移送): a case referred to another body — 公安机关 (危险作业罪 clues), 消防救援机构,
the licence authority (暂扣安全生产许可证), 纪检监察机关 — with its 移送函 (a numbered document of
the case), the reply clock (a Deadline of the case, key ``referral_reply``) and the reply
(cases/referrals/, docs/referrals.md). Staff only: an enterprise never reads a referral."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class Referral(Base):
    """One referral. ``jurisdiction_code`` is the referring authority (the case's jurisdiction when
    referred; it signs the 移送函). ``status``: ``open`` (awaiting the reply) → ``replied`` or
    ``withdrawn``. ``policy_version`` is the referrals-vN.yaml it was made under (reply period,
    default wording); ``reply_due_date`` is the reply clock's due date when it was opened."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("status IN ('open','replied','withdrawn')", name="status"),
        Index("ix_referrals_case_id", "case_id"),
        Index("ix_referrals_jurisdiction_status", "jurisdiction_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    target: Mapped[str] = mapped_column(String(32))
    body_name: Mapped[str] = mapped_column(String(100))  # the receiving body, e.g. 苏州市公安局姑苏分局
    subject: Mapped[str] = mapped_column(String(100))
    facts: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    request: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    letter_no: Mapped[str] = mapped_column(String(64), unique=True)  # 移送函 文号
    document_id: Mapped[Optional[int]] = mapped_column(ForeignKey("documents.id"))
    deadline_id: Mapped[Optional[int]] = mapped_column(ForeignKey("deadlines.id"))
    reply_due_date: Mapped[Optional[date]] = mapped_column(Date)
    policy_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    referred_at: Mapped[datetime]
    referred_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reply_received_at: Mapped[Optional[datetime]]
    reply_no: Mapped[Optional[str]] = mapped_column(String(64))
    reply_result: Mapped[Optional[str]] = mapped_column(String(16))
    reply_content: Mapped[Optional[str]] = mapped_column(Text)
    reply_recorded_at: Mapped[Optional[datetime]]
    reply_recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[Optional[datetime]]
    withdrawn_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    withdraw_reason: Mapped[Optional[str]] = mapped_column(Text)
