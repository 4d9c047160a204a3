"""约谈 in the demo (``anjian demo``, cases/demo.py calls it): a 约谈提醒 of the officer's oldest
overdue-prone hazard in rectification, held a week ago with its unit, two commitments — one kept, one
still running — and an 约谈 scheduled for next week. Only a case whose history ends before the first
step is used, so the event log stays in time order."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Case, CaseEvent, Enterprise, User


def load_demo_interviews(session: Session, officer: User, now: datetime) -> int:
    from cases.interviews import services

    last_at = (select(CaseEvent.at).where(CaseEvent.case_id == Case.id).order_by(CaseEvent.seq.desc()).limit(1)
               .scalar_subquery())
    cases = session.scalars(select(Case).where(
        Case.kind == "hazard", Case.jurisdiction_code == officer.jurisdiction_code, Case.state == "rectifying",
        Case.enterprise_id.is_not(None), last_at < now - timedelta(days=9)).order_by(Case.id).limit(2)).all()
    if not cases:
        return 0
    held_case = cases[0]
    unit = session.get(Enterprise, held_case.enterprise_id)
    opened = now - timedelta(days=8)
    interview = services.create_interview(session, officer, {
        "case_id": held_case.id, "measure": "reminder", "reason": "隐患整改进度滞后，整改期限临近，提醒企业落实整改责任",
        "scheduled_at": (now - timedelta(days=7)).isoformat(), "place": "姑苏区住建局三楼会议室",
        "summon_enterprise": True}, opened)
    held = services.record_held(session, officer, interview.id, {
        "held_at": (now - timedelta(days=7)).isoformat(), "hosts": officer.display_name, "place": "姑苏区住建局三楼会议室",
        "minutes": f"通报了“{held_case.title}”整改滞后的情况；{unit.name}项目负责人说明了材料进场延误的原因，"
                   "表示立即增加作业人员，按期完成整改。",
        "attendees": [{"name": "周建华", "unit": unit.name, "position": "项目经理"},
                      {"name": "陈静", "unit": unit.name, "position": "专职安全员"}],
        "commitments": [
            {"content": "报送整改方案及进度计划", "responsible_person": "周建华", "within": 3, "unit": "working_day"},
            {"content": "完成全部隐患整改并报送整改报告", "responsible_person": "周建华",
             "due_date": (now + timedelta(days=5)).date().isoformat()}]}, now - timedelta(days=7))
    from cases.models import InterviewCommitment

    first = session.scalars(select(InterviewCommitment).where(InterviewCommitment.interview_id == held.id)
                            .order_by(InterviewCommitment.position)).first()
    services.mark_met(session, officer, first.id, "已报送《整改方案及进度计划》，经审核符合要求", now - timedelta(days=5))
    n = 1
    if len(cases) > 1:
        services.create_interview(session, officer, {
            "case_id": cases[1].id, "measure": "interview", "reason": "隐患整改不力，约谈企业主要负责人",
            "scheduled_at": (now + timedelta(days=6)).isoformat(), "place": "姑苏区住建局三楼会议室",
            "summon_enterprise": True}, now - timedelta(days=1))
        n += 1
    return n
