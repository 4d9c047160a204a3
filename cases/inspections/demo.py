"""Demo inspections (called by cases/demo.py): a few inspections of the demo officer's projects and one
of a building — without findings, with findings (one turned into a case), 四不两直 — recorded through
the services, so they carry 文号 and items like real ones."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cases.inspections import services
from cases.inspections.checklists import latest_versions
from cases.models import Building, Project, User
from cases.platform.clock import to_local


def load_demo_inspections(session: Session, rng: random.Random, officer: User, projects: list[Project],
                          buildings: list[Building], now: datetime) -> int:
    lists = {c.code: c for c in latest_versions(session)}
    mine = [p for p in projects if p.jurisdiction_code == officer.jurisdiction_code][:4]
    plans = [("comprehensive", "daily", False, {}), ("comprehensive", "comprehensive", True, {"JSJ-02": "3号楼外架12–15层连墙件整层缺失"}),
             ("dangerous_works", "special", True, {"WD-04": "深基坑未见第三方监测报告"}),
             ("comprehensive", "follow_up", False, {"GC-01": "5层楼板临边防护栏杆缺失约10米"})]
    made = 0
    for n, (project, (code, kind, unannounced, fails)) in enumerate(zip(mine, plans)):
        chk = lists.get(code)
        if chk is None:
            continue
        at = now - timedelta(days=3 + 7 * n, hours=rng.uniform(0, 4))
        services.record_inspection(session, officer, {
            "project_id": project.id, "inspected_on": to_local(at).date().isoformat(), "inspection_type": kind,
            "unannounced": unannounced, "checklist_id": chk.id,
            "summary": "现场在建单体3栋，塔吊2台，作业人员约120人。",
            "handling": "对发现的问题当场责令整改，并依法下达隐患整改通知书。" if fails else "",
            "items": [{"item_code": it["code"], "result": "fail" if it["code"] in fails else "pass",
                       "note": fails.get(it["code"], "")} for it in chk.items]}, at)
        made += 1
    building = next((b for b in buildings if b.jurisdiction_code == officer.jurisdiction_code), None)
    chk = lists.get("existing_buildings")
    if building is not None and chk is not None:
        at = now - timedelta(days=5)
        services.record_inspection(session, officer, {
            "building_id": building.id, "inspected_on": to_local(at).date().isoformat(), "inspection_type": "special",
            "checklist_id": chk.id, "items": [{"item_code": it["code"], "result": "pass"} for it in chk.items]}, at)
        made += 1
    return made
