"""The 类比排查 stage shared by tests/test_analogs.py, tests/pages/test_analog_pages.py and the
scenario: e1 (the responsible unit of the world's p1 in 姑苏区) has two other active sites — p3 in
姑苏区 and p4 in 吴中区 — and a finished one (p5); p6 (姑苏区, e2's) has an open 脚手架 hazard,
p7 (吴中区) one too, p8 (姑苏区) a 临时用电 hazard only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from cases.models import AnalogTask, Inspection, InspectionItem, Project, ProjectParty


@dataclass
class Sites:
    p3: int
    p4: int
    p5: int
    p6: int
    p7: int
    p8: int


def seed_sites(db, world, clock, drv) -> Sites:
    now = clock.now()
    ids = {}
    with db.transaction() as s:
        def project(name, code, enterprise_id, status="under_construction"):
            p = Project(name=name, jurisdiction_code=code, address=f"{name}工地", status=status, created_at=now)
            p.parties = [ProjectParty(enterprise_id=enterprise_id, role="contractor")]
            s.add(p)
            s.flush()
            return p.id

        ids["p3"] = project("姑苏二号地块", "320508", world.e1.id)
        ids["p4"] = project("吴中科技园三期", "320506", world.e1.id)
        ids["p5"] = project("姑苏已竣工项目", "320508", world.e1.id, status="completed")
        ids["p6"] = project("姑苏商业综合体", "320508", world.e2.id)
        ids["p7"] = project("吴中安置房", "320506", world.e2.id)
        ids["p8"] = project("姑苏学校改扩建", "320508", world.e2.id)
    sites = Sites(**ids)
    # records of a hazard category: open hazards on p6 and p7 (脚手架), p8 (临时用电)
    drv.create("hazard", project_id=sites.p6, category="scaffolding", enterprise_id=world.e2.id, title="外架连墙件缺失")
    drv.create("hazard", world.officer_wz, project_id=sites.p7, category="scaffolding", enterprise_id=world.e2.id,
               jurisdiction_code="320506", title="吴中外架连墙件缺失", location="东吴北路")
    drv.create("hazard", project_id=sites.p8, category="power", enterprise_id=world.e2.id, title="配电箱无漏保")
    return sites


def register_major_hazard(drv, world, **extra) -> dict:
    """A major hazard (7.2 连墙件整层缺失: category 脚手架工程) on p1, registered: the trigger."""
    case = drv.create("major_hazard", title="1号楼外架连墙件整层缺失", hazard_item_code="7.2")
    return drv.act(case, "register", fields={
        "enterprise_id": world.e1.id, "hazard_item_code": "7.2", "stop_work_scope": "whole",
        "requirements": "立即停止外架作业，补设连墙件", "rectification_days": 30, **extra})


def tasks_of(db, case_id: int) -> list[AnalogTask]:
    with db.session() as s:
        rows = list(s.scalars(select(AnalogTask).where(AnalogTask.source_case_id == case_id).order_by(AnalogTask.rank)))
        s.expunge_all()
        return rows


def record_inspection(db, clock, world, project_id: int, *, on: date, findings: int = 0, case_id: int | None = None,
                      analog_task_id: int | None = None, jurisdiction_code: str = "320508"):
    """An inspection record inserted with the ORM (the inspections helper's service is not merged
    yet) and closed through the contract function, as its service will."""
    from cases.analogs.services import close_tasks_for_inspection

    with db.transaction() as s:
        i = Inspection(jurisdiction_code=jurisdiction_code, project_id=project_id, inspected_on=on,
                       inspection_type="special", inspectors=[{"user_id": world.officer.id, "name": "officer"}],
                       analog_task_id=analog_task_id, summary="类比排查", findings=findings,
                       created_by_id=world.officer.id, created_at=clock.now())
        s.add(i)
        s.flush()
        if case_id is not None:
            s.add(InspectionItem(inspection_id=i.id, position=1, item_code="7.2", text="连墙件", category="scaffolding",
                                 major_hazard_item=None, result="fail", case_id=case_id))
        closed = close_tasks_for_inspection(s, i, clock.now())
        return i.id, closed
