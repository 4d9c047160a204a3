"""Deadlines, their timers, rung firings (the escalation log), listed supervision, document
numbers and the outbox — everything the clock drives."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


LIVE = text("status = 'open' AND affects_light")
OPEN_CLOCK = text("status = 'open'")
RECTIFICATION = text("key = 'rectification'")  # cases.reads.stats.RECTIFICATION_KEY
LIGHT = text("affects_light")


class Deadline(Base):
    """A legal or policy clock on a case (or on a listed supervision).

    ``due_at`` is derived from (start, amount, unit, pauses, extensions) by cases.clocks.legal_time and
    stored with the calendar version that computed it; it is None while the clock is paused.
    """

    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_case_status", "case_id", "status"),
        Index("ix_deadlines_open_due", "status", "due_at"),
        # Live clocks (the ones that light a case): by case for the light of many cases in one
        # aggregate, by due time for the overdue list (docs/performance.md "Scale").
        Index("ix_deadlines_live_case", "case_id", postgresql_where=LIVE, sqlite_where=LIVE,
              postgresql_include=["due_at", "warn_at"]),
        Index("ix_deadlines_live_due", "due_at", postgresql_where=LIVE, sqlite_where=LIVE, postgresql_include=["case_id"]),
        # Open clocks computed with an older calendar generation: what the sweep repairs.
        Index("ix_deadlines_open_calendar_gen", "calendar_gen", postgresql_where=OPEN_CLOCK, sqlite_where=OPEN_CLOCK),
        # The cockpit's 按期整改率 and overdue trend (cases/reads/stats.py, migration 0010_stats):
        # rectification clocks by due date, light-bearing clocks by due instant, each with what the
        # figures read, so a period's clocks are an index-only range joined to a subtree's cases.
        Index("ix_deadlines_rect_due", "due_date", postgresql_where=RECTIFICATION, sqlite_where=RECTIFICATION,
              postgresql_include=["case_id", "status", "due_at", "closed_at"]),
        Index("ix_deadlines_light_due", "due_at", postgresql_where=LIGHT, sqlite_where=LIGHT,
              postgresql_include=["case_id", "closed_at"]),
        # The same per jurisdiction (migration 0017_deadline_j): a subtree's clocks of a period are
        # index-only ranges per code, without reading the cases of the subtree at all.
        Index("ix_deadlines_j_rect_due", "jurisdiction_code", "due_date", postgresql_where=RECTIFICATION,
              sqlite_where=RECTIFICATION, postgresql_include=["case_id", "status", "due_at", "closed_at"]),
        Index("ix_deadlines_j_light_due", "jurisdiction_code", "due_at", postgresql_where=LIGHT, sqlite_where=LIGHT,
              postgresql_include=["case_id", "closed_at"]),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # The case's current jurisdiction, kept by the database (triggers of migration 0017_deadline_j:
    # on a deadline's insert, and on every case whose jurisdiction changes — 提级); never set in Python.
    jurisdiction_code: Mapped[Optional[str]] = mapped_column(String(12))
    supervision_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supervisions.id"), index=True)
    key: Mapped[str] = mapped_column(String(32))  # rectification / reinspection / supervision / ...
    label: Mapped[str] = mapped_column(String(64))
    ladder: Mapped[str] = mapped_column(String(32))
    # Whose clock it is (enterprise / officer / approver / authority): who its ladder addresses.
    party: Mapped[str] = mapped_column(String(16), default="enterprise", server_default="enterprise")
    policy_version: Mapped[int] = mapped_column(Integer)
    affects_light: Mapped[bool] = mapped_column(Boolean, default=True)
    start_at: Mapped[datetime]
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(16))  # hour / calendar_day / working_day
    extensions: Mapped[list[Any]] = mapped_column(JSON, default=list)  # approved extra amounts
    max_extension: Mapped[Optional[int]] = mapped_column(Integer)
    pauses: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[start, end|null], ...] ISO UTC
    due_at: Mapped[Optional[datetime]]
    due_date: Mapped[Optional[date]] = mapped_column(Date)
    # When the light turns yellow (the "near due" reminder); stored instants, light derived from now.
    warn_at: Mapped[Optional[datetime]]
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar_version: Mapped[str] = mapped_column(String(200))
    # The calendar generation (calendar_state) that computed due_at and the timers.
    calendar_gen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open / met / missed / cancelled / superseded
    created_at: Mapped[datetime]
    closed_at: Mapped[Optional[datetime]]


class Timer(Base):
    """A durable timer: one per (deadline, rung). Written in the same transaction as the
    transition that creates it; fired by the sweep flow; cancelled when the case moves on."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("deadline_id", "rung"),
        Index("ix_timers_pending_fire_at", "status", "fire_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    rung: Mapped[str] = mapped_column(String(32))
    fire_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / fired / cancelled / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime]
    fired_at: Mapped[Optional[datetime]]


class RungFiring(Base):
    """The escalation log. The unique key is the exactly-once guarantee: a rung fires once per
    case, deadline and rung, enforced by the database."""

    __tablename__ = "rung_firings"
    __table_args__ = (UniqueConstraint("deadline_id", "rung"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    rung: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    worker: Mapped[Optional[str]] = mapped_column(String(64))
    effects: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Supervision(Base):
    """挂牌督办: a listing of a case by a higher authority, with its own deadline and ladder."""

    __tablename__ = "supervisions"
    __table_args__ = (Index("ix_supervisions_listing_status", "listing_jurisdiction_code", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    listing_jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    # The authority being supervised (the case's jurisdiction when listed).
    supervised_jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    level: Mapped[str] = mapped_column(String(16))
    notice_no: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))  # major_hazard / overdue / accident
    requirements: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="listed")  # listed / extension_requested / lifted
    listed_at: Mapped[datetime]
    lifted_at: Mapped[Optional[datetime]]
    lifted_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    lift_opinion: Mapped[Optional[str]] = mapped_column(Text)
    extension_request: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)


class DocumentNumberCounter(Base):
    """Gap-free 文号 counters: per issuing authority, document type and year."""

    __tablename__ = "document_number_counters"

    authority_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """A message to one recipient on one channel, written in the transaction of the change that
    caused it. ``dedupe_key`` makes a retried or re-fired cause produce no second row."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    template: Mapped[str] = mapped_column(String(48))
    recipient_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"), index=True)
    recipient_address: Mapped[Optional[str]] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(16))  # inbox / email / webhook / wecom / dingtalk
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    document_no: Mapped[Optional[str]] = mapped_column(String(64))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # accident clocks ignore quiet hours
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / sending / sent / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    provider_response: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[Optional[datetime]]
    read_at: Mapped[Optional[datetime]]  # in-app inbox
    # An in-app message's subject and short text as delivered (the inbox shows what was sent, and
    # does not render 50 templates per page view); empty for other channels and older rows.
    sent_subject: Mapped[Optional[str]] = mapped_column(String(300))
    sent_text: Mapped[Optional[str]] = mapped_column(Text)
