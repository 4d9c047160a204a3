"""Idempotency keys: the first outcome of a request a client sent with ``Idempotency-Key``
(cases/platform/idempotency.py, api/idempotency.py, docs/guarantees.md "Idempotent requests")."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class IdempotencyKey(Base):
    """One key of one user. A row is *in flight* (``lock_token`` names the request that owns it,
    since ``locked_at``), then *done* (``response_status`` set: the response to replay).
    ``committed_at`` is written in the same transaction as the request's effect, so a row without it
    proves the effect never committed (a crashed request's key may be taken over after a while)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)  # path and query string
    body_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    lock_token: Mapped[Optional[str]] = mapped_column(String(32))
    locked_at: Mapped[Optional[datetime]]
    committed_at: Mapped[Optional[datetime]]
    response_status: Mapped[Optional[int]] = mapped_column(Integer)
    response_headers: Mapped[Optional[list[Any]]] = mapped_column(JSON)
    response_body: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    completed_at: Mapped[Optional[datetime]]
