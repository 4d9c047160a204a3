"""The 挂牌督办 board: which supervisions a user's subtree sees, and their stages by the clock.

A supervision is on the board of the staff whose subtree holds its listing authority or its
supervised authority (``GET /api/supervisions``, the cockpit's /cockpit/supervisions). Its stage:

- ``extension_requested`` (延期待审批) and ``lifted`` (已摘牌) are its status;
- a listing (``listed``) is ``overdue`` (已逾期) once the open 督办期限 (deadline key ``supervision``)
  is past its due instant, ``due`` (临近到期) once past its warn instant (the yellow light's window),
  else ``running`` (督办中).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from cases.ledger.access import subtree_codes
from cases.models import Deadline, Supervision, User

STAGE_LABELS = {"running": "督办中", "due": "临近到期", "overdue": "已逾期", "extension_requested": "延期待审批",
                "lifted": "已摘牌"}


def visible_supervisions(user: User) -> Select:
    codes = subtree_codes(user.jurisdiction_code)
    return select(Supervision).where(or_(Supervision.listing_jurisdiction_code.in_(codes),
                                         Supervision.supervised_jurisdiction_code.in_(codes)))


def _open_clock(*conditions) -> ColumnElement[bool]:
    return exists().where(Deadline.supervision_id == Supervision.id, Deadline.key == "supervision",
                          Deadline.status == "open", *conditions)


def clock_stage_clause(stage: str, now: datetime) -> ColumnElement[bool]:
    """``due`` or ``overdue`` (see the module's docstring) as a WHERE clause on supervisions."""
    listed = Supervision.status == "listed"
    if stage == "overdue":
        return and_(listed, _open_clock(Deadline.due_at <= now))
    if stage == "due":
        return and_(listed, _open_clock(Deadline.warn_at <= now, Deadline.due_at > now))
    if stage == "running":
        return and_(listed, ~_open_clock(Deadline.warn_at <= now))
    raise ValueError(stage)


def stage_counts(session: Session, user: User, now: datetime) -> dict[str, int]:
    """{stage: n} of the user's board, in one statement."""
    stage = case(
        (Supervision.status != "listed", Supervision.status),
        (_open_clock(Deadline.due_at <= now), "overdue"),
        (_open_clock(Deadline.warn_at <= now), "due"),
        else_="running")
    sub = visible_supervisions(user).with_only_columns(stage.label("stage")).subquery()
    counts = dict(session.execute(select(sub.c.stage, func.count()).group_by(sub.c.stage)).all())
    return {key: int(counts.get(key, 0)) for key in STAGE_LABELS}
