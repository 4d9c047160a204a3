"""事故信息报送表 (cases/reads/accident_report.py): the accident's facts in the national platform's
order, with the 快报 and 详细报告 clocks marked 按时 / 迟报 / 漏报 from the case's own deadlines."""
from __future__ import annotations

from datetime import timedelta

from tests.machine_paths import HttpDriver


def test_a_detailed_report_filed_after_48_hours_is_marked_late(pages, api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("accident")
    case = drv.act(case, "register", deaths=1, serious_injuries=0, direct_loss=600_000)
    officer = api(world.officer)
    body = officer.get(f"/api/cases/{case['id']}/accident-report").json()
    status = {r["key"]: r["status"] for r in body["reporting"]}
    assert status == {"report_up": "on_time", "detailed_report": "pending"} and body["late"] is False
    assert body["grade_label"] == "一般事故" and body["deaths"] == 1 and body["unit"]["name"] == world.e1.name
    assert [p["label"] for p in body["parties"]] == ["建设单位", "施工单位", "监理单位"]

    clock.advance(timedelta(hours=60))  # the 48-hour report was not filed in time
    body = officer.get(f"/api/cases/{case['id']}/accident-report").json()
    assert {r["key"]: r["status"] for r in body["reporting"]}["detailed_report"] == "missed" and body["late"]
    drv.act(drv.get(case), "submit_detailed_report",
            detailed_report="事故发生单位、时间、地点、经过、伤亡、损失、措施、参建各方、原因初判")
    body = officer.get(f"/api/cases/{case['id']}/accident-report").json()
    late = {r["key"]: r for r in body["reporting"]}["detailed_report"]
    assert late["status"] == "late" and late["status_label"] == "迟报" and late["done_at"]

    html = pages(world.officer).get(f"/cases/{case['id']}/accident-report").text
    assert "事故信息报送表" in html and "迟报" in html and world.e1.name in html and "一般事故" in html
    assert f'/cases/{case["id"]}/accident-report' in pages(world.officer).get(f"/cases/{case['id']}").text


def test_only_an_accident_has_one_and_only_who_sees_it(api, world, clock):
    drv = HttpDriver(api, world, clock)
    hazard = drv.create("hazard")
    r = api(world.officer).get(f"/api/cases/{hazard['id']}/accident-report")
    assert r.status_code == 409 and "生产安全事故" in r.json()["message"]
    accident = drv.create("accident")
    assert api(world.officer_wz).get(f"/api/cases/{accident['id']}/accident-report").status_code == 404
