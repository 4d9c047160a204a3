"""A referral for the rendered samples (``make samples``, scripts/samples.py): the major hazard of
the samples' story, whose site worked on under the stop-work order, referred to the police."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Document, Referral, User
from cases.platform.clock import to_local


def _cn(at: datetime) -> str:
    d = to_local(at).date()
    return f"{d.year}年{d.month}月{d.day}日"


def sample_referral(session: Session, officer: User, case_id: int, now: datetime, *, body_name: str) -> Referral:
    from cases.referrals import services

    stop = session.scalars(select(Document).where(Document.case_id == case_id, Document.doc_type == "stop_work_order")
                           .order_by(Document.id)).first()
    order = f"《责令停工通知书》（{stop.number}）" if stop is not None else "责令停工通知书"
    issued = _cn(stop.issued_at) if stop is not None else "此前"
    facts = (f"{issued}，我局监督检查发现该项目地下车库顶板高支模架体未按专项施工方案搭设、专项施工方案未经专家论证，"
             f"属重大事故隐患，当即下达{order}，责令停止地下车库顶板区域施工。{_cn(now)}复查时发现，施工单位拒不执行停工指令，"
             f"现场仍有17名作业人员在该高支模区域进行钢筋绑扎和混凝土浇筑准备作业，架体未作任何整改，"
             f"随时可能发生坍塌，具有发生重大伤亡事故的现实危险。")
    return services.refer(session, officer, case_id, {
        "target": "public_security", "body_name": body_name, "facts": facts,
        "attachments": ["责令停工通知书（复印件）", "现场检查记录及复查记录（复印件）", "复查现场照片及视频资料",
                        "高支模专项施工方案及专家论证情况说明"]}, now)


def load_demo_referrals(session: Session, officer: User, now: datetime) -> int:
    """移送 in the demo (``anjian demo``, cases/demo.py calls it): the officer's oldest registered major
    hazard referred to the police five days ago (its reply overdue by now) and to the licence authority
    two days ago (awaiting the reply). Only a case whose history ends before the referral is used, so
    the event log stays in time order."""
    from datetime import timedelta

    from cases.models import Case, CaseEvent
    from cases.referrals import services

    last_at = (select(CaseEvent.at).where(CaseEvent.case_id == Case.id).order_by(CaseEvent.seq.desc()).limit(1)
               .scalar_subquery())
    case = session.scalars(select(Case).where(
        Case.kind == "major_hazard", Case.jurisdiction_code == officer.jurisdiction_code,
        Case.state.in_(("registered", "rectifying")), last_at < now - timedelta(days=6)).order_by(Case.id)).first()
    if case is None:
        return 0
    bodies = services.bodies_for(session, case.jurisdiction_code)
    sample_referral(session, officer, case.id, now - timedelta(days=5), body_name=bodies["public_security"][0])
    services.refer(session, officer, case.id, {"target": "licence_authority", "body_name": bodies["licence_authority"][0]},
                   now - timedelta(days=2))
    return 2
