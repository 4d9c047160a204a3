"""Notification bookkeeping: per-attempt delivery receipts, channel preferences per user and per
role, and the channel configuration administrators save (notifications/, docs/notifications.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class DeliveryAttempt(Base):
    """One attempt to deliver one outbox message (the receipt), written for every attempt.

    ``status``: ``sending`` (claimed, outcome not recorded yet — or the worker died), ``sent``,
    ``retry`` (failed, will be tried again), ``failed`` (final), ``postponed`` (quiet hours; no
    attempt counted on the message), ``abandoned`` (the lease expired before an outcome was
    recorded; the message was claimed again) or ``stale`` (an outcome arrived after another
    worker had re-claimed the message; kept for the record, the message row is not touched).
    """

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_message_attempt", "message_id", "attempt_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"))
    attempt_no: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[Optional[datetime]]
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[Optional[str]] = mapped_column(Text)
    provider_response: Mapped[Optional[str]] = mapped_column(Text)
    worker: Mapped[Optional[str]] = mapped_column(String(64))


class NotificationPreference(Base):
    """Which channels a user (or every user of a role) gets a template on.

    Exactly one of ``user_id`` / ``role`` is set; ``subject`` is ``user:<id>`` or ``role:<role>``
    so that (subject, template) can be unique on both databases. ``template`` is a catalogue name
    or ``*`` (every template). ``quiet_hours``: None = the default (bots silent 22:00–07:00),
    False = this recipient accepts bot messages at night.
    """

    __tablename__ = "notification_preferences"
    __table_args__ = (
        UniqueConstraint("subject", "template"),
        CheckConstraint("(user_id IS NULL AND role IS NOT NULL) OR (user_id IS NOT NULL AND role IS NULL)",
                        name="one_subject"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Optional[str]] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(48), default="*")
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    quiet_hours: Mapped[Optional[bool]] = mapped_column(Boolean)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ChannelConfig(Base):
    """A channel's configuration saved by an administrator (validated with apprise at save
    time); it takes precedence over the ``ANJIAN_…`` environment settings of that channel."""

    __tablename__ = "channel_configs"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # email / webhook / wecom / dingtalk
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
