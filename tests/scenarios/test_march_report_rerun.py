"""March's report, re-run in July, still says what 姑苏区 submitted in April.

In March 2026 姑苏区 registers two hazards on its project — one rectified before its deadline,
verified and closed; the other left past its deadline — and a fall from height on 28 March: one
dead, one seriously injured (一般事故). 吴中区 registers a hazard of its own. On 3 April the 姑苏区
officer submits the March report: the figures are frozen with a 文号, on time (the deadline, 5 April,
falls in the 清明 holiday and moves to Tuesday 7 April). 吴中区 submits on 10 April, three days late. On 20 April (within the 30-day window) the
seriously injured worker dies: the accident's casualties are corrected. In July a 回头看 reopens
the closed hazard, and a hazard found on 20 March is entered late. The city's supervisor re-runs
姑苏区's March report: as of its cut-off it gives exactly the frozen figures; as of now, the deaths,
the new cases and the closures differ, and each difference is explained by an event recorded after
the cut-off. The city's board shows 姑苏区 on time, 吴中区 late by three days, the other districts
not submitted. The submitted report reads as a PDF with its 文号 and as a workbook.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from datetime import timedelta

import openpyxl

from tests.scenarios.conftest import beijing


def _pdf_text(data: bytes) -> str:
    assert shutil.which("pdftotext"), "poppler-utils is a test dependency (make system-deps)"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", f.name, "-"], check=True, capture_output=True).stdout
    return "".join(out.decode("utf-8").split())


def test_march_report_rerun_after_back_dated_corrections(story):
    w = story.world
    story.clock.set(beijing(2026, 3, 2, 9))  # Monday 2 March 2026: the story starts here
    officer, contact, city = story.client(w.officer), story.client(w.contact), story.client(w.supervisor)

    def hazard(title: str, user=None, **extra):
        case = story.drv.create("hazard", user, title=title, **extra)
        return story.act(case, "register", user, fields={
            "enterprise_id": (w.e2 if user is w.officer_wz else w.e1).id, "severity": "general",
            "requirements": "立即整改", "rectification_days": 3})

    fixed = hazard("3号楼临边防护缺失")
    overdue = hazard("塔吊限位失灵")
    hazard("木渎工地配电箱无门", w.officer_wz, project_id=w.p2.id)
    fixed = story.act(fixed, "start_rectification")
    fixed = story.act(fixed, "report_completion", w.contact, fields={"completion_report": "已加装防护栏杆"})
    fixed = story.act(fixed, "verify", fields={"opinion": "复查合格"})
    fixed = story.act(fixed, "close")
    overdue = story.act(overdue, "start_rectification")
    story.advance(to=beijing(2026, 3, 28, 10), step=timedelta(days=1))
    accident = story.drv.create("accident", title="5号楼高处坠落", occurred_at=beijing(2026, 3, 28, 9).isoformat(),
                                accident_type="fall", brief="作业人员从脚手架坠落")
    accident = story.act(accident, "register", fields={"enterprise_id": w.e1.id, "deaths": 1, "serious_injuries": 1,
                                                      "direct_loss": 1_500_000, "cause": "未系安全带"})
    assert accident["accident_grade"] == "ordinary"

    # 3 April: 姑苏区 submits March
    story.advance(to=beijing(2026, 4, 3, 10), step=timedelta(days=1))
    march = {"jurisdiction": "320508", "period_kind": "month", "period": "2026-03"}
    r = officer.post("/api/reports/periodic/submissions", json=march)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["doc_number"] == "姑苏建质报〔2026〕1号" and sub["late"] is False and sub["deadline_label"] == "2026年4月7日"  # the 5th falls in 清明 (4–6 April)
    frozen = sub["figures"]["total"]
    assert frozen["kinds"]["hazard"]["new"] == 2 and frozen["kinds"]["hazard"]["closed"] == 1
    assert frozen["kinds"]["hazard"]["rect_due"] == 2 and frozen["kinds"]["hazard"]["rect_on_time"] == 1
    assert frozen["kinds"]["hazard"]["rect_rate"] == 50.0 and frozen["kinds"]["hazard"]["overdue"] == 1
    assert frozen["accidents"]["ordinary"] == {"count": 1, "deaths": 1, "serious_injuries": 1, "minor_injuries": 0,
                                               "direct_loss": 1500000.0}
    # a second submission needs a reason; 吴中区 cannot submit 姑苏区's report
    assert officer.post("/api/reports/periodic/submissions", json=march).status_code == 422
    wz = story.client(w.officer_wz)
    assert wz.post("/api/reports/periodic/submissions", json=march).status_code == 403

    # 10 April: 吴中区 submits, three days after the deadline (the 5th, in the 清明 holiday, moves to the 7th)
    story.advance(to=beijing(2026, 4, 10, 10), step=timedelta(days=1))
    r = wz.post("/api/reports/periodic/submissions", json={**march, "jurisdiction": "320506"})
    assert r.status_code == 201, r.text
    assert (r.json()["late"], r.json()["late_days"]) == (True, 3)

    # 20 April: the seriously injured worker has died — casualties corrected within 30 days
    story.advance(to=beijing(2026, 4, 20, 10), step=timedelta(days=1))
    accident = story.act(accident, "update_casualties", fields={"deaths": 2, "serious_injuries": 0,
                                                               "direct_loss": 1_800_000})
    # July: 回头看 reopens the closed hazard; a hazard found on 20 March is entered late
    story.advance(to=beijing(2026, 7, 14, 10), step=timedelta(days=2))
    fixed = story.act(fixed, "reopen", fields={"reason": "回头看发现防护栏杆被拆除", "rectification_days": 5})
    late_entry = story.drv.create("hazard", title="补录：3月20日检查发现的卸料平台隐患",
                                  found_at=beijing(2026, 3, 20, 10).isoformat())
    story.advance(hours=24)

    r = city.get(f"/api/reports/periodic/submissions/{sub['id']}/rerun")
    assert r.status_code == 200, r.text
    rerun = r.json()
    assert rerun["same_as_frozen"] is True and rerun["rerun_differences"] == []
    diffs = {d["figure"]: (d["before"], d["after"]) for d in rerun["differences"]}
    assert diffs["accidents.ordinary.deaths"] == (1, 2)
    assert diffs["accidents.ordinary.serious_injuries"] == (1, 0)
    assert diffs["kinds.hazard.closed"] == (1, 0)  # reopened: no longer closed
    # the overdue hazard climbed the ladder in April (挂牌督办, then 提级 to the city): no longer
    # 姑苏区's — one hazard fewer, the late entry one more
    assert "kinds.hazard.new" not in diffs and diffs["kinds.hazard.rect_due"] == (2, 1)
    assert diffs["supervision.listed"] == (1, 0)
    explained = [(e["case_number"], e["action"], e["label"]) for e in rerun["events_after_cutoff"]]
    assert (accident["number"], "update_casualties", "补报伤亡情况") in explained
    assert (fixed["number"], "reopen", "重新打开") in explained
    assert (late_entry["number"], "create", "新建案件") in explained
    assert (overdue["number"], "escalated", "提级办理") in explained
    casualty = next(e for e in rerun["events_after_cutoff"] if e["action"] == "update_casualties")
    assert casualty["facts"]["deaths"] == 2 and casualty["at"] > sub["cutoff_at"]
    # the same report as of its cut-off, through the compute route
    again = city.get("/api/reports/periodic", params={**march, "cutoff": sub["cutoff_at"]}).json()
    assert again["total"] == frozen

    # the city's board: 姑苏区 on time, 吴中区 three days late, the others not submitted (overdue)
    board = city.get("/api/reports/periodic/overview", params={**march, "jurisdiction": "320500"}).json()
    rows = {r["code"]: r for r in board["districts"]}
    assert rows["320508"]["status"] == "submitted" and rows["320508"]["latest"]["doc_number"] == sub["doc_number"]
    assert rows["320506"]["status"] == "late" and rows["320506"]["late_days"] == 3
    assert board["counts"]["late"] == 1 and board["counts"]["submitted"] == 1
    assert board["counts"]["overdue"] == len(rows) - 2
    assert board["submitted_sum"]["kinds"]["hazard"]["new"] == 3  # 姑苏区 2 + 吴中区 1, as frozen
    assert {"figure": "kinds.hazard.new", "before": 3, "after": 4} in board["differences"]  # + the late entry

    # the submitted report as its reader gets it: PDF with the 文号, and a workbook
    r = city.get(f"/api/reports/periodic/submissions/{sub['id']}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = _pdf_text(r.content)
    assert "姑苏区建设工程质量安全监管2026年3月统计报表" in text
    assert "姑苏建质报〔2026〕1号" in text and "报送单位：苏州市姑苏区住房和城乡建设局" in text
    assert "一般事故1110150" in text  # 起数 1, 死亡 1, 重伤 1, 轻伤 0, 150 万元: the frozen figures
    r = city.get(f"/api/reports/periodic/submissions/{sub['id']}.xlsx")
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    assert any(row[0] == "一般事故" and row[1:6] == [1, 1, 1, 0, 150] for row in cells)
    assert any("姑苏建质报〔2026〕1号" in str(row[0]) for row in cells)
    # the enterprise's contact reads no report
    assert contact.get("/api/reports/periodic", params=march).status_code == 403
