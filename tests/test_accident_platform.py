"""事故信息 for the national platform (cases/reads/accident_platform.py): the form's fields in their
order with Chinese labels, a detailed report filed after 48 hours marked 迟报, per case (JSON and
.xlsx) and for a jurisdiction over a period (JSON, .xlsx, CSV), only within who may read."""
from __future__ import annotations

import io
from datetime import timedelta

import openpyxl

from cases.reads.accident_platform import FIELDS
from tests.machine_paths import HttpDriver


def _values(record):
    return {f["key"]: f["value"] for f in record["fields"]}


def test_the_platform_record_keeps_the_form_order_and_flags_a_late_report(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("accident", direct_loss=1_350_000, brief="外架拆除时一名工人高处坠落")
    case = drv.act(case, "register", deaths=1, serious_injuries=2, direct_loss=1_350_000)
    officer = api(world.officer)
    record = officer.get(f"/api/cases/{case['id']}/accident-report/platform").json()
    assert [f["label"] for f in record["fields"]][:6] == ["案件编号", "事故发生单位", "统一社会信用代码", "事故发生时间",
                                                          "事故发生地点", "工程名称"]
    assert [f["key"] for f in record["fields"]] == [k for k, _ in FIELDS]
    v = _values(record)
    assert (v["unit_name"], v["grade"], v["deaths"], v["serious_injuries"], v["direct_loss"]) == (
        world.e1.name, "一般事故", 1, 2, "135")
    assert v["occurred_at"].startswith("20") and "年" in v["occurred_at"] and "时" in v["occurred_at"]
    assert (v["flash_status"], v["detailed_status"], v["late"], v["missing"]) == ("按时", "未到期", "否", "否")

    clock.advance(timedelta(hours=60))
    drv.act(drv.get(case), "submit_detailed_report", detailed_report="事故详细情况")
    v = _values(officer.get(f"/api/cases/{case['id']}/accident-report/platform").json())
    assert (v["detailed_status"], v["late"]) == ("迟报", "是") and "年" in v["detailed_reported_at"]

    r = officer.get(f"/api/cases/{case['id']}/accident-report/platform.xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = {row[0]: row[1] for row in ws.iter_rows(min_row=3, values_only=True)}
    assert rows["迟报"] == "是" and rows["事故发生单位"] == world.e1.name and rows["死亡人数"] == 1

    # the list of the jurisdiction over the period: this accident, in the same columns
    today = clock.today().isoformat()
    body = officer.get("/api/reports/accident-platform", params={"from": "2000-01-01", "to": today}).json()
    assert [c["label"] for c in body["columns"]] == [label for _, label in FIELDS]
    [item] = body["items"]
    assert item["case_number"] == case["number"] and item["late"] == "是"
    assert officer.get("/api/reports/accident-platform", params={"from": today, "to": today}).json()["items"] == []
    r = officer.get("/api/reports/accident-platform.csv", params={"from": "2000-01-01"})
    text = r.content.decode("utf-8-sig")
    assert r.status_code == 200 and "事故发生单位" in text and case["number"] in text
    r = officer.get("/api/reports/accident-platform.xlsx", params={"from": "2000-01-01"})
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert [c for c in next(ws.iter_rows(min_row=5, max_row=5, values_only=True))][:2] == [case["number"], world.e1.name]

    # another county sees neither the case nor it in its list; a bad date is a 422 naming the field
    wz = api(world.officer_wz)
    assert wz.get(f"/api/cases/{case['id']}/accident-report/platform").status_code == 404
    assert wz.get("/api/reports/accident-platform", params={"from": "2000-01-01"}).json()["items"] == []
    bad = officer.get("/api/reports/accident-platform", params={"from": "2026-13-01"})
    assert bad.status_code == 422
    assert api(world.contact).get("/api/reports/accident-platform").status_code == 403



def test_the_jurisdictions_list_reads_a_fixed_number_of_statements(api, world, clock, db):
    """One accident or four: the list reads the same number of statements (the reports' units,
    projects, parties, authorities and clocks are read for all the accidents at once)."""
    from tests.test_reads import statements

    drv = HttpDriver(api, world, clock)
    officer = api(world.officer)
    params = {"from": "2000-01-01", "to": clock.today().isoformat()}

    def listed() -> tuple[int, list]:
        officer.get("/api/reports/accident-platform", params=params)  # warm
        with statements(db) as seen:
            body = officer.get("/api/reports/accident-platform", params=params).json()
        return len(seen), body["items"]

    first = drv.act(drv.create("accident", direct_loss=800_000, brief="基坑边坡局部坍塌"), "register", deaths=1)
    one, items = listed()
    assert [i["case_number"] for i in items] == [first["number"]]
    for brief in ("卸料平台倾覆", "塔吊吊物坠落", "模板支撑体系失稳"):
        drv.act(drv.create("accident", direct_loss=500_000, brief=brief), "register", serious_injuries=1)
    four, items = listed()
    assert len(items) == 4 and items[0]["case_number"] == first["number"]
    assert four == one, (one, four)
