"""A hazard found to be a major hazard gets a number of its new kind; the old one stays searchable
and is printed as 原编号 on the documents issued after the reclassification."""
from __future__ import annotations

from tests.conftest import complete_project
from tests.machine_paths import HttpDriver
from tests.test_documents import pdf_text, settings  # noqa: F401  (settings is a fixture)
from notifications.documents.store import render_pending_documents


def test_reclassified_hazard_gets_a_zd_number_and_keeps_its_yh_number(api, db, world, clock, settings):  # noqa: F811
    complete_project(db, world, clock)
    drv = HttpDriver(api, world, clock)
    officer = drv.client(world.officer)
    case = drv.create("hazard", title="深基坑支护变形", description="基坑东侧支护桩位移超预警值", location="3号楼基坑东侧")
    old = case["number"]
    assert old == "320508-YH-2026-000001"
    case = drv.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "serious",
                                             "requirements": "立即停止基坑边堆载"})
    case = drv.act(case, "reclassify", stop_work_scope="partial")
    assert case["kind"] == "major_hazard"
    new = case["number"]
    assert new == "320508-ZD-2026-000001"
    assert case["previous_numbers"] == [old]
    event = drv.events(case)[-1] if drv.events(case)[-1]["action"] == "reclassify" else \
        next(e for e in drv.events(case) if e["action"] == "reclassify")
    assert event["payload"]["reclassified"]["number"] == new
    assert event["payload"]["reclassified"]["previous_number"] == old

    # found by its old number and by its new one
    for q in (old, new, "YH-2026-000001"):
        r = officer.get("/api/cases", params={"q": q})
        assert [c["id"] for c in r.json()["items"]] == [case["id"]], q
    assert officer.get("/api/cases", params={"q": new}).json()["items"][0]["previous_numbers"] == [old]
    # the ZD series goes on from there; the YH series is not reused
    other = drv.create("major_hazard", title="高支模未验收")
    assert other["number"] == "320508-ZD-2026-000002"
    assert drv.create("hazard", title="配电箱未接地")["number"] == "320508-YH-2026-000002"

    # documents: the notice issued before carries the YH number; the stop-work order after it
    # carries the ZD number and prints the YH number as 原编号
    render_pending_documents(db, clock.now(), settings=settings)
    docs = {d["doc_type"]: d for d in officer.get(f"/api/cases/{case['id']}/documents").json()["items"]}
    before = pdf_text(officer.get(f"/api/documents/{docs['rectification_notice']['id']}.pdf").content)
    assert f"案件编号：{old}" in before and "原编号" not in before
    after = pdf_text(officer.get(f"/api/documents/{docs['stop_work_order']['id']}.pdf").content)
    assert f"案件编号：{new}，原编号：{old}" in after
    notice = pdf_text(officer.get(f"/api/documents/{docs['supervision_notice']['id']}.pdf").content)
    assert f"原编号：{old}" in notice
