"""重大险情 through the new-case form: chosen from /cases/new, its fields from the machine data, created
over HTTP; an accident's facts refused at their fields; the accident form and the 险情 form point to
each other (the machine data's ``creation.see_also``)."""
from __future__ import annotations

from tests.pages.conftest import post_form
from tests.pages.test_new_case import _created, _field


def test_chosen_from_the_list_of_kinds(pages, world):
    html = pages(world.officer).get("/cases/new").text
    assert 'href="/cases/new/dangerous_occurrence" data-kind="dangerous_occurrence">重大险情</a>' in html


def test_the_accident_form_points_to_it_and_back(pages, world):
    page = pages(world.officer)
    accident = page.get("/cases/new/accident").text
    assert 'class="notice see-also" data-kind="dangerous_occurrence"' in accident
    assert "不属于生产安全事故，可按重大险情报告" in accident
    assert '<a href="/cases/new/dangerous_occurrence">新建重大险情</a>' in accident
    occurrence = page.get("/cases/new/dangerous_occurrence").text
    assert '<a href="/cases/new/accident">新建生产安全事故</a>' in occurrence
    assert 'data-field="building_id"' not in occurrence  # creation.omit's default
    assert 'class="notice see-also"' not in page.get("/cases/new/hazard").text


def test_create_a_scaffold_occurrence(api, pages, world):
    page = pages(world.officer)
    html = page.get("/cases/new/dangerous_occurrence").text
    kind = _field(html, "occurrence_type")
    for label in ("坍塌险情", "高处坠落险情", "起重机械险情", "深基坑险情", "脚手架险情", "火灾险情", "其他"):
        assert label in kind
    assert 'type="datetime-local"' in _field(html, "occurred_at") and 'title="必填"' in _field(html, "occurred_at")
    assert "有人员死亡的属于生产安全事故" in _field(html, "deaths")
    assert 'data-picker="/picker/projects"' in _field(html, "project_id")
    data = {"title": "5号楼外脚手架局部坍塌险情", "occurred_at": "2026-11-22T09:40", "occurrence_type": "scaffolding",
            "brief": "5号楼北侧外架第8至11步局部外倾，现场人员紧急撤离，无人员伤亡", "endangered": "23",
            "evacuated": "23", "direct_loss": "120000", "measures_taken": "设置警戒区，停止外架作业",
            "project_id": str(world.p1.id), "enterprise_id": str(world.e1.id), "source": "occurrence_report"}
    officer = api(world.officer)
    # a death is an accident's fact: refused at its field, the values kept, nothing created
    r = post_form(page, "/cases/new/dangerous_occurrence", "/cases/new/dangerous_occurrence", {**data, "deaths": "1"})
    assert r.status_code == 422
    assert "有人员死亡的属于房屋市政工程生产安全事故，不属于重大险情" in _field(r.text, "deaths")
    assert 'value="5号楼外脚手架局部坍塌险情"' in r.text and '<option value="scaffolding" selected>' in r.text
    assert officer.get("/api/cases").json()["total"] == 0
    r = post_form(page, "/cases/new/dangerous_occurrence", "/cases/new/dangerous_occurrence", data)
    case = _created(page, r, officer)
    assert case["kind"] == "dangerous_occurrence" and case["number"] == "320508-XQ-2026-000001"
    assert case["details"]["occurrence_type"] == "scaffolding" and case["details"]["evacuated"] == 23
    assert case["source"] == "occurrence_report" and case["enterprise"]["id"] == world.e1.id
    # the case page names it and its clocks
    page_html = page.get(f"/cases/{case['id']}").text
    assert "重大险情" in page_html and "险情快报上报（2小时）" in page_html and "上报险情快报" in page_html


def test_the_ledger_and_the_cockpit_offer_it(api, pages, world):
    """台账 page: the kind filter lists 重大险情 and filters to it; the cockpit counts it in its own row."""
    officer = api(world.officer)
    r = officer.post("/api/cases", json={"kind": "dangerous_occurrence", "title": "塔吊顶升套架导轮脱出险情",
                                         "project_id": world.p1.id, "occurred_at": "2026-11-23T00:30:00+00:00",
                                         "occurrence_type": "lifting", "brief": "顶升作业中套架导轮脱出，司机及时停机"})
    assert r.status_code == 201, r.text
    officer.post("/api/cases", json={"kind": "hazard", "title": "临边防护缺失", "project_id": world.p1.id})
    page = pages(world.officer)
    ledger = page.get("/ledger", params={"kind": "dangerous_occurrence"}).text
    assert '<option value="dangerous_occurrence" selected>重大险情</option>' in ledger
    assert "塔吊顶升套架导轮脱出险情" in ledger and "临边防护缺失" not in ledger
    cockpit = pages(world.supervisor).get("/cockpit").text
    assert "重大险情" in cockpit
