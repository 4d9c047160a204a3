"""Official documents (文书) a case produces: issued and numbered by a transition, rendered once,
stored content-addressed with their hash."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class Document(Base):
    """One issued document: its 文号, the variables snapshot taken when it was issued, and — once
    rendered — the SHA-256 of its PDF and where the PDF and printable HTML are stored.

    ``status``: ``issued`` (numbered, not yet rendered) → ``rendered`` or ``failed`` (``error`` says
    why; nothing is stored for a failed document). ``cause`` names what issued it
    (``action:<event id>``); one document of a type per cause.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("case_id", "cause", "doc_type"),
        Index("ix_documents_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    doc_type: Mapped[str] = mapped_column(String(48))  # template name (notifications/rendering/catalog.py)
    number: Mapped[str] = mapped_column(String(64), unique=True)  # 文号
    title: Mapped[str] = mapped_column(String(64))
    issuing_jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # snapshot at issue
    status: Mapped[str] = mapped_column(String(16), default="issued")  # issued / rendered / failed
    sha256: Mapped[Optional[str]] = mapped_column(String(64))  # of the PDF
    pdf_path: Mapped[Optional[str]] = mapped_column(String(200))  # relative to the data dir
    html_path: Mapped[Optional[str]] = mapped_column(String(200))
    error: Mapped[Optional[str]] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime]
    rendered_at: Mapped[Optional[datetime]]
    # Transient render errors (disk, …) are retried with backoff: attempts so far, and when next.
    render_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_render_at: Mapped[Optional[datetime]]
