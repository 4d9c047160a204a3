"""New cases through the form (/cases/new, /cases/new/{kind}): the creation fields of each kind from
the machine data, each of the four kinds created over HTTP, the service's messages next to the fields,
the accident grade by the server's own rule (JSON for app.js, the 预览 button without it) — and in
Chromium as the grade is typed."""
from __future__ import annotations

import re

from cases.ledger.accident import GRADE_LABELS, accident_grade
from tests.pages.conftest import post_form


def _field(html: str, name: str) -> str:
    start = html.index(f'data-field="{name}"')
    return html[start:html.index("\n</div>", start)]


def _created(page, response, officer) -> dict:
    assert response.status_code == 303, response.text[:2000]
    location = response.headers["location"]
    assert re.fullmatch(r"/cases/\d+", location)
    case = officer.get("/api" + location).json()
    assert "已新建" in page.get(location).text
    return case


def test_choose_a_kind(pages, world):
    html = pages(world.officer).get("/cases/new").text
    for kind, label in (("hazard", "一般安全隐患"), ("major_hazard", "重大事故隐患"), ("accident", None),
                        ("dangerous_building", None)):
        assert f'href="/cases/new/{kind}" data-kind="{kind}"' in html
        if label:
            assert label in html
    # an enterprise contact creates only its own self-found hazards (企业自查隐患, docs/self-inspection.md)
    contact = pages(world.contact).get("/cases/new")
    assert contact.status_code == 200 and re.findall(r'data-kind="(\w+)"', contact.text) == ["self_hazard"]
    assert pages(world.contact).get("/cases/new/hazard").status_code == 403
    assert pages(world.officer).get("/cases/new/nothing").status_code == 404


def test_create_a_hazard_with_its_category_and_project(api, pages, world):
    page = pages(world.officer)
    html = page.get("/cases/new/hazard").text
    cat = _field(html, "category")
    assert "<select" in cat and '<option value="scaffolding"' in cat and "脚手架工程" in cat
    assert 'data-picker="/picker/projects"' in _field(html, "project_id")
    assert 'type="datetime-local"' in _field(html, "found_at")
    jurisdiction = _field(html, "jurisdiction_code")  # the officer's own subtree only
    assert '<option value="320508">姑苏区</option>' in jurisdiction and "320506" not in jurisdiction
    assert 'maxlength="200"' in _field(html, "title") and 'maxlength="300"' in _field(html, "location")
    assert '<input type="radio"' not in _field(html, "source") and "监督检查" in _field(html, "source")
    r = post_form(page, "/cases/new/hazard", "/cases/new/hazard", {
        "title": "3号楼外脚手架连墙件缺失", "category": "scaffolding", "project_id": "姑苏测试项目",
        "source": "inspection", "found_at": "2026-11-23T08:30", "description": "12–15层连墙件整层缺失"})
    case = _created(page, r, api(world.officer))
    assert case["kind"] == "hazard" and case["state"] == "found" and case["project_id"] == world.p1.id
    assert case["details"]["category"] == "scaffolding" and case["jurisdiction"]["code"] == "320508"
    assert case["found_at"].startswith("2026-11-23T00:30")  # 08:30 Beijing time


def test_a_bad_value_on_a_new_case_keeps_the_values(api, pages, world):
    page = pages(world.officer)
    r = post_form(page, "/cases/new/hazard", "/cases/new/hazard", {
        "title": "", "category": "scaffolding", "location": "3号楼", "project_id": str(world.p2.id)})
    assert r.status_code == 422
    assert "必填" in _field(r.text, "title")
    assert '<option value="scaffolding" selected>' in r.text and 'value="3号楼"' in _field(r.text, "location")
    r = post_form(page, "/cases/new/hazard", "/cases/new/hazard", {
        "title": "临边防护缺失", "category": "height", "project_id": str(world.p2.id)})
    assert r.status_code == 422  # 吴中's project, typed as its id: the service says no, at the field
    assert "所在辖区不在您的管辖范围内" in _field(r.text, "project_id") and 'value="临边防护缺失"' in r.text
    assert api(world.officer).get("/api/cases").json()["total"] == 0


def test_create_a_major_hazard_from_the_catalogue(api, pages, world):
    page = pages(world.officer)
    html = page.get("/cases/new/major_hazard").text
    item = _field(html, "hazard_item_code")
    assert "<optgroup label=\"基坑工程\">" in item
    code = re.search(r'<optgroup label="基坑工程"><option value="([^"]+)"', item).group(1)
    r = post_form(page, "/cases/new/major_hazard", "/cases/new/major_hazard", {
        "title": "基坑未按方案开挖", "hazard_item_code": code, "project_id": str(world.p1.id), "comment": ""})
    case = _created(page, r, api(world.officer))
    assert case["kind"] == "major_hazard" and case["hazard_item_code"] == code
    # the chosen item's text is shown again when the form comes back
    r = post_form(page, "/cases/new/major_hazard", "/cases/new/major_hazard", {"title": "", "hazard_item_code": code})
    assert r.status_code == 422 and "已选条目：" in _field(r.text, "hazard_item_code")


def test_create_an_accident_with_its_grade_by_the_servers_rule(api, pages, world):
    page = pages(world.officer)
    html = page.get("/cases/new/accident").text
    assert 'data-accident-grade="/picker/accident-grade"' in html
    assert "高处坠落" in _field(html, "accident_type") and 'type="datetime-local"' in _field(html, "occurred_at")
    # the JSON app.js asks while the numbers are typed: the server's own rule
    for deaths, serious, loss in (("0", "0", "0"), ("1", "0", "0"), ("3", "", ""), ("0", "12", "0"),
                                  ("0", "0", "60000000"), ("31", "0", "")):
        body = page.get("/picker/accident-grade", params={"deaths": deaths, "serious": serious, "loss": loss}).json()
        expected = accident_grade(int(deaths or 0), int(serious or 0), float(loss or 0))
        assert body["grade"] == expected
        if expected:
            assert body["label"] == GRADE_LABELS[expected]
    data = {"title": "3号楼高处坠落", "occurred_at": "2026-11-22T15:10", "accident_type": "fall",
            "deaths": "3", "serious_injuries": "1", "direct_loss": "2500000", "project_id": str(world.p1.id)}
    # without JavaScript: 预览 re-renders with the grade, creates nothing
    r = post_form(page, "/cases/new/accident", "/cases/new/accident", {**data, "preview": "1"})
    assert r.status_code == 200 and 'data-grade="larger">较大事故</output>' in r.text
    assert 'value="2500000"' in _field(r.text, "direct_loss")
    officer = api(world.officer)
    assert officer.get("/api/cases").json()["total"] == 0
    r = post_form(page, "/cases/new/accident", "/cases/new/accident", data)
    case = _created(page, r, officer)
    assert case["kind"] == "accident" and case["accident_grade"] == "larger"
    assert case["details"]["deaths"] == 3 and case["details"]["direct_loss"] == 2500000
    # a time in the future: the service's own message
    r = post_form(page, "/cases/new/accident", "/cases/new/accident", {**data, "occurred_at": "2030-01-01T00:00"})
    assert r.status_code == 422 and "不能晚于当前时间" in _field(r.text, "occurred_at")


def test_create_a_dangerous_building_with_the_building_picker(api, pages, world):
    page = pages(world.officer)
    html = page.get("/cases/new/dangerous_building").text
    building = _field(html, "building_id")
    assert 'data-picker="/picker/buildings"' in building and 'title="必填"' in building
    assert "平江路5号老公房" in building and "木渎自建房" not in building
    r = post_form(page, "/cases/new/dangerous_building", "/cases/new/dangerous_building",
                  {"title": "平江路5号墙体开裂", "building_use": "residential"})
    assert r.status_code == 422 and "危险房屋案件必须关联房屋" in _field(r.text, "building_id")
    r = post_form(page, "/cases/new/dangerous_building", "/cases/new/dangerous_building",
                  {"title": "平江路5号墙体开裂", "building_id": str(world.b1.id), "building_use": "residential",
                   "occupants": "12"})
    case = _created(page, r, api(world.officer))
    assert case["kind"] == "dangerous_building" and case["building_id"] == world.b1.id
    assert case["details"] == {"building_use": "residential", "occupants": 12}


def test_the_accident_grade_shows_as_it_is_typed(browser_page, world):
    page = browser_page(world.officer, width=375, height=800)
    page.goto("/cases/new/accident")
    page.fill("#f-deaths", "10")
    page.wait_for_function("() => document.getElementById('accident-grade').dataset.grade === 'major'")
    assert page.inner_text("#accident-grade") == "重大事故"
    page.fill("#f-deaths", "0")
    page.fill("#f-direct_loss", "1500000")
    page.wait_for_function("() => document.getElementById('accident-grade').dataset.grade === 'ordinary'")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    from tests.pages.test_action_forms import SHOTS

    if SHOTS:
        page.screenshot(path=str(SHOTS / "accident-375.png"), full_page=True)
