"""The 类比排查 clock, run by the sweep (workflows/passes.py ``sweep_pass``, flow and plain fallback
alike): a reminder to the task's district at the policy's moment before the due date, and once a
task is overdue (the day after its due date) a notice to the district's supervisors and the
supervisors of the level above. Each at most once per task: the claim is a conditional UPDATE of
the task (``reminded_at`` / ``overdue_notified_at``, read by two partial indexes) and the outbox's
``dedupe_key`` (cause ``analog:<task id>:reminder|overdue``). A reminder whose moment passed while
the task was already overdue is dropped, never sent late (the overdue notice speaks then)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from cases.clocks.legal_time import end_of_day_utc, shanghai_date
from cases.issuance import outbox
from cases.models import AnalogTask, Case, Jurisdiction, Project, User
from cases.analogs.proposals import REASON_LABELS
from state_machines.analog_policy import analog_policy

log = logging.getLogger("anjian.analogs")
NEXT_MEASURE = "提请上级主管部门督办"  # printed as 否则将提请上级主管部门督办


def _due_clause(now: datetime):
    today = shanghai_date(now)
    remind = and_(AnalogTask.status == "open", AnalogTask.reminded_at.is_(None), AnalogTask.remind_at <= now)
    overdue = and_(AnalogTask.status == "open", AnalogTask.overdue_notified_at.is_(None), AnalogTask.due_on < today)
    return or_(remind, overdue)


def tasks_due(session: Session, now: datetime) -> bool:
    """Anything for the clock to do (the sweep lane's one-row check)."""
    return session.execute(select(AnalogTask.id).where(_due_clause(now)).limit(1)).first() is not None


def _recipients(session: Session, code: str, roles: tuple[str, ...], cache: dict) -> list[User]:
    out: dict[int, User] = {}
    for role in roles:
        key = (role, code)
        if key not in cache:
            if role == "district_staff":
                users = list(session.scalars(select(User).where(
                    User.jurisdiction_code == code, User.role.in_(("officer", "supervisor")), User.active.is_(True))))
                cache[key] = users or outbox.nearest_supervisors(session, code)
            elif role == "district_supervisors":
                cache[key] = outbox.nearest_supervisors(session, code)
            else:  # upper_supervisors
                cache[key] = outbox.upper_supervisors(session, code)
        for u in cache[key]:
            out.setdefault(u.id, u)
    return list(out.values())


def fire_due_tasks(session: Session, now: datetime) -> dict[str, int]:
    """Claim and send what is due at ``now``, in the caller's transaction."""
    policy = analog_policy()
    today = shanghai_date(now)
    # A reminder that never went out before the task fell overdue is no longer true: dropped.
    dropped = session.execute(update(AnalogTask).where(
        AnalogTask.status == "open", AnalogTask.reminded_at.is_(None), AnalogTask.remind_at.is_not(None),
        AnalogTask.due_on < today).values(remind_at=None).execution_options(synchronize_session=False)).rowcount
    reminders = session.execute(update(AnalogTask).where(
        AnalogTask.status == "open", AnalogTask.reminded_at.is_(None), AnalogTask.remind_at <= now)
        .values(reminded_at=now).returning(AnalogTask.id).execution_options(synchronize_session=False)).scalars().all()
    overdue = session.execute(update(AnalogTask).where(
        AnalogTask.status == "open", AnalogTask.overdue_notified_at.is_(None), AnalogTask.due_on < today)
        .values(overdue_notified_at=now).returning(AnalogTask.id).execution_options(synchronize_session=False)).scalars().all()
    counts = {"analog_reminders": len(reminders), "analog_overdue": len(overdue), "analog_messages": 0}
    if dropped:
        counts["analog_reminders_dropped"] = dropped
    if not reminders and not overdue:
        return counts
    ids = sorted(set(reminders) | set(overdue))
    rows = session.execute(select(AnalogTask, Project.name, Jurisdiction.authority_name)
                           .join(Project, Project.id == AnalogTask.project_id)
                           .join(Jurisdiction, Jurisdiction.code == AnalogTask.jurisdiction_code)
                           .where(AnalogTask.id.in_(ids)).order_by(AnalogTask.id)).all()
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({r[0].source_case_id for r in rows})))}
    cache: dict = {}
    for task, project_name, authority in rows:
        case = cases[task.source_case_id]
        days_left = (task.due_on - today).days
        variables: dict[str, Any] = {
            "task": f"类比排查（{REASON_LABELS.get(task.reason, task.reason)}）：{project_name}",
            "project_name": project_name, "due_date": task.due_on.isoformat(),
            "deadline_at": end_of_day_utc(task.due_on).isoformat(), "deadline_provisional": False,
            # the sender and contact stay the proposing case's authority and officer (case facts)
            "task_authority": authority, "analog_task_id": task.id,
        }
        if task.id in reminders:
            counts["analog_messages"] += outbox.enqueue(
                session, case=case, template="reminder", cause=f"analog:{task.id}:reminder", now=now,
                recipients=_recipients(session, task.jurisdiction_code, policy.recipients.get("reminder", ()), cache),
                variables={**variables, "days_left": days_left, "light": "yellow", "rung": "analog_reminder"})
        if task.id in overdue:
            counts["analog_messages"] += outbox.enqueue(
                session, case=case, template="overdue_warning", cause=f"analog:{task.id}:overdue", now=now,
                recipients=_recipients(session, task.jurisdiction_code, policy.recipients.get("overdue", ()), cache),
                variables={**variables, "overdue_days": max(1, (today - task.due_on).days),
                           "next_measure": NEXT_MEASURE, "rung": "analog_overdue"})
    return counts


def sweep(db, now: datetime) -> dict[str, int]:
    """One transaction of :func:`fire_due_tasks`, for the sweep; never fails the sweep (what is not
    sent now stays due for the next one)."""
    try:
        with db.transaction() as s:
            return fire_due_tasks(s, now)
    except Exception:  # noqa: BLE001
        log.warning("sweep: the analogous-check clock failed; the next sweep tries again", exc_info=True)
        return {"analog_failed": 1}


def due_check(db, now: datetime) -> bool:
    """The sweep lane's check (workflows/loop.py): a task's reminder or overdue notice is due."""
    with db.session() as s:
        return tasks_due(s, now)
