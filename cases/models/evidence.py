"""Evidence (证据材料): photos and PDFs attached to a case, or to one action of it (整改前后照片,
复查照片). The bytes live under the data dir, addressed by their SHA-256 (cases/evidence/storage.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class Evidence(Base):
    """One upload. ``purpose``: before / after / review / other (cases.evidence.PURPOSES);
    ``event_id``: the action (case event) it belongs to, if any. ``media_type`` is what the bytes
    are (sniffed), ``sha256`` their hash; ``photo_meta`` the photo's own EXIF time and place.
    Each upload is a row (and an ``evidence_added`` event on the case); a second upload of the same
    bytes for the same case and purpose answers with the first row instead."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_case_id_purpose", "case_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    event_id: Mapped[Optional[int]] = mapped_column(ForeignKey("case_events.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))  # as uploaded: shown, never used to read a file
    note: Mapped[Optional[str]] = mapped_column(Text)
    width: Mapped[Optional[int]] = mapped_column(Integer)   # as displayed (EXIF orientation applied)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    photo_meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # taken_at, taken_offset, gps, camera
    stored_path: Mapped[str] = mapped_column(String(200))   # relative to the data dir
    display_path: Mapped[Optional[str]] = mapped_column(String(200))
    thumb_path: Mapped[Optional[str]] = mapped_column(String(200))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]
