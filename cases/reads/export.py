"""The ledger (台账) as rows for an export: the selection of ``case_lists.case_query`` in the order
of ``case_lists.sort_order``, one row per case with Chinese headers, read from the database in
batches (``yield_per``: a server-side cursor on PostgreSQL, ``fetchmany`` on SQLite) so that an
export of 100,000 cases never holds more than one batch of rows. No HTTP here: api/exports.py
writes the rows as .xlsx or CSV.

Every value is plain data — ``str``, ``date`` or ``None``; ``neutralise`` is what a spreadsheet
writer applies to user text so that no cell starts a formula (=, +, -, @, tab, CR).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Iterator

from sqlalchemy import case, null, select
from sqlalchemy.orm import Session, aliased

from cases.clocks.lights import light_expression
from cases.ledger.accident import GRADE_LABELS
from cases.reads.case_lists import case_query, due_date_of, sort_order
from cases.ledger.engine import get_registry
from cases.models import Building, Case, Enterprise, Jurisdiction, Project, User
from cases.models.inspections import Campaign
from cases.platform.clock import SHANGHAI

BATCH = 1000  # rows per fetch from the database

LIGHT_LABELS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "none": "无期限"}


@dataclass(frozen=True)
class Column:
    header: str
    type: str  # "text" or "date"
    width: int  # in characters, for the .xlsx


COLUMNS: tuple[Column, ...] = (
    Column("案件编号", "text", 24), Column("类型", "text", 14), Column("标题", "text", 40),
    Column("状态", "text", 12), Column("辖区", "text", 12), Column("责任单位", "text", 30),
    Column("工程项目", "text", 26), Column("房屋", "text", 20), Column("地点", "text", 30),
    Column("发现日期", "date", 12), Column("整改期限", "date", 12), Column("红黄绿灯", "text", 10),
    Column("结案日期", "date", 12), Column("承办人", "text", 12),
    # kind-specific (empty for the other kinds)
    Column("隐患等级", "text", 10), Column("重大事故隐患判定条目", "text", 14), Column("事故等级", "text", 12),
    Column("鉴定等级", "text", 16),
    Column("类别", "text", 14),  # the kind's category field: 隐患类别, 事故类型, 险情类型 (MachineDefinition.category_field)
    # the 专项整治 campaign the case was found in (ledger filter campaign_id)
    Column("专项行动", "text", 24),
)
HEADERS = tuple(c.header for c in COLUMNS)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A cell that a spreadsheet would read as a formula (or a DDE payload) gets a leading single
    quote, so it stays the text the user typed (OWASP "CSV injection")."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


@lru_cache(maxsize=None)
def _state_label(kind: str, version: int, state: str) -> str:
    try:
        return get_registry().get(kind, version).state(state).label
    except KeyError:
        return state


@lru_cache(maxsize=None)
def _kind_label(kind: str) -> str:
    try:
        return get_registry().latest(kind).label
    except KeyError:
        return kind


@lru_cache(maxsize=None)
def _field_options(kind: str, name: str) -> dict[str, str]:
    """The options {value: label} of a field of the kind's machine data (its creation or any action);
    the one dict per (kind, field) is shared: read it, never change it."""
    try:
        d = get_registry().latest(kind)
    except KeyError:
        return {}
    for spec in (*d.create_fields, *(f for a in d.actions for f in a.fields)):
        if spec.name == name and spec.options:
            return dict(spec.options)
    return {}


def _option_label(kind: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    return _field_options(kind, name).get(value, value)


def _category_column():
    """The category value of each kind's own field, read from ``details`` in SQL (one JSON path per
    kind, not the whole document per row)."""
    registry = get_registry()
    whens = [(Case.kind == kind, Case.details[field].as_string()) for kind in registry.kinds()
             if (field := registry.latest(kind).category_field)]
    return (case(*whens, else_=null()) if whens else null()).label("category")


@lru_cache(maxsize=None)
def _category_label(kind: str, value: str | None) -> str | None:
    try:
        field = get_registry().latest(kind).category_field
    except KeyError:
        return value
    return _option_label(kind, field, value) if field and value else None


def local_date(instant: datetime | None) -> date | None:
    return instant.astimezone(SHANGHAI).date() if instant is not None else None


# The joined tables as aliases: the filters' own subqueries (the jurisdiction subtree …) name these
# tables, and an embedded SELECT would correlate to an unaliased table joined here. Made once: an
# alias adapts each column on first use (~10 ms for these, every export twice before).
_NAMES = (aliased(Jurisdiction), aliased(Enterprise), aliased(Project), aliased(Building), aliased(User),
          aliased(Campaign))


def ledger_statement(actor: User, *, sort: str = "-created_at", now: datetime, **filters: Any):
    """The export's SELECT: the filtered, visible cases in list order, with the names it prints."""
    base = case_query(actor, now=now, **filters)
    jurisdiction, enterprise, project, building, assignee, campaign = _NAMES
    columns = (Case.id, Case.number, Case.kind, Case.machine_version, Case.state, Case.title, Case.location,
               Case.found_at, Case.clock_due_at, Case.closed_at, Case.severity, Case.hazard_item_code,
               Case.accident_grade, Case.appraisal_grade, jurisdiction.name.label("jurisdiction_name"),
               enterprise.name.label("enterprise_name"), project.name.label("project_name"),
               building.name.label("building_name"), assignee.display_name.label("assignee_name"),
               light_expression(now).label("light"), _category_column(), campaign.name.label("campaign_name"))
    return (base.with_only_columns(*columns, maintain_column_froms=False).select_from(Case)
            .outerjoin(jurisdiction, jurisdiction.code == Case.jurisdiction_code)
            .outerjoin(enterprise, enterprise.id == Case.enterprise_id)
            .outerjoin(project, project.id == Case.project_id)
            .outerjoin(building, building.id == Case.building_id)
            .outerjoin(assignee, assignee.id == Case.assignee_id)
            .outerjoin(campaign, campaign.id == Case.campaign_id)
            .order_by(*sort_order(sort)))


def ledger_rows(session: Session, actor: User, *, now: datetime, sort: str = "-created_at", batch: int = BATCH,
                **filters: Any) -> Iterator[tuple]:
    """The rows of ``COLUMNS``, fetched ``batch`` at a time. The filters are checked (422) when the
    statement is built — before the first row is yielded: from HTTP, build it first with
    ``ledger_statement`` and read it with ``statement_rows``."""
    return statement_rows(session, ledger_statement(actor, sort=sort, now=now, **filters), batch=batch)


def export_rows(session: Session, stmt, *, at_once: int, batch: int = BATCH) -> list[tuple] | Iterator[tuple]:
    """The rows of ``COLUMNS`` from a ``ledger_statement``: a list when there are fewer than
    ``at_once`` (read in one plain fetch — on PostgreSQL a server-side cursor costs its DECLARE,
    FETCHes and CLOSE, ~5 ms of a 200-row export), else an iterator over the whole selection read
    again ``batch`` rows at a time (the first read was a bounded one: ``at_once`` rows)."""
    head = list(statement_rows(session, stmt.limit(at_once), streamed=False))
    if len(head) < at_once:
        return head
    return statement_rows(session, stmt, batch=batch)


def statement_rows(session: Session, stmt, *, batch: int = BATCH, streamed: bool = True) -> Iterator[tuple]:
    """The rows of ``COLUMNS`` from a ``ledger_statement``, fetched ``batch`` at a time (``streamed``;
    else in one fetch: for a selection known to be short)."""
    result = session.execute(stmt.execution_options(yield_per=batch) if streamed else stmt)
    try:
        # Unpacked by position (the order of ledger_statement's columns): a Row's attribute access
        # costs ~1 µs each here, a third of the export's row work.
        for (_id, number, kind, version, state, title, location, found_at, clock_due_at, closed_at, severity,
             hazard_item_code, accident_grade, appraisal_grade, jurisdiction_name, enterprise_name, project_name,
             building_name, assignee_name, light, category, campaign_name) in result:
            open_ = closed_at is None
            yield (
                number, _kind_label(kind), title, _state_label(kind, version, state),
                jurisdiction_name, enterprise_name, project_name, building_name, location or None,
                local_date(found_at), due_date_of(clock_due_at) if open_ else None,
                LIGHT_LABELS.get(light, light) if open_ else None,
                local_date(closed_at), assignee_name,
                _option_label(kind, "severity", severity), hazard_item_code,
                GRADE_LABELS.get(accident_grade, accident_grade) if accident_grade else None,
                _option_label("dangerous_building", "appraisal_grade", appraisal_grade),
                _category_label(kind, category),
                campaign_name,
            )
    finally:
        result.close()
