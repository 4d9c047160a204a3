"""Core tables: jurisdictions, enterprises, projects, buildings, users, cases and their event log."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cases.models.base import Base

# BigInteger ids on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Jurisdiction(Base):
    """An administrative division (GB/T 2260 code) and the regulator that governs it."""

    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[Optional[str]] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    level: Mapped[str] = mapped_column(String(16))  # national / province / prefecture / county / township
    # Materialised path "320000/320500/320508/" makes "this jurisdiction and below" one indexed LIKE.
    path: Mapped[str] = mapped_column(String(128), index=True)
    # The regulator's name used on documents, e.g. 苏州市姑苏区住房和城乡建设局.
    authority_name: Mapped[str] = mapped_column(String(128))
    note: Mapped[Optional[str]] = mapped_column(String(128))


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    legal_representative: Mapped[Optional[str]] = mapped_column(String(64))
    contact_name: Mapped[Optional[str]] = mapped_column(String(64))
    contact_phone: Mapped[Optional[str]] = mapped_column(String(32))
    qualification: Mapped[Optional[str]] = mapped_column(String(200))
    credit_score: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[datetime]


class Project(Base):
    """A construction project (房屋市政工程)."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[Optional[str]] = mapped_column(String(64), unique=True)  # 施工许可证号 or project code
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(32), default="under_construction")
    # 工程类别 for campaign scopes: building (房屋建筑工程) / municipal (市政基础设施工程)
    project_kind: Mapped[str] = mapped_column(String(16), default="building", server_default="building")
    created_at: Mapped[datetime]

    parties: Mapped[list["ProjectParty"]] = relationship(
        back_populates="project", cascade="all, delete-orphan", lazy="selectin"
    )


class ProjectParty(Base):
    """An enterprise's role on a project: builder (建设), contractor (施工), supervisor (监理)."""

    __tablename__ = "project_parties"
    __table_args__ = (
        UniqueConstraint("project_id", "enterprise_id", "role"),
        CheckConstraint("role IN ('builder','contractor','supervisor')", name="role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    project: Mapped[Project] = relationship(back_populates="parties")
    enterprise: Mapped[Enterprise] = relationship(lazy="joined")


class Building(Base):
    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    structure: Mapped[str] = mapped_column(String(32))  # 砖混 / 砖木 / 框架 / 钢结构 / 土木 ...
    year_built: Mapped[Optional[int]] = mapped_column(Integer)
    floors: Mapped[Optional[int]] = mapped_column(Integer)
    use: Mapped[Optional[str]] = mapped_column(String(32))  # 住宅 / 经营 / 公共 / 自建房
    owner_name: Mapped[Optional[str]] = mapped_column(String(128))
    owner_phone: Mapped[Optional[str]] = mapped_column(String(32))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('officer','supervisor','admin','enterprise')", name="role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprises.id"))
    # Who this user reports to; the escalation ladder notifies "the assignee's supervisor".
    supervisor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    email: Mapped[Optional[str]] = mapped_column(String(200))
    phone: Mapped[Optional[str]] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # Bumped by a password change or a deactivation: every token issued before (which carries the
    # old value) is refused from the next request on (api/deps.py, cases/platform/sessions.py).
    token_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CaseNumberCounter(Base):
    """Gap-free counter behind case numbers: one row per (jurisdiction, kind code, year)."""

    __tablename__ = "case_number_counters"

    jurisdiction_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    kind_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


# An open case whose earliest due comes before its earliest warn (or that has no warn): red without
# having been yellow — the only red cases outside the past-warn range (ix_cases_open_due_first).
DUE_FIRST = ("closed_at IS NULL AND clock_due_at IS NOT NULL"
             " AND (clock_warn_at IS NULL OR clock_warn_at > clock_due_at)")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_jurisdiction_kind_state", "jurisdiction_code", "kind", "state"),
        Index("ix_cases_assignee_state", "assignee_id", "state"),
        # Open cases with what visibility and the light counts read: index-only at 1 M cases
        # (docs/performance.md "Scale").
        # Open cases by jurisdiction and kind with their clock summary: the light counts of a subtree
        # are index-only ranges of it (cases/reads/light_stats.py)...
        Index("ix_cases_open", "jurisdiction_code", "kind", postgresql_where=text("closed_at IS NULL"),
              sqlite_where=text("closed_at IS NULL"), postgresql_include=["clock_due_at", "clock_warn_at", "clock_live"]),
        # ... plus the few open cases moved up by 提级, found by their origin.
        Index("ix_cases_open_moved", "origin_jurisdiction_code",
              postgresql_where=text("closed_at IS NULL AND origin_jurisdiction_code <> jurisdiction_code"),
              sqlite_where=text("closed_at IS NULL AND origin_jurisdiction_code <> jurisdiction_code"),
              postgresql_include=["jurisdiction_code", "kind", "clock_due_at", "clock_warn_at", "clock_live"]),
        # Open cases by their earliest live due: the overdue list's page 1 is a range of it with LIMIT.
        Index("ix_cases_open_clock_due", "clock_due_at", "id", postgresql_where=text("closed_at IS NULL"),
              sqlite_where=text("closed_at IS NULL"),
              postgresql_include=["jurisdiction_code", "origin_jurisdiction_code", "kind"]),
        # The time-dependent minority of the counts (cases/reads/light_stats.py, migration 0008_counts): per
        # jurisdiction, a range of the past-warn cases (yellow, and red when also past due), the few
        # whose due comes before their warn (red without a past warn) and the open cases without a
        # live clock; the rest of the open cases is counted on write (CaseOpenCount).
        Index("ix_cases_open_j_warn", "jurisdiction_code", "kind", "clock_warn_at", postgresql_where=text("closed_at IS NULL"),
              sqlite_where=text("closed_at IS NULL"), postgresql_include=["clock_due_at"]),
        Index("ix_cases_open_unclocked", "jurisdiction_code", "kind",
              postgresql_where=text("closed_at IS NULL AND NOT clock_live"),
              sqlite_where=text("closed_at IS NULL AND NOT clock_live")),
        Index("ix_cases_open_due_first", "jurisdiction_code", "clock_due_at",
              postgresql_where=text(DUE_FIRST), sqlite_where=text(DUE_FIRST), postgresql_include=["kind", "clock_warn_at"]),
        # The cockpit's trend and 平均办结用时 (cases/reads/stats.py, migration 0010_stats): a subtree's
        # cases found / closed in a period are index-only ranges per jurisdiction; the id lets the
        # clock statistics join a subtree's cases without reading the table.
        Index("ix_cases_j_found", "jurisdiction_code", "found_at", postgresql_include=["id"]),
        Index("ix_cases_j_closed", "jurisdiction_code", "closed_at", postgresql_where=text("closed_at IS NOT NULL"),
              sqlite_where=text("closed_at IS NOT NULL"), postgresql_include=["found_at"]),
        # The ledger's default order (newest registered first): page 1 of every case is the index's end.
        Index("ix_cases_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # 320508-YH-2026-000123
    # Numbers the case had before a reclassification (a hazard found to be a major hazard gets a ZD
    # number), oldest first, comma-separated: still searchable and printed as 原编号.
    previous_numbers: Mapped[Optional[str]] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    machine_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    # The supervising authority; 提级 moves it to the parent jurisdiction.
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    # Where the case arose; unchanged by 提级 (the number keeps it too).
    origin_jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[Optional[str]] = mapped_column(String(32))  # inspection / self_check / public_report / ...
    severity: Mapped[Optional[str]] = mapped_column(String(16))  # hazard: general / serious
    project_id: Mapped[Optional[int]] = mapped_column(ForeignKey("projects.id"), index=True)
    building_id: Mapped[Optional[int]] = mapped_column(ForeignKey("buildings.id"), index=True)
    # the 专项整治 campaign the case was found in (cases/models/inspections.py)
    campaign_id: Mapped[Optional[int]] = mapped_column(ForeignKey("campaigns.id"), index=True)
    # The responsible unit chased for rectification.
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprises.id"), index=True)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Kind-specific fields (hazard item, accident casualties and grade, appraisal grade, ...),
    # validated against the kind's machine definition.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Promoted from details for filtering and dashboards.
    accident_grade: Mapped[Optional[str]] = mapped_column(String(16))
    appraisal_grade: Mapped[Optional[str]] = mapped_column(String(1))
    hazard_item_code: Mapped[Optional[str]] = mapped_column(String(16))
    rectification_rounds: Mapped[int] = mapped_column(Integer, default=0)  # failed re-inspections
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    found_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[Optional[datetime]]
    # Optimistic lock: bumped by every change an officer could overwrite (state, fields).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Last event sequence number. System events (a reminder sent, a rung fired) take a seq
    # without bumping ``version``, so a reminder never makes an officer's form stale.
    event_seq: Mapped[int] = mapped_column(Integer, default=1)
    # The case's clock summary — the earliest due_at and warn_at of its live clocks (deadlines open
    # and affects_light) and whether it has one. Written only by the database: a trigger on
    # deadlines keeps them equal to the deadlines rows (migration 0005_clocksum); read by the
    # light, the next due date, the overdue list, the queue and the counts (cases.clocks.deadlines).
    clock_due_at: Mapped[Optional[datetime]]
    clock_warn_at: Mapped[Optional[datetime]]
    clock_live: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    related: Mapped[list["CaseEnterprise"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CaseEnterprise.id"
    )


class CaseOpenCount(Base):
    """Open cases per (jurisdiction, kind), as signed rows summed on read: +1 when a case opens in a
    (jurisdiction, kind) — created, reopened, moved there by 提级/移交, reclassified — and -1 when it
    leaves one. Written only by the database (triggers on ``cases``, migration 0008_counts), appended
    and never updated, so concurrent transitions never wait on a shared counter row;
    ``cases.reads.light_stats.fold_open_counts`` collapses the rows to one per (jurisdiction, kind)."""

    __tablename__ = "case_open_counts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(Integer)


class CaseEnterprise(Base):
    """Enterprises related to a case besides the responsible one (建设/施工/监理 on the project)."""

    __tablename__ = "case_enterprises"
    __table_args__ = (UniqueConstraint("case_id", "enterprise_id", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class CaseEvent(Base):
    """Append-only history of a case, numbered 1, 2, 3… per case (``cases.event_seq``)."""

    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        # Events whose documents (文号, recipients, messages) are still to be derived, oldest first
        # (cases/issuance/derive.py; on id, so that the poll reads this index, not the table).
        Index("ix_case_events_derive_due", "id", "case_id", postgresql_where=text("derive_due IS NOT NULL"),
              sqlite_where=text("derive_due IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: the system
    action: Mapped[str] = mapped_column(String(48))
    from_state: Mapped[Optional[str]] = mapped_column(String(32))
    to_state: Mapped[Optional[str]] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[Optional[str]] = mapped_column(Text)
    # True while the event's documents are due (set with the event, cleared by the derivation that
    # issues them, in one transaction); NULL otherwise, so the partial index holds only the pending.
    derive_due: Mapped[Optional[bool]] = mapped_column(Boolean)


class HazardCatalogItem(Base):
    """An item of the major-hazard catalogue (重大事故隐患判定标准), versioned by edition."""

    __tablename__ = "hazard_catalog_items"
    __table_args__ = (UniqueConstraint("edition", "item_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    edition: Mapped[str] = mapped_column(String(16))
    document: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[str] = mapped_column(String(10))  # ISO date
    category_code: Mapped[str] = mapped_column(String(32))
    category_name: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True)


class EnterpriseCreditChange(Base):
    """Credit deductions (local tables) with the case that caused them."""

    __tablename__ = "enterprise_credit_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("cases.id"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
