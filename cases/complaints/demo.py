"""Demo data of the complaints (``anjian demo``, cases/demo.py calls it)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cases.models import User


DEMO_COMPLAINTS = 2


def load_demo_complaints(session: Session, officer: User, projects: list, now: datetime) -> int:
    """群众举报 (cases/complaints): a public report still waiting for its reply, and a 12345 referral
    about a site of the officer's district, answered."""
    from cases.complaints import services as complaints

    site = next((p for p in projects if p.jurisdiction_code == officer.jurisdiction_code), projects[0])
    web, _ = complaints.submit_public(session, {
        "jurisdiction_code": officer.jurisdiction_code, "content": "工地夜间塔吊作业，吊物从人行道上方经过，无人看管。",
        "location": site.address, "named_unit": site.name}, now - timedelta(days=3),
        client_key="demo", limit=1000)
    hotline, _ = complaints.refer_12345(session, officer, {
        "referral_no": "SZ12345-DEMO-0001", "content": "市民来电反映：工地围挡倒塌，堵住半条人行道。",
        "jurisdiction_code": officer.jurisdiction_code, "project_id": site.id, "location": site.address,
        "submitted_at": (now - timedelta(days=6)).isoformat()}, now - timedelta(days=6))
    complaints.reply(session, officer, hotline.case_id, "经现场核查，围挡已于当日恢复，已责令施工单位加强巡查。",
                     now - timedelta(days=2))
    return DEMO_COMPLAINTS
