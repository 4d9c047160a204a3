"""类比排查: an inspection's failed item becomes a major hazard on the unit's site, and the unit's two
other active sites — one in 姑苏区, one in 吴中区 — are to be checked, with 姑苏区's other site that
has an open 脚手架 hazard (same category). Everything goes through the API as the officers use it:
the 检查记录 with the 综合检查表, the failed item turned into a case in one step, the analogous
checks recorded as inspections of their own.

Registered Monday 23 November 2026: the tasks are due in 10 working days (Monday 7 December). Time
passes through the real sweep: on Thursday 3 December at 09:00 each district's staff are reminded;
姑苏区 inspects its two sites that day — nothing found on one, a new hazard on the other (linked
from the task). 吴中区 does nothing: from Tuesday 8 December the task is overdue and 吴中区's
supervisor and the city's are told, once however often the sweep runs. The case page and the
cockpit show two of three done, one overdue, one with findings."""
from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
from cases.inspections.checklists import latest_versions, sync_shipped
from tests.analog_world import seed_sites, tasks_of
from tests.pages.conftest import session_token
from tests.scenarios.conftest import beijing
from tests.test_access_policy import add_user


def _analog_messages(story, case, template):
    return [m for m in story.messages(case, template) if (m.variables or {}).get("analog_task_id")]


def test_a_major_hazard_sends_its_district_and_the_next_to_the_units_other_sites(story, live_server):
    w, db, clock = story.world, story.db, story.clock
    wz_chief = add_user(db, clock, "wz_chief", "supervisor", "320506")
    sites = seed_sites(db, w, clock, story.drv)

    # 姑苏区's officer inspects p1 with the 综合检查表: 连墙件整层缺失 (JSJ-02, catalogue 7.2) fails; the
    # item becomes a 重大事故隐患 in one step, and registering it is the trigger.
    officer = story.client(w.officer)
    with db.transaction() as s:
        sync_shipped(s, clock.now())
        checklist = next(c for c in latest_versions(s) if c.code == "comprehensive")
        checklist_id, codes = checklist.id, [it["code"] for it in checklist.items]

    def inspect(project_id, on, fails=()):
        r = officer.post("/api/inspections", json={
            "project_id": project_id, "inspected_on": on, "inspection_type": "special", "unannounced": True,
            "checklist_id": checklist_id, "handling": "当场责令整改" if fails else "未发现问题",
            "items": [{"item_code": c, "result": "fail" if c in fails else "pass", "note": fails[c] if c in fails else ""}
                      for c in codes]})
        assert r.status_code == 201, r.text
        record = r.json()
        return record, {i["item_code"]: i["id"] for i in record["items"]}

    found, items = inspect(w.p1.id, "2026-11-23", {"JSJ-02": "1号楼外架连墙件整层缺失"})
    made = officer.post(f"/api/inspections/{found['id']}/items/{items['JSJ-02']}/case")
    assert made.status_code in (200, 201), made.text
    proposed = made.json()["case"]
    assert proposed["kind"] == "major_hazard"
    case = story.drv.act(story.get(proposed), "register", fields={
        "enterprise_id": w.e1.id, "hazard_item_code": "7.2", "stop_work_scope": "whole",
        "requirements": "立即停止外架作业，补设连墙件", "rectification_days": 30})

    tasks = {t.project_id: t for t in tasks_of(db, case["id"])}
    assert [(t.project_id, t.reason) for t in tasks_of(db, case["id"])] == [
        (sites.p3, "same_enterprise"), (sites.p4, "same_enterprise"), (sites.p6, "same_category")]
    assert {t.due_on for t in tasks.values()} == {date(2026, 12, 7)}

    # nothing before the reminder's day; at 09:00 on Thursday 3 December each district is reminded
    story.advance(to=beijing(2026, 12, 3, 8))
    assert _analog_messages(story, case, "reminder") == []
    story.advance(to=beijing(2026, 12, 3, 9))
    reminded = {(m.variables["analog_task_id"], m.recipient_user_id) for m in _analog_messages(story, case, "reminder")
                if m.channel == "inbox"}
    assert reminded == {(tasks[sites.p3].id, w.officer.id), (tasks[sites.p6].id, w.officer.id),
                        (tasks[sites.p4].id, w.officer_wz.id), (tasks[sites.p4].id, wz_chief.id)}

    # 姑苏区 inspects its two sites that day: nothing on p3 (the inspection closes the project's open
    # task by itself), two problems on p6, recorded against its task, one of them a new hazard case
    inspect(sites.p3, "2026-12-03")
    r = officer.post("/api/inspections", json={
        "project_id": sites.p6, "inspected_on": "2026-12-03", "inspection_type": "special", "unannounced": True,
        "checklist_id": checklist_id, "analog_task_id": tasks[sites.p6].id, "handling": "责令限期整改",
        "items": [{"item_code": c, "result": "fail" if c in ("JSJ-01", "GL-04") else "pass",
                   "note": {"JSJ-01": "外架基础局部积水，未设排水沟", "GL-04": "未见安全技术交底记录"}.get(c, "")} for c in codes]})
    assert r.status_code == 201, r.text
    p6_record = r.json()
    p6_items = {i["item_code"]: i["id"] for i in p6_record["items"]}
    # the officer judges it an ordinary hazard (the item's catalogue criterion would propose a major one)
    new_case = officer.post(f"/api/inspections/{p6_record['id']}/items/{p6_items['JSJ-01']}/case",
                            json={"kind": "hazard"}).json()["case"]
    assert new_case["kind"] == "hazard"

    # 吴中区 does nothing: on Monday 7 December (the due day) nothing is overdue yet …
    story.advance(to=beijing(2026, 12, 7, 23), step=timedelta(hours=6))
    assert _analog_messages(story, case, "overdue_warning") == []
    # … from Tuesday 8 December its supervisor and the city's are told, once
    story.advance(to=beijing(2026, 12, 10, 12), step=timedelta(hours=3))
    overdue = [m for m in _analog_messages(story, case, "overdue_warning") if m.channel == "inbox"]
    assert sorted((m.variables["analog_task_id"], m.recipient_user_id) for m in overdue) == sorted(
        [(tasks[sites.p4].id, wz_chief.id), (tasks[sites.p4].id, w.supervisor.id)])
    assert story.notified(case, "overdue_warning") >= {"wz_chief", "supervisor"}
    assert "officer" not in story.notified(case, "overdue_warning")
    assert {m.status for m in overdue} == {"sent"}
    # what 吴中区's supervisor reads in the inbox: the task, its project, the missed date
    inbox = story.client(wz_chief).get("/api/inbox").json()["items"]
    late = [i for i in inbox if i["template"] == "overdue_warning"]
    assert len(late) == 1, inbox
    assert "类比排查（同一企业其他在建项目）：吴中科技园三期" in late[0]["text"] and "逾期" in late[0]["text"]
    assert "现逾期1天" in late[0]["text"] and "否则将提请上级主管部门督办" in late[0]["text"]
    assert "（苏州市姑苏区住房和城乡建设局）" in late[0]["text"]  # the proposing authority and its officer to ask
    reminder = [i for i in story.client(w.officer_wz).get("/api/inbox").json()["items"] if i["template"] == "reminder"]
    assert len(reminder) == 1 and "吴中科技园三期" in reminder[0]["text"], reminder

    # the API, the case page and the cockpit agree: 2 of 3 done, 1 overdue, 1 with findings
    city = story.client(w.supervisor)
    items = {i["project"]["id"]: i for i in city.get(f"/api/cases/{case['id']}/analog-tasks").json()["items"]}
    assert {p: i["status"] for p, i in items.items()} == {sites.p3: "done", sites.p4: "overdue", sites.p6: "done"}
    assert items[sites.p6]["findings"] == 2 and items[sites.p6]["cases_found"][0]["id"] == new_case["id"]
    pages = httpx.Client(base_url=live_server.url, timeout=30, follow_redirects=False)
    pages.cookies.set("anjian_session", session_token(live_server, w.supervisor, clock), domain="127.0.0.1")
    html = pages.get(f"/cases/{case['id']}").text
    section = html[html.index('id="h-analogs"'):]
    assert "已完成2/3项" in section and "已逾期" in section and "未发现问题" in section and "发现问题2项" in section
    assert new_case["number"] in section and "2026年12月7日" in section
    cockpit = pages.get("/cockpit/analogs").text
    row = re.search(r'<tfoot>.*?</tfoot>', cockpit, re.S).group(0)
    figures = dict(re.findall(r'data-figure="(\w+)"><a href="[^"]*">(\d+)</a>', row))
    assert figures == {"proposed": "3", "open": "0", "overdue": "1", "done": "2", "with_findings": "1", "cancelled": "0"}
    pages.close()
