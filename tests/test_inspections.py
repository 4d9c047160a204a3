"""Inspections over real HTTP on both databases (issue 11 parts 1–2): recording with and without
findings, 422s naming fields by their Chinese labels, access by the jurisdiction tree and for an
enterprise contact, a failed item → a case linked both ways (and a major-hazard proposal), the
campaign tag, analogous-check tasks closed per the contract, checklist versions, and the 检查记录
read back from its PDF with pdftotext."""
from __future__ import annotations

import subprocess
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from cases.inspections.checklists import latest_versions, sync_shipped
from cases.models import AnalogTask, Campaign, CampaignRound, Case, CaseEvent, Checklist, Inspection, InspectionItem
from tests.conftest import complete_project
from tests.evidence_files import tiny_png


@pytest.fixture
def checklists(db, clock):
    with db.transaction() as s:
        sync_shipped(s, clock.now())
        return {c.code: {"id": c.id, "version": c.version, "items": [it["code"] for it in c.items]}
                for c in latest_versions(s)}


def body(chk: dict, project_id: int | None = None, fails: dict | None = None, **extra) -> dict:
    fails = fails or {}
    out = {"inspected_on": "2026-11-23", "inspection_type": "daily", "checklist_id": chk["id"],
           "items": [{"item_code": c, "result": "fail" if c in fails else "pass", **({"note": fails[c]} if c in fails else {})}
                     for c in chk["items"]], **extra}
    if project_id is not None:
        out["project_id"] = project_id
    return out


def test_record_without_findings(api, world, checklists):
    r = api(world.officer).post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, unannounced=True))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["findings"] == 0 and got["has_findings"] is False
    assert got["number"].startswith("姑苏建质检〔2026〕") and got["number"].endswith("号")
    assert got["enterprise"]["id"] == world.e1.id  # the project's 施工单位
    assert got["place"] == "平江路1号" and got["unannounced"] is True
    assert got["inspectors"] == [{"user_id": world.officer.id, "name": world.officer.display_name}]
    assert {i["result"] for i in got["items"]} == {"pass"} and len(got["items"]) == len(checklists["comprehensive"]["items"])
    listed = api(world.officer).get("/api/inspections", params={"findings": "false"}).json()
    assert [i["id"] for i in listed["items"]] == [got["id"]]
    assert api(world.officer).get("/api/inspections", params={"findings": "true"}).json()["items"] == []


def test_record_with_findings_and_filters(api, world, checklists):
    officer = api(world.officer)
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id,
                                                   fails={"JSJ-02": "3号楼12层连墙件整层缺失"},
                                                   inspection_type="special", inspector_ids=[world.supervisor.id]))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["findings"] == 1 and got["inspection_type_label"] == "专项检查"
    assert [x["name"] for x in got["inspectors"]] == ["officer", "supervisor"]
    failed = [i for i in got["items"] if i["result"] == "fail"]
    assert failed[0]["item_code"] == "JSJ-02" and failed[0]["major_hazard_item"] == "7.2"
    assert failed[0]["note"] == "3号楼12层连墙件整层缺失"
    for params, n in [({"inspection_type": "special"}, 1), ({"inspection_type": "daily"}, 0),
                      ({"project_id": world.p1.id}, 1), ({"date_from": "2026-11-24"}, 0),
                      ({"date_from": "2026-11-01", "date_to": "2026-11-23"}, 1), ({"findings": "true"}, 1)]:
        assert officer.get("/api/inspections", params=params).json()["total"] == n, params
    for params, words in [({"findings": "maybe"}, "是否发现问题"), ({"date_from": "2026-13-01"}, "检查日期（起）"),
                          ({"inspection_type": "surprise"}, "检查类型"), ({"round_no": "0"}, "轮次"),
                          ({"date_from": "2026-11-24", "date_to": "2026-11-01"}, "检查日期（止）")]:
        r = officer.get("/api/inspections", params=params)
        assert r.status_code == 422 and words in r.json()["message"], (params, r.text)


def test_validation_names_fields_in_chinese(api, world, checklists, clock):
    officer = api(world.officer)
    chk = checklists["comprehensive"]
    bad = body(chk, world.p1.id, inspection_type="surprise", inspected_on="2026-12-31")
    bad["items"][0]["result"] = "maybe"
    bad["items"] = bad["items"][:-1]
    r = officer.post("/api/inspections", json=bad)
    assert r.status_code == 422
    text = r.json()["detail"] if isinstance(r.json().get("detail"), str) else r.text
    assert "检查类型" in text and "日常检查" in text
    assert "检查日期" in text and "不能晚于今天" in text
    assert f"检查项“{chk['items'][0]}”的检查结果" in text and "合格" in text
    r = officer.post("/api/inspections", json={"inspection_type": "daily", "checklist_id": chk["id"], "items": []})
    assert r.status_code == 422
    assert "检查日期：必填" in r.text and "请选择受检的工程项目或房屋" in r.text
    # both a project and a building; a building checklist for a project
    r = officer.post("/api/inspections", json=body(checklists["existing_buildings"], world.p1.id))
    assert r.status_code == 422 and "检查表" in r.text and "适用于既有房屋" in r.text
    # an item that always applies cannot be 不适用 (its checklist says results: [pass, fail])
    na = body(chk, world.p1.id)
    na["items"][0]["result"] = "na"
    r = officer.post("/api/inspections", json=na)
    assert r.status_code == 422 and "检查项“GL-01”的检查结果" in r.text and "不能选“不适用”" in r.text
    # a round without its campaign
    r = officer.post("/api/inspections", json=body(chk, world.p1.id, round_no=1))
    assert r.status_code == 422 and "专项行动" in r.text


def test_access_by_jurisdiction_and_for_contacts(api, world, checklists):
    r = api(world.officer).post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id))
    own = r.json()["id"]
    other = api(world.officer_wz).post("/api/inspections", json=body(checklists["comprehensive"], world.p2.id)).json()["id"]
    # another district: 404 as if missing, and out of the list
    assert api(world.officer_wz).get(f"/api/inspections/{own}").status_code == 404
    assert [i["id"] for i in api(world.officer_wz).get("/api/inspections").json()["items"]] == [other]
    # the district cannot record an inspection of the other district's project
    r = api(world.officer_wz).post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id))
    assert r.status_code == 422 and "工程项目" in r.text and "管辖范围" in r.text
    # the city sees both
    assert {i["id"] for i in api(world.supervisor).get("/api/inspections").json()["items"]} == {own, other}
    # the contact of e1 (施工单位 of p1): its own project's inspection only, read-only
    contact = api(world.contact)
    assert [i["id"] for i in contact.get("/api/inspections").json()["items"]] == [own]
    assert contact.get(f"/api/inspections/{own}").status_code == 200
    assert contact.get(f"/api/inspections/{other}").status_code == 404
    assert contact.get(f"/api/inspections/{own}/document.html").status_code == 200
    assert contact.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id)).status_code == 403


def test_failed_item_becomes_a_case_linked_both_ways(api, world, checklists, db, clock):
    complete_project(db, world, clock)
    officer = api(world.officer)
    got = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id,
                                                     fails={"GL-04": "未见安全技术交底记录", "JSJ-02": "连墙件整层缺失"})).json()
    items = {i["item_code"]: i for i in got["items"]}
    # a passed item cannot become a case
    r = officer.post(f"/api/inspections/{got['id']}/items/{items['GL-01']['id']}/case")
    assert r.status_code == 409 and "只有不合格的检查项" in r.text
    # a failed item without a catalogue item → a 一般安全隐患, pre-filled
    r = officer.post(f"/api/inspections/{got['id']}/items/{items['GL-04']['id']}/case")
    assert r.status_code == 201, r.text
    hazard = r.json()["case"]
    assert hazard["kind"] == "hazard" and "-YH-" in hazard["number"]
    case = officer.get(f"/api/cases/{hazard['id']}").json()
    assert case["project"]["id"] == world.p1.id if isinstance(case.get("project"), dict) else True
    with db.session() as s:
        row = s.get(Case, hazard["id"])
        assert (row.project_id, row.enterprise_id, row.source) == (world.p1.id, world.e1.id, "inspection")
        assert row.details.get("category") == "management" and row.location == "平江路1号"
        assert "未见安全技术交底记录" in row.description and got["number"] in row.description
        event = s.scalars(select(CaseEvent).where(CaseEvent.case_id == row.id, CaseEvent.seq == 1)).one()
        assert event.payload["inspection"]["number"] == got["number"]
        assert got["number"] in event.comment
        assert s.get(InspectionItem, items["GL-04"]["id"]).case_id == row.id
    # a second time: 409 naming the case
    r = officer.post(f"/api/inspections/{got['id']}/items/{items['GL-04']['id']}/case")
    assert r.status_code == 409 and hazard["number"] in r.text
    # an item on a catalogue criterion proposes a 重大事故隐患 on it
    r = officer.post(f"/api/inspections/{got['id']}/items/{items['JSJ-02']['id']}/case")
    assert r.status_code == 201, r.text
    major = r.json()["case"]
    assert major["kind"] == "major_hazard"
    with db.session() as s:
        assert s.get(Case, major["id"]).hazard_item_code == "7.2"
    detail = officer.get(f"/api/inspections/{got['id']}").json()
    assert {c["number"] for c in detail["cases"]} == {hazard["number"], major["number"]}
    # the officer may choose a major hazard for an item without a catalogue item too
    got2 = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id,
                                                      fails={"GC-01": "5层临边无防护"})).json()
    item = next(i for i in got2["items"] if i["result"] == "fail")
    r = officer.post(f"/api/inspections/{got2['id']}/items/{item['id']}/case",
                     json={"kind": "major_hazard", "hazard_item_code": "15.1"})
    assert r.status_code == 201 and r.json()["case"]["kind"] == "major_hazard"
    # a contact of the unit reads the inspection, never turns an item into a case
    assert api(world.contact).post(f"/api/inspections/{got2['id']}/items/{item['id']}/case").status_code == 403


def _campaign(db, clock, world, **kw) -> int:
    with db.transaction() as s:
        c = Campaign(name="建筑施工安全专项整治", jurisdiction_code="320500", starts_on=date(2026, 11, 1),
                     ends_on=date(2027, 3, 31), scope_codes=kw.get("scope", []), project_kinds=kw.get("kinds", []),
                     coverage_target=100, description="", status="active", created_by_id=world.supervisor.id,
                     created_at=clock.now())
        s.add(c)
        s.flush()
        s.add(CampaignRound(campaign_id=c.id, round_no=1, name="第一轮", starts_on=date(2026, 11, 1),
                            due_on=date(2026, 12, 31)))
        return c.id


def test_campaign_round_checked_and_tag_copied_to_cases(api, world, checklists, db, clock):
    cid = _campaign(db, clock, world)
    officer = api(world.officer)
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, campaign_id=cid, round_no=2))
    assert r.status_code == 422 and "轮次" in r.text and "没有第2轮" in r.text
    outside = _campaign(db, clock, world, scope=["320506"])
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, campaign_id=outside, round_no=1))
    assert r.status_code == 422 and "不在专项行动" in r.text
    municipal_only = _campaign(db, clock, world, kinds=["municipal"])
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, campaign_id=municipal_only,
                                                   round_no=1))
    assert r.status_code == 422 and "专项行动" in r.text
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, campaign_id=cid, round_no=1,
                                                   fails={"GL-04": "无交底"}))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["campaign"] == {"id": cid, "name": "建筑施工安全专项整治", "round_no": 1}
    assert officer.get("/api/inspections", params={"campaign_id": cid, "round_no": 1}).json()["total"] == 1
    item = next(i for i in got["items"] if i["result"] == "fail")
    case = officer.post(f"/api/inspections/{got['id']}/items/{item['id']}/case").json()["case"]
    assert case["campaign_id"] == cid
    with db.session() as s:
        assert s.get(Case, case["id"]).campaign_id == cid


def _task(db, clock, source_case_id: int, project_id: int, jurisdiction: str = "320508") -> int:
    with db.transaction() as s:
        t = AnalogTask(source_case_id=source_case_id, project_id=project_id, jurisdiction_code=jurisdiction,
                       reason="same_category", category="scaffolding", due_on=date(2026, 12, 7), status="open",
                       created_at=clock.now())
        s.add(t)
        s.flush()
        return t.id


def test_analog_tasks_closed_per_contract(api, world, checklists, db, clock):
    officer = api(world.officer)
    source = api(world.supervisor).post("/api/cases", json={"kind": "hazard", "title": "类比排查的来源",
                                                            "project_id": world.p2.id}).json()
    t1 = _task(db, clock, source["id"], world.p1.id)
    # a task of another project is refused
    t_other = _task(db, clock, source["id"], world.p2.id, "320506")
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, analog_task_id=t_other))
    assert r.status_code == 422 and "类比排查任务" in r.text
    # the given task is closed
    clock.advance(timedelta(hours=2))
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, analog_task_id=t1))
    assert r.status_code == 201, r.text
    with db.session() as s:
        t = s.get(AnalogTask, t1)
        assert (t.status, t.inspection_id, t.done_at) == ("done", r.json()["id"], clock.now())
    # a closed task cannot be named again
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, analog_task_id=t1))
    assert r.status_code == 422 and "已完成" in r.text
    # without a task named: every open task of the project is closed
    src2 = api(world.supervisor).post("/api/cases", json={"kind": "hazard", "title": "第二个来源",
                                                          "project_id": world.p2.id}).json()
    t2 = _task(db, clock, src2["id"], world.p1.id)
    r = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id))
    with db.session() as s:
        assert s.get(AnalogTask, t2).status == "done" and s.get(AnalogTask, t2).inspection_id == r.json()["id"]
        assert s.get(AnalogTask, t_other).status == "open"  # another project's task stays open


def test_a_building_inspection_and_its_dangerous_building_case(api, world, checklists, db):
    officer = api(world.officer)
    chk = checklists["existing_buildings"]
    r = officer.post("/api/inspections", json=body(chk, world.p1.id, fails={"FW-02": "承重墙斜裂缝"}))
    assert r.status_code == 422 and "适用于既有房屋" in r.text
    b = body(chk, fails={"FW-02": "承重墙斜裂缝"}, building_id=world.b1.id)
    r = officer.post("/api/inspections", json={**b, "project_id": world.p1.id})
    assert r.status_code == 422 and "二者选一" in r.text
    got = officer.post("/api/inspections", json=b).json()
    assert got["building"]["id"] == world.b1.id and got["enterprise"] is None and got["place"] == "平江路5号"
    item = next(i for i in got["items"] if i["result"] == "fail")
    r = officer.post(f"/api/inspections/{got['id']}/items/{item['id']}/case", json={"kind": "hazard"})
    assert r.status_code == 422 and "案件类型" in r.text and "危险房屋" in r.text
    r = officer.post(f"/api/inspections/{got['id']}/items/{item['id']}/case")
    assert r.status_code == 201 and r.json()["case"]["kind"] == "dangerous_building"
    with db.session() as s:
        assert s.get(Case, r.json()["case"]["id"]).building_id == world.b1.id
    # the building register is the authorities': a contact does not see building inspections
    assert api(world.contact).get(f"/api/inspections/{got['id']}").status_code == 404


def test_checklist_versions_and_a_past_inspection_keeps_its_version(api, world, checklists, db, clock):
    chk = checklists["dangerous_works"]
    officer = api(world.officer)
    old = officer.post("/api/inspections", json=body(chk, world.p1.id, fails={"WD-09": "连墙件缺失"})).json()
    assert old["checklist"]["version"] == chk["version"]
    yaml_v2 = ("code: dangerous_works\ntitle: 危险性较大的分部分项工程专项检查表（2027修订）\napplies_to: project\n"
               "items:\n  - {code: WD-01, category: management, text: 专项方案已编制审核, major_hazard_item: '4.4'}\n"
               "  - {code: WD-20, category: lifting, text: 塔吊附着符合要求, major_hazard_item: '8.2'}\n")
    files = {"file": ("dw.yaml", yaml_v2.encode(), "application/x-yaml")}
    assert api(world.officer).post("/api/checklists", files=files).status_code == 403
    r = api(world.admin).post("/api/checklists", files=files)
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == chk["version"] + 1 and [i["code"] for i in v2["items"]] == ["WD-01", "WD-20"]
    # the same YAML again: the existing version, nothing new
    again = api(world.admin).post("/api/checklists", files=files)
    assert again.status_code == 200 and again.json()["id"] == v2["id"]
    # the list offers the newest version; every version is kept
    latest = {c["code"]: c for c in officer.get("/api/checklists").json()["items"]}
    assert latest["dangerous_works"]["id"] == v2["id"]
    versions = [c for c in officer.get("/api/checklists", params={"all_versions": "true"}).json()["items"]
                if c["code"] == "dangerous_works"]
    assert [c["version"] for c in versions] == [v2["version"], chk["version"]]
    # the past inspection keeps its version and its items
    past = officer.get(f"/api/inspections/{old['id']}").json()
    assert past["checklist"]["id"] == chk["id"] and past["checklist"]["version"] == chk["version"]
    assert len(past["items"]) == len(chk["items"])
    assert officer.get(f"/api/checklists/{chk['id']}").json()["item_count"] == len(chk["items"])
    # a shipped file unchanged is no new version
    with db.transaction() as s:
        assert sync_shipped(s, clock.now()) == 0
        assert s.scalar(select(Checklist.version).where(Checklist.id == chk["id"])) == chk["version"]


def test_bad_checklist_yaml_is_a_422_naming_the_item(api, world, checklists):
    bad = ("code: broken\ntitle: 坏检查表\napplies_to: project\nitems:\n"
           "  - {code: A-1, text: 一, category: nowhere}\n  - {code: A-1, text: 二}\n"
           "  - {code: A-3, text: 三, major_hazard_item: '99.9'}\n  - {code: A-4, text: 四, results: [na]}\n")
    r = api(world.admin).post("/api/checklists", files={"file": ("b.yaml", bad.encode(), "text/yaml")})
    assert r.status_code == 422
    text = r.text
    assert "检查项“A-1”的隐患类别" in text and "基坑工程" in text
    assert "代码须唯一" in text
    assert "检查项“A-3”的重大事故隐患判定条目" in text
    assert "检查项“A-4”的可选结果" in text
    r = api(world.admin).post("/api/checklists", files={"file": ("b.yaml", b"code: [unclosed", "text/yaml")})
    assert r.status_code == 422 and "YAML" in r.text


def test_item_photo(api, world, checklists):
    officer = api(world.officer)
    got = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id, fails={"GL-04": "无"})).json()
    item = next(i for i in got["items"] if i["result"] == "fail")
    url = f"/api/inspections/{got['id']}/items/{item['id']}/photo"
    r = officer.post(url, files={"file": ("x.txt", b"not a photo", "text/plain")})
    assert r.status_code == 422 and "照片" in r.text
    r = officer.post(url, files={"file": ("现场.png", tiny_png(), "image/png")})
    assert r.status_code == 200, r.text
    photo = officer.get(url)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert officer.get(url, params={"thumb": "true"}).headers["content-type"] == "image/jpeg"
    assert api(world.officer_wz).get(url).status_code == 404
    detail = officer.get(f"/api/inspections/{got['id']}").json()
    assert next(i for i in detail["items"] if i["id"] == item["id"])["photo"]["url"] == url


def _pdftotext(data: bytes, tmp_path) -> str:
    path = tmp_path / "record.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return "".join(out.split())


def test_the_record_document_read_back_from_its_pdf(api, world, checklists, db, clock, tmp_path, fresh_data_settings):
    complete_project(db, world, clock)
    officer = api(world.officer)
    got = officer.post("/api/inspections", json=body(
        checklists["comprehensive"], world.p1.id, fails={"JSJ-02": "3号楼12层连墙件整层缺失"}, unannounced=True,
        handling="责令立即整改，下达隐患整改通知书")).json()
    item = next(i for i in got["items"] if i["result"] == "fail")
    case = officer.post(f"/api/inspections/{got['id']}/items/{item['id']}/case").json()["case"]
    r = officer.get(f"/api/inspections/{got['id']}/document.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = _pdftotext(r.content, tmp_path)
    for needle in ["苏州市姑苏区住房和城乡建设局", "监督检查记录", got["number"], "姑苏测试项目", "苏州测试建设有限公司",
                   "2026年11月23日", "四不两直", "日常检查", "房屋市政工程安全生产综合检查表（第1版）",
                   "连墙件按方案设置", "3号楼12层连墙件整层缺失", "第7.2条", case["number"],
                   "责令立即整改，下达隐患整改通知书", "检查人员签字", "受检单位负责人签字"]:
        assert needle in text, needle
    # stored: the same bytes again, ETag = hash
    again = officer.get(f"/api/inspections/{got['id']}/document.pdf")
    assert again.content == r.content and again.headers["etag"] == f'"{r.headers["x-document-sha256"]}"'
    html = officer.get(f"/api/inspections/{got['id']}/document.html")
    assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
    # no findings: said so
    clean = officer.post("/api/inspections", json=body(checklists["comprehensive"], world.p1.id)).json()
    text = _pdftotext(officer.get(f"/api/inspections/{clean['id']}/document.pdf").content, tmp_path)
    assert "本次检查未发现问题" in text and clean["number"] in text
