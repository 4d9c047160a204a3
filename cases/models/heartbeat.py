"""Worker heartbeats: each served flow records when it last ran (cases/platform/heartbeat.py, /readyz)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base


class WorkerHeartbeat(Base):
    """One row per worker and flow: the last time that flow ran to its end on that worker."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen_at: Mapped[datetime]
    pid: Mapped[Optional[int]] = mapped_column(Integer)
