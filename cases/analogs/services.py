"""What people do with 类比排查 tasks: an inspection record closes them (the contract the
inspections package calls: ``close_tasks_for_inspection``), a supervisor cancels one with a reason."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from cases.clocks.legal_time import end_of_day_utc, shanghai_date
from cases.ledger.access import in_subtree, require_role
from cases.models import AnalogTask, Case, Inspection, User
from cases.platform.errors import ActionNotAllowed, Forbidden, ValidationFailed

TASK_FIELD = {"field": "analog_task_id", "label": "类比排查任务"}
REASON_MAX = 500


def close_tasks_for_inspection(session: Session, inspection: Inspection, now: datetime) -> list[int]:
    """Recording ``inspection`` (flushed: it has its id) closes analogous-check tasks of its project:
    the one it names (``analog_task_id``: must be of the same project, open, and proposed on or before
    the inspection day — else 422 naming 类比排查任务), or else every open task of the project
    proposed on or before the inspection day (an inspection made before the trigger is not its
    check). Each becomes ``done`` with the inspection's id and ``done_at``. Returns their ids."""
    day_end = end_of_day_utc(inspection.inspected_on)
    if inspection.analog_task_id is not None:
        task = session.get(AnalogTask, inspection.analog_task_id)
        problem = None
        if task is None or task.project_id != inspection.project_id:
            problem = "不是本次检查项目的类比排查任务"
        elif task.status != "open":
            problem = "该类比排查任务已完成或已撤销"
        elif task.created_at >= day_end:
            problem = f"检查日期早于该类比排查任务的提出日期（{_cn(shanghai_date(task.created_at))}）"
        if problem:
            raise ValidationFailed([{**TASK_FIELD, "message": problem}])
        which = AnalogTask.id == task.id
    elif inspection.project_id is None:
        return []
    else:
        which = AnalogTask.project_id == inspection.project_id
    done = session.execute(
        update(AnalogTask).where(which, AnalogTask.status == "open", AnalogTask.created_at < day_end)
        .values(status="done", inspection_id=inspection.id, done_at=now)
        .returning(AnalogTask.id).execution_options(synchronize_session=False)).scalars().all()
    for task_id in done:  # objects the session already holds read the new values
        held = session.identity_map.get((AnalogTask, (task_id,), None))
        if held is not None:
            session.expire(held)
    return sorted(done)


def cancel_task(session: Session, actor: User, task_id: int, reason: str, now: datetime) -> AnalogTask:
    """A supervisor whose subtree holds the task's project (or the case that proposed it) cancels an
    open task — the project finished, stopped, is the same site under another name — with a reason,
    recorded on the task (who, when, why)."""
    from cases.analogs.reads import get_task

    task = get_task(session, actor, task_id)  # 404 for what the actor may not see
    require_role(actor, "supervisor")
    if not in_subtree(session, actor.jurisdiction_code, task.jurisdiction_code):
        case = session.get(Case, task.source_case_id)
        if case is None or not in_subtree(session, actor.jurisdiction_code, case.jurisdiction_code):
            raise Forbidden("只有项目所在辖区或提出该任务的机关的监管负责人可以撤销类比排查任务")
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed([{"field": "reason", "label": "撤销理由", "message": "必填（例如：项目已竣工）"}])
    if len(text) > REASON_MAX:
        raise ValidationFailed([{"field": "reason", "label": "撤销理由", "message": f"不能超过{REASON_MAX}个字"}])
    claimed = session.execute(update(AnalogTask).where(AnalogTask.id == task.id, AnalogTask.status == "open")
                              .values(status="cancelled", cancelled_at=now, cancelled_by_id=actor.id, cancel_reason=text)
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise ActionNotAllowed("该类比排查任务已完成或已撤销，不能再撤销")
    session.refresh(task)
    return task


def _cn(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"
