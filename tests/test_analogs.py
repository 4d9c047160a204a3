"""类比排查 (cases/analogs/): proposals on a major hazard's registration, a hazard's reclassification
and an accident's grading (never on an ordinary hazard), no duplicates, the category rule, due dates
in working days across a holiday, closing by an inspection record (the contract function),
cancelling, and who sees what. Both databases (the ``db`` fixture)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from cases.analogs import proposals
from cases.analogs.services import close_tasks_for_inspection
from cases.models import Inspection
from cases.platform.errors import ValidationFailed
from state_machines.analog_policy import analog_policy, load_analog_policy
from tests.analog_world import record_inspection, register_major_hazard, seed_sites, tasks_of
from tests.machine_paths import HttpDriver

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def drv(api, world, clock):
    return HttpDriver(api, world, clock)


def test_major_hazard_registration_proposes_the_units_other_sites_and_same_category_projects(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = register_major_hazard(drv, world)
    tasks = tasks_of(db, case["id"])
    got = [(t.project_id, t.reason, t.jurisdiction_code) for t in tasks]
    # the unit's two other active sites (its own district first), then 姑苏区's open 脚手架 hazard site;
    # not p1 (the case's own site), not p5 (completed), not p7 (吴中区: outside 姑苏区), not p8 (临时用电)
    assert got == [(sites.p3, "same_enterprise", "320508"), (sites.p4, "same_enterprise", "320506"),
                   (sites.p6, "same_category", "320508")]
    assert {t.category for t in tasks} == {"scaffolding"}
    assert {t.trigger for t in tasks} == {"major_hazard_registered"}
    # registered Monday 23 November 2026: 10 working days → Monday 7 December; reminder Thursday 3rd, 09:00
    assert {t.due_on for t in tasks} == {date(2026, 12, 7)}
    assert {t.remind_at for t in tasks} == {datetime(2026, 12, 3, 9, tzinfo=SHANGHAI).astimezone(timezone.utc)}
    assert tasks[2].basis["open_cases"] == 1
    # the registration event says what was proposed
    event = [e for e in drv.events(case) if e["action"] == "register"][-1]
    assert event["payload"]["analog_tasks"]["proposed"] == 3
    assert event["payload"]["analog_tasks"]["same_enterprise"] == 2
    # and the API lists them on the case, with their project, reason and countdown
    r = drv.client(world.officer).get(f"/api/cases/{case['id']}/analog-tasks")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["project"]["name"] for i in items] == ["姑苏二号地块", "吴中科技园三期", "姑苏商业综合体"]
    assert [i["reason_label"] for i in items] == ["同一企业其他在建项目"] * 2 + ["同类隐患"]
    assert {i["status"] for i in items} == {"open"} and items[0]["countdown"] == "还剩10个工作日"
    assert items[0]["record_url"] == f"/inspections/new?project_id={sites.p3}&analog_task_id={items[0]['id']}"


def test_an_ordinary_hazard_proposes_nothing(db, world, clock, drv):
    seed_sites(db, world, clock, drv)
    case = drv.create("hazard", project_id=world.p1.id, category="scaffolding")
    case = drv.act(case, "register")
    assert case["state"] == "registered"
    assert tasks_of(db, case["id"]) == []


def test_a_hazard_found_to_be_major_proposes_once_whatever_happens_next(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = drv.create("hazard", project_id=world.p1.id, category="scaffolding")
    case = drv.act(case, "reclassify", fields={"hazard_item_code": "7.2", "stop_work_scope": "whole",
                                               "reason": "连墙件整层缺失", "requirements": "停止外架作业",
                                               "enterprise_id": world.e1.id})
    tasks = tasks_of(db, case["id"])
    assert {t.project_id for t in tasks} == {sites.p3, sites.p4, sites.p6}
    assert {t.trigger for t in tasks} == {"major_hazard_reclassified"}
    # a second trigger on the same case (the proposal run again) adds nothing
    with db.transaction() as s:
        from cases.models import Case

        summary = proposals.propose(s, s.get(Case, case["id"]), "major_hazard_registered", clock.now())
    assert summary["proposed"] == 0
    assert len(tasks_of(db, case["id"])) == 3


def test_accident_grading_proposes_and_a_regrade_adds_only_what_is_new(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = drv.create("accident", project_id=world.p1.id, accident_type="fall")
    case = drv.act(case, "register", fields={"enterprise_id": world.e1.id, "deaths": 1, "serious_injuries": 0,
                                             "minor_injuries": 0, "direct_loss": 1_500_000})
    assert case["accident_grade"] == "ordinary"
    first = tasks_of(db, case["id"])
    # 高处坠落 → 高处作业 and 脚手架工程: p6's 脚手架 hazard in 姑苏区
    assert [(t.project_id, t.reason) for t in first] == [(sites.p3, "same_enterprise"), (sites.p4, "same_enterprise"),
                                                         (sites.p6, "same_category")]
    assert {t.due_on for t in first} == {date(2026, 12, 14)}  # 15 working days
    # three deaths: 较大 — the city investigates; its subtree now includes p7's 脚手架 hazard (吴中区)
    case = drv.act(drv.get(case, world.supervisor), "update_casualties", world.supervisor,
                   fields={"deaths": 3, "serious_injuries": 0, "minor_injuries": 0, "direct_loss": 1_500_000})
    assert case["accident_grade"] == "larger"
    again = tasks_of(db, case["id"])
    assert sorted(t.project_id for t in again) == sorted([sites.p3, sites.p4, sites.p6, sites.p7])
    assert len({t.project_id for t in again}) == len(again)  # unique per (case, project)
    assert {t.id for t in first} <= {t.id for t in again}


def test_an_accident_without_a_mapped_category_proposes_only_the_units_sites(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = drv.create("accident", project_id=world.p1.id, accident_type="other")
    drv.act(case, "register", fields={"enterprise_id": world.e1.id, "deaths": 1, "serious_injuries": 0,
                                      "minor_injuries": 0, "direct_loss": 1_500_000})
    assert {(t.project_id, t.reason) for t in tasks_of(db, case["id"])} == {(sites.p3, "same_enterprise"),
                                                                             (sites.p4, "same_enterprise")}


def test_due_dates_run_in_working_days_across_national_day(db, clock):
    policy = analog_policy()
    # Monday 28 September 2026: 10 working days skip 1–7 October and count Saturday 10 October (调休)
    now = datetime(2026, 9, 28, 10, tzinfo=SHANGHAI).astimezone(timezone.utc)
    with db.session() as s:
        due_on, remind_at = proposals.due_dates(s, "major_hazard_registered", now, policy)
    assert due_on == date(2026, 10, 16)
    assert remind_at == datetime(2026, 10, 14, 9, tzinfo=SHANGHAI).astimezone(timezone.utc)
    # a period shorter than the reminder lead: no reminder (never sent late), the due date stands
    with db.session() as s:
        short = load_analog_policy()
        object.__setattr__(short, "reminder_before", 20)
        due_on, remind_at = proposals.due_dates(s, "major_hazard_registered", now, short)
    assert due_on == date(2026, 10, 16) and remind_at is None


def test_an_inspection_record_closes_the_tasks_of_its_project(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = register_major_hazard(drv, world)
    by_project = {t.project_id: t for t in tasks_of(db, case["id"])}
    today = date(2026, 11, 23)
    # an inspection made before the major hazard was found is not its analogous check
    _, closed = record_inspection(db, clock, world, sites.p3, on=date(2026, 11, 20))
    assert closed == []
    # naming a task of another project: 422 on 类比排查任务
    with pytest.raises(ValidationFailed) as refused:
        record_inspection(db, clock, world, sites.p3, on=today, analog_task_id=by_project[sites.p6].id)
    assert refused.value.errors[0]["label"] == "类比排查任务"
    # nothing found: the project's open task is done, with the inspection
    inspection_id, closed = record_inspection(db, clock, world, sites.p3, on=today)
    assert closed == [by_project[sites.p3].id]
    # findings: a new case linked from the failed item
    found = drv.create("hazard", project_id=sites.p6, category="scaffolding", enterprise_id=world.e2.id, title="剪刀撑缺失")
    second_id, closed = record_inspection(db, clock, world, sites.p6, on=today, findings=1, case_id=found["id"],
                                          analog_task_id=by_project[sites.p6].id)
    assert closed == [by_project[sites.p6].id]
    # a done task is not closed again, nor may it be named again
    with pytest.raises(ValidationFailed):
        record_inspection(db, clock, world, sites.p3, on=today, analog_task_id=by_project[sites.p3].id)
    after = {t.project_id: t for t in tasks_of(db, case["id"])}
    assert (after[sites.p3].status, after[sites.p3].inspection_id) == ("done", inspection_id)
    assert (after[sites.p6].status, after[sites.p6].inspection_id) == ("done", second_id)
    assert after[sites.p4].status == "open" and after[sites.p3].done_at == clock.now()
    items = {i["project"]["id"]: i for i in drv.client(world.officer).get(f"/api/cases/{case['id']}/analog-tasks").json()["items"]}
    assert items[sites.p3]["findings"] == 0 and items[sites.p3]["inspection"]["id"] == inspection_id
    assert items[sites.p6]["findings"] == 1 and [c["id"] for c in items[sites.p6]["cases_found"]] == [found["id"]]
    assert items[sites.p6]["record_url"] is None
    # a building inspection (no project) closes nothing
    with db.transaction() as s:
        i = Inspection(jurisdiction_code="320508", building_id=world.b1.id, inspected_on=today, inspection_type="daily",
                       created_by_id=world.officer.id, created_at=clock.now())
        s.add(i)
        s.flush()
        assert close_tasks_for_inspection(s, i, clock.now()) == []


def test_a_supervisor_cancels_a_task_with_a_reason(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = register_major_hazard(drv, world)
    task = {t.project_id: t for t in tasks_of(db, case["id"])}[sites.p4]
    url = f"/api/analog-tasks/{task.id}/cancel"
    assert drv.client(world.officer).post(url, json={"reason": "项目已竣工"}).status_code == 403
    r = drv.client(world.supervisor).post(url, json={"reason": "  "})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "撤销理由", r.text
    r = drv.client(world.supervisor).post(url, json={"reason": "项目已于11月竣工验收"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["cancelled"]["reason"] == "项目已于11月竣工验收"
    assert body["cancelled"]["by"]["id"] == world.supervisor.id
    assert drv.client(world.supervisor).post(url, json={"reason": "再撤销"}).status_code == 409
    assert drv.client(world.supervisor).get("/api/analog-tasks", params={"status": "cancelled"}).json()["total"] == 1


def test_who_sees_the_tasks(db, world, clock, drv):
    sites = seed_sites(db, world, clock, drv)
    case = register_major_hazard(drv, world)
    # another district: not the case (404) — but the task for its own project (p4), and only that
    wz = drv.client(world.officer_wz)
    assert wz.get(f"/api/cases/{case['id']}/analog-tasks").status_code == 404
    assert [i["project"]["id"] for i in wz.get("/api/analog-tasks").json()["items"]] == [sites.p4]
    # the city sees all three; filters by jurisdiction, source case and status
    city = drv.client(world.supervisor)
    assert city.get("/api/analog-tasks").json()["total"] == 3
    assert city.get("/api/analog-tasks", params={"jurisdiction": "320506"}).json()["total"] == 1
    assert city.get("/api/analog-tasks", params={"source_case_id": case["id"], "status": "open"}).json()["total"] == 3
    assert city.get("/api/analog-tasks", params={"status": "overdue"}).json()["total"] == 0
    r = city.get("/api/analog-tasks", params={"status": "late"})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "任务状态"
    # an enterprise contact: none (the regulator's inspection plan) — 403
    contact = drv.client(world.contact)
    assert contact.get("/api/analog-tasks").status_code == 403
    assert contact.get(f"/api/cases/{case['id']}/analog-tasks").status_code == 403
    assert wz.post(f"/api/analog-tasks/{tasks_of(db, case['id'])[0].id}/cancel", json={"reason": "x"}).status_code == 404


def test_the_policy_data_is_checked():
    from pathlib import Path
    import tempfile

    good = (Path(__file__).parents[1] / "state_machines/policies/analogs-v1.yaml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "analogs-v1.yaml").write_text(good.replace("working_days: 10", "working_days: 0", 1), encoding="utf-8")
        with pytest.raises(ValueError, match="working_days"):
            load_analog_policy(1, Path(d))
        (Path(d) / "analogs-v1.yaml").write_text(good.replace("[district_staff]", "[mayor]"), encoding="utf-8")
        with pytest.raises(ValueError, match="mayor"):
            load_analog_policy(1, Path(d))


def test_a_failed_inspection_item_of_the_category_counts_as_a_record(db, world, clock, drv):
    """p8 has only a 临时用电 hazard — but last month an inspection failed its 脚手架 item: it is
    checked too, ranked after the site with an open 脚手架 hazard."""
    from datetime import timedelta

    sites = seed_sites(db, world, clock, drv)
    with db.transaction() as s:
        from cases.models import InspectionItem

        i = Inspection(jurisdiction_code="320508", project_id=sites.p8, inspected_on=date(2026, 10, 20),
                       inspection_type="daily", findings=1, created_by_id=world.officer.id,
                       created_at=clock.now() - timedelta(days=34))
        s.add(i)
        s.flush()
        s.add(InspectionItem(inspection_id=i.id, position=1, item_code="JSJ-3", text="连墙件设置", category="scaffolding",
                             result="fail"))
    case = register_major_hazard(drv, world)
    got = [(t.project_id, t.reason, t.basis.get("open_cases")) for t in tasks_of(db, case["id"])]
    assert got[2:] == [(sites.p6, "same_category", 1), (sites.p8, "same_category", 0)]


def test_the_sweep_pass_reminds_and_warns_once(db, world, clock, drv):
    """The sweep's own pass (workflows/passes.py ``sweep_plainly``, the lanes' fallback; the flow runs
    the same ``sweep_pass``) fires the 类比排查 clock; the lane's check sees the work first."""
    from sqlalchemy import func, select

    from cases.analogs import clock as analog_clock
    from cases.models import OutboxMessage
    from cases.platform import db as db_module
    from workflows.passes import sweep_plainly

    seed_sites(db, world, clock, drv)
    case = register_major_hazard(drv, world)

    def messages(template):
        with db.session() as s:
            return s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.case_id == case["id"], OutboxMessage.template == template,
                OutboxMessage.dedupe_key.like("analog:%"))) or 0

    previous = db_module.get_database()
    db_module.set_database(db)
    try:
        assert not analog_clock.due_check(db, clock.now())
        clock.set(datetime(2026, 12, 3, 9, 5, tzinfo=SHANGHAI).astimezone(timezone.utc))
        assert analog_clock.due_check(db, clock.now())
        totals = sweep_plainly("analogs-test", budget_seconds=5)
        assert totals["analog_reminders"] == 3 and messages("reminder") > 0
        sent = messages("reminder")
        sweep_plainly("analogs-test", budget_seconds=5)
        assert messages("reminder") == sent and not analog_clock.due_check(db, clock.now())
        clock.set(datetime(2026, 12, 8, 0, 5, tzinfo=SHANGHAI).astimezone(timezone.utc))
        assert sweep_plainly("analogs-test", budget_seconds=5)["analog_overdue"] == 3
        warned = messages("overdue_warning")
        assert warned > 0
        sweep_plainly("analogs-test", budget_seconds=5)
        assert messages("overdue_warning") == warned
    finally:
        db_module.set_database(previous)
