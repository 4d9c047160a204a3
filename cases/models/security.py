"""Sessions and the security log: revoked tokens, and one row per security-relevant event
(logins, failures, lockouts, logouts, password changes, deactivations, permission denials,
admin acts). Login throttling counts failures in this log (cases/platform/sessions.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class RevokedToken(Base):
    """A bearer token ended before its expiry (logout). Keyed by the SHA-256 of the token, so that
    every token is revocable, also one without a ``jti``; purged once past ``expires_at``."""

    __tablename__ = "revoked_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    revoked_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SecurityEvent(Base):
    """One entry of the security log (``kind``: see cases.platform.sessions.KIND_LABELS).

    ``user_id`` is the account concerned (None for a login name that does not exist, or an address
    lockout); ``username`` the login name as typed (failures), ``client`` the client address;
    ``locked_until`` is set on lockout rows; ``actor_id`` is who did it when that is not the user
    (an admin deactivating someone)."""

    __tablename__ = "security_log"
    __table_args__ = (
        Index("ix_security_log_kind_username_at", "kind", "username", "at"),
        Index("ix_security_log_kind_client_at", "kind", "client", "at"),
        Index("ix_security_log_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[Optional[str]] = mapped_column(String(64))
    client: Mapped[Optional[str]] = mapped_column(String(64))
    method: Mapped[Optional[str]] = mapped_column(String(8))
    path: Mapped[Optional[str]] = mapped_column(String(300))
    target: Mapped[Optional[str]] = mapped_column(String(200))
    reason: Mapped[Optional[str]] = mapped_column(String(500))
    locked_until: Mapped[Optional[datetime]]
    detail: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
