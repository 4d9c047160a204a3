"""Inspection work (issue 11): checklists (检查表, versioned data), inspection records (检查记录)
with their items, campaigns (专项整治) with rounds and the rungs fired for them, and the
analogous checks (类比排查 / 举一反三) proposed from a major hazard or a graded accident.

A hazard found by an inspection is an ordinary case; the link is kept both ways:
``inspection_items.case_id`` names the case an item became, and the case's creation event carries
the inspection's id. Cases found in a campaign carry ``cases.campaign_id``."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base
from cases.models.core import BigId


class Checklist(Base):
    """One version of a checklist. ``items``: a list of ``{code, text, category, basis,
    major_hazard_item}`` (``major_hazard_item``: the 2022 catalogue code a failed item proposes).
    Versions are only ever added; an inspection keeps the version it used."""

    __tablename__ = "checklists"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    applies_to: Mapped[str] = mapped_column(String(16), default="project")  # project / building
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sha256: Mapped[str] = mapped_column(String(64))  # of the YAML it was loaded from
    loaded_at: Mapped[datetime]
    loaded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: shipped with the release


class Campaign(Base):
    """A 专项整治 / 专项行动 organised by ``jurisdiction_code``'s authority. ``scope_codes``: the
    jurisdictions it covers (empty: the organiser's whole subtree); ``project_kinds``: the project
    kinds in scope (empty: all); ``coverage_target``: percent of in-scope projects each round must
    inspect."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    scope_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    project_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    coverage_target: Mapped[int] = mapped_column(Integer, default=100)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active / ended / cancelled
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class CampaignRound(Base):
    """A round of a campaign (第一轮6月底前全覆盖): its due date is a clock for every district in scope."""

    __tablename__ = "campaign_rounds"
    __table_args__ = (UniqueConstraint("campaign_id", "round_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    round_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)


class CampaignRoundFiring(Base):
    """A rung of a round's clock fired for one district behind it (a reminder, a 督办函): unique, so
    a rung fires once per round and district however often the sweep runs."""

    __tablename__ = "campaign_round_firings"
    __table_args__ = (UniqueConstraint("round_id", "jurisdiction_code", "rung"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("campaign_rounds.id", ondelete="CASCADE"))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    rung: Mapped[str] = mapped_column(String(32))
    fired_at: Mapped[datetime]
    coverage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the figures the rung saw
    document_number: Mapped[Optional[str]] = mapped_column(String(64))


class AnalogTask(Base):
    """A 类比排查 task: inspect ``project_id`` because of ``source_case_id`` (a major hazard
    registered or an accident graded). ``reason``: same_enterprise / same_category. Done when an
    inspection of the project records it (``inspection_id``)."""

    __tablename__ = "analog_tasks"
    __table_args__ = (
        UniqueConstraint("source_case_id", "project_id"),
        Index("ix_analog_tasks_j_status", "jurisdiction_code", "status"),
        # The sweep's two claims (cases/analogs/clock.py): open tasks by reminder instant and due date.
        Index("ix_analog_tasks_open_remind", "remind_at", postgresql_where=text("status = 'open' AND reminded_at IS NULL"),
              sqlite_where=text("status = 'open' AND reminded_at IS NULL")),
        Index("ix_analog_tasks_open_due", "due_on", postgresql_where=text("status = 'open' AND overdue_notified_at IS NULL"),
              sqlite_where=text("status = 'open' AND overdue_notified_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    reason: Mapped[str] = mapped_column(String(32))
    category: Mapped[Optional[str]] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open / done / cancelled
    inspection_id: Mapped[Optional[int]] = mapped_column(BigId)  # the inspection that did it (no FK: the tables name each other)
    created_at: Mapped[datetime]
    done_at: Mapped[Optional[datetime]]
    # migration 0016_analogs_more (cases/analogs/, docs/analogs.md): what proposed it, its rank among
    # the proposals, why the project was chosen, the reminder instant and when the reminder and the
    # overdue notice went out, and a supervisor's cancellation with its reason.
    trigger: Mapped[Optional[str]] = mapped_column(String(32))
    rank: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    basis: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    remind_at: Mapped[Optional[datetime]]
    reminded_at: Mapped[Optional[datetime]]
    overdue_notified_at: Mapped[Optional[datetime]]
    cancelled_at: Mapped[Optional[datetime]]
    cancelled_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[Optional[str]] = mapped_column(Text)


class Inspection(Base):
    """A 检查记录: who inspected what, when, how, with which checklist version, in which campaign
    round or analogous-check task, and its 文号 once issued."""

    __tablename__ = "inspections"
    __table_args__ = (
        Index("ix_inspections_j_date", "jurisdiction_code", "inspected_on"),
        Index("ix_inspections_campaign", "campaign_id", "round_no", "project_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[Optional[str]] = mapped_column(String(64), unique=True)  # 文号 of the 检查记录
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    project_id: Mapped[Optional[int]] = mapped_column(ForeignKey("projects.id"), index=True)
    building_id: Mapped[Optional[int]] = mapped_column(ForeignKey("buildings.id"), index=True)
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprises.id"), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)
    inspection_type: Mapped[str] = mapped_column(String(16))  # daily / special / follow_up / comprehensive / key
    unannounced: Mapped[bool] = mapped_column(Boolean, default=False)  # 四不两直
    inspectors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{user_id, name}]
    checklist_id: Mapped[Optional[int]] = mapped_column(ForeignKey("checklists.id"))
    campaign_id: Mapped[Optional[int]] = mapped_column(ForeignKey("campaigns.id"))
    round_no: Mapped[Optional[int]] = mapped_column(Integer)
    analog_task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("analog_tasks.id"))
    place: Mapped[str] = mapped_column(String(300), default="")
    summary: Mapped[str] = mapped_column(Text, default="")      # 检查情况
    handling: Mapped[str] = mapped_column(Text, default="")     # 处理意见
    findings: Mapped[int] = mapped_column(Integer, default=0)   # failed items
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # rendered files: sha256, paths
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class InspectionItem(Base):
    """One checklist item's result: pass / fail / na, a note, an optional photo (stored like
    evidence, by content hash), and the case a failed item became."""

    __tablename__ = "inspection_items"
    __table_args__ = (UniqueConstraint("inspection_id", "item_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    item_code: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(500))
    category: Mapped[Optional[str]] = mapped_column(String(64))
    major_hazard_item: Mapped[Optional[str]] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(8))  # pass / fail / na
    note: Mapped[str] = mapped_column(Text, default="")
    photo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # sha256, media_type, paths, photo_meta
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
