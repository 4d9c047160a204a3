"""Action forms (/cases/{id}/actions/{action}) drawn from the machine's field specs: every field type
renders, the service's own Chinese messages are shown next to the field with the values kept, a stale
version changes nothing, an action not possible now is the 409 page, and the pickers list only what
the user may see — real HTTP with page sessions, and Chromium at phone width."""
from __future__ import annotations

import html as htmllib
import os
import re
from pathlib import Path

from sqlalchemy import select

from cases.models import HazardCatalogItem
from cases.reference import load_hazard_catalog
from tests.pages.conftest import csrf, post_form

SHOTS = Path(os.environ["FORMS_SHOTS"]) if os.environ.get("FORMS_SHOTS") else None  # to look at them


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


def _field(html: str, name: str) -> str:
    """The markup of one field (its <div class="field …" data-field="name"> … </div>)."""
    start = html.index(f'data-field="{name}"')
    return html[start:html.index("\n</div>", start)]


def _hazard(officer, world, title="3号楼临边防护缺失"):
    r = officer.post("/api/cases", json={"kind": "hazard", "title": title, "project_id": world.p1.id})
    assert r.status_code == 201, r.text
    return r.json()


def _case(officer, case_id):
    return officer.get(f"/api/cases/{case_id}").json()


def test_register_form_renders_each_field_from_the_machine(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    r = pages(world.officer).get(f"/cases/{case['id']}/actions/register")
    assert r.status_code == 200, r.text
    html = r.text
    assert "<h1>登记立案</h1>" in html and f'name="version" value="{case["version"]}"' in html
    # enterprise: a picker (datalist filled by the server, app.js refines it) with its label and mark
    ent = _field(html, "enterprise_id")
    assert "责任单位" in ent and 'title="必填"' in ent and 'data-picker="/picker/enterprises"' in ent
    assert f'<option value="{world.e1.id}" label="苏州测试建设有限公司 · ' in ent
    # enum with two options: radio buttons with the Chinese labels
    sev = _field(html, "severity")
    assert 'type="radio" name="severity" value="general"' in sev and "一般隐患" in sev and "较大隐患" in sev
    # integer with limits as attributes and in words
    days = _field(html, "rectification_days")
    assert 'type="number"' in days and 'min="1"' in days and 'max="90"' in days and 'step="1"' in days
    assert "不填则按隐患等级取默认期限" in days and "1～90" in days and 'title="必填"' not in days
    # text with its max length
    req = _field(html, "requirements")
    assert "<textarea" in req and 'maxlength="4000"' in req
    # user picker: staff of the officer's subtree only
    assignee = _field(html, "assignee_id")
    assert 'data-picker="/picker/users"' in assignee and ">officer · officer<" in assignee
    assert "officer_wz" not in assignee and "supervisor" not in assignee
    # the comment is always there
    assert 'name="comment"' in html and "备注" in _field(html, "comment")


def test_checklist_boolean_date_and_datetime_widgets(api, pages, world, db, clock):
    """An accident's close-out (四不放过 checklist, a must-be-true confirmation, a date) and the
    dangerous building's evacuation (datetime in Beijing time, integer)."""
    from api.pages.cases import forms
    from cases.ledger.engine import get_registry

    registry = get_registry()
    verify = registry.latest("accident").action("verify")
    evacuate = next(a for a in registry.latest("dangerous_building").actions
                    if any(f.type == "datetime" for f in a.fields))
    from api.pages.common import templates

    macro = templates.env.get_template("_fields.html").module
    with db.session() as s:
        html = str(macro.fields(forms.widgets(s, world.officer, verify.fields + evacuate.fields)))
    four = _field(html, "four_nots")
    assert four.count('type="checkbox" name="four_nots"') == 4 and "事故原因未查清不放过" in four and "须全部落实" in four
    assert 'type="checkbox" name="penalties_executed" value="true"' in _field(html, "penalties_executed")
    assert 'type="date"' in _field(html, "approved_on") and "不能晚于现在" in _field(html, "approved_on")
    dt = next(f.name for f in evacuate.fields if f.type == "datetime")
    assert 'type="datetime-local"' in _field(html, dt) and "北京时间" in _field(html, dt)
    # the reverse: a posted Beijing time passes as typed (the service reads a zone-less time as Beijing)
    from starlette.datastructures import FormData

    with db.session() as s:
        parsed = forms.payload_from_form(s, world.officer, verify.fields, FormData(
            [("four_nots", "cause"), ("four_nots", "measures"), ("approved_on", "2026-11-20"), ("approval_no", " ")]))
    assert parsed.payload == {"four_nots": ["cause", "measures"], "approved_on": "2026-11-20",
                              "penalties_executed": False}


def test_a_bad_value_shows_the_services_message_next_to_the_field_and_keeps_the_others(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/register"
    r = post_form(page, path, path, {"version": str(case["version"]), "enterprise_id": str(world.e1.id),
                                     "severity": "serious", "rectification_days": "400",
                                     "requirements": "立即设置临边防护栏杆", "comment": "现场检查发现"})
    assert r.status_code == 422
    days = _field(r.text, "rectification_days")
    assert "不能大于90" in days and "field-error" in days and 'value="400"' in days
    assert 'value="serious" checked' in r.text and "立即设置临边防护栏杆</textarea>" in r.text
    assert "现场检查发现</textarea>" in r.text and f'value="{world.e1.id}"' in _field(r.text, "enterprise_id")
    assert "已选：苏州测试建设有限公司" in _field(r.text, "enterprise_id")
    # a required field left empty: the service's 必填, next to it
    r = post_form(page, path, path, {"version": str(case["version"]), "severity": "general"})
    assert r.status_code == 422 and "必填" in _field(r.text, "enterprise_id") and "必填" in _field(r.text, "requirements")
    # a name typed that names nothing visible: said so at the field
    r = post_form(page, path, path, {"version": str(case["version"]), "enterprise_id": "不存在的公司",
                                     "severity": "general", "requirements": "x"})
    assert "未找到“不存在的公司”" in _field(r.text, "enterprise_id")
    assert _case(officer, case["id"])["state"] == "found"
    # the exact name typed instead of the id is resolved on the server (no JavaScript needed)
    r = post_form(page, path, path, {"version": str(case["version"]), "enterprise_id": "苏州测试建设有限公司",
                                     "severity": "general", "requirements": "立即设置临边防护栏杆"})
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case['id']}"
    after = _case(officer, case["id"])
    assert after["state"] == "registered" and after["enterprise"]["id"] == world.e1.id
    assert "已提交：登记立案" in page.get(f"/cases/{case['id']}").text


def test_a_stale_version_changes_nothing_and_offers_the_fresh_form(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/register"
    form_html = page.get(path).text
    # someone else acts in between
    assert officer.act(case, "assign", assignee_id=world.officer.id).status_code == 200
    current = _case(officer, case["id"])
    r = page.post(path, data={"csrf_token": csrf(form_html), "version": str(case["version"]),
                              "enterprise_id": str(world.e1.id), "severity": "general", "requirements": "立即整改"})
    assert r.status_code == 409 and "案件已被他人更新" in r.text
    assert f'href="/cases/{case["id"]}/actions/register">按最新版本重新填写' in r.text
    assert "立即整改</textarea>" in r.text  # what was typed is still there to copy
    after = _case(officer, case["id"])
    assert after["version"] == current["version"] and after["state"] == "found"
    fresh = page.get(path).text
    assert f'name="version" value="{current["version"]}"' in fresh


def test_an_action_not_possible_now_is_the_409_page_saying_what_is(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    r = pages(world.officer).get(f"/cases/{case['id']}/actions/verify")
    assert r.status_code == 409
    text = _text(r.text)
    assert "当前状态为“已发现”" in text and "不能执行“复查合格”" in text and "登记立案" in text
    # the enterprise contact may comment, not register
    assert pages(world.contact).get(f"/cases/{case['id']}/actions/register").status_code in (404, 409)


def test_a_comment_through_its_form(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/comment"
    r = post_form(page, path, path, {"version": str(case["version"]), "comment": ""})
    assert r.status_code == 422 and "必填" in _field(r.text, "comment")
    r = post_form(page, path, path, {"version": str(case["version"]), "comment": "已电话通知项目经理"})
    assert r.status_code == 303
    events = officer.get(f"/api/cases/{case['id']}/events").json()["items"]
    assert events[-1]["action"] == "comment" and events[-1]["comment"] == "已电话通知项目经理"


def test_pickers_list_only_what_the_user_may_see(pages, world, db):
    wz = pages(world.officer_wz)
    projects = wz.get("/picker/projects").json()["items"]
    assert [p["label"].split(" · ")[0] for p in projects] == ["吴中测试项目"]
    assert wz.get("/picker/projects", params={"q": "姑苏"}).json()["items"] == []
    buildings = wz.get("/picker/buildings").json()["items"]
    assert [b["value"] for b in buildings] == [str(world.b2.id)]
    gusu = pages(world.officer).get("/picker/projects", params={"q": "姑苏"}).json()["items"]
    assert gusu == [{"value": str(world.p1.id), "label": "姑苏测试项目 · 平江路1号"}]
    users = wz.get("/picker/users").json()["items"]
    assert [u["label"] for u in users] == ["officer_wz · officer_wz"]
    with db.session() as s:  # what a form without JavaScript accepts: a name, login or label of a visible row
        from api.pages.cases.pickers import resolve

        officer_wz = s.get(type(world.officer_wz), world.officer_wz.id)
        assert resolve(s, officer_wz, "users", "officer_wz") == (world.officer_wz.id, None)
        assert resolve(s, officer_wz, "projects", "吴中测试项目") == (world.p2.id, None)
        assert "未找到" in resolve(s, officer_wz, "projects", "姑苏测试项目")[1]
    # an enterprise contact: its own unit, no buildings, no users
    contact = pages(world.contact)
    assert [e["value"] for e in contact.get("/picker/enterprises").json()["items"]] == [str(world.e1.id)]
    assert contact.get("/picker/buildings").json()["items"] == []
    assert contact.get("/picker/users").json()["items"] == []
    # the catalogue, searchable
    with db.transaction() as s:
        if s.scalar(select(HazardCatalogItem.id).limit(1)) is None:
            load_hazard_catalog(s)
    found = wz.get("/picker/hazard-items", params={"q": "基坑"}).json()["items"]
    assert found and all("基坑" in i["label"] for i in found)
    # no session: to the login page, not data
    assert pages(None).get("/picker/projects").status_code == 303


def test_an_officer_creates_a_hazard_and_registers_it_on_a_phone_with_the_enterprise_picker(
        api, browser_page, world):
    officer = api(world.officer)
    desk = browser_page(world.officer)
    desk.goto("/")
    desk.click('a[href="/cases/new"]')
    desk.click('a[data-kind="hazard"]')
    desk.fill("#f-title", "塔吊基础积水")
    desk.select_option("#f-category", "lifting")
    desk.fill("#f-project_id", "姑苏")
    desk.wait_for_function("() => document.querySelectorAll('#dl-project_id option').length === 1")
    desk.fill("#f-project_id", desk.eval_on_selector("#dl-project_id option", "o => o.value"))
    desk.fill("#f-location", "2号塔吊")
    desk.click("button.primary")
    desk.wait_for_url(re.compile(r".*/cases/\d+$"))
    assert "已新建一般安全隐患" in desk.inner_text("main")
    case = _case(officer, int(desk.url.rsplit("/", 1)[1]))
    assert case["title"] == "塔吊基础积水" and case["project_id"] == world.p1.id
    assert case["details"] == {"category": "lifting"} and case["state"] == "found"
    page = browser_page(world.officer, width=375, height=800)
    page.goto(f"/cases/{case['id']}")
    page.click('a[data-action="register"]')
    page.wait_for_url(f"**/cases/{case['id']}/actions/register")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    field = page.locator("#f-enterprise_id")
    field.fill("苏州测试")
    # app.js asked the picker: the datalist now holds the matching enterprise
    page.wait_for_function("() => [...document.querySelectorAll('#dl-enterprise_id option')]"
                           ".some(o => o.label.startsWith('苏州测试建设有限公司'))")
    value = page.eval_on_selector("#dl-enterprise_id option", "o => o.value")
    field.fill(value)  # what choosing the option does
    field.press("Tab")
    assert page.inner_text('[data-field="enterprise_id"] p.chosen').startswith("已选：苏州测试建设有限公司")
    page.check('input[name="severity"][value="serious"]')
    page.fill("#f-requirements", "排除塔吊基础积水，加固基础")
    page.fill("#f-comment", "现场检查发现")
    if SHOTS:
        page.screenshot(path=str(SHOTS / "register-375.png"), full_page=True)
    page.click("button.primary")
    page.wait_for_url(f"**/cases/{case['id']}")
    assert "已提交：登记立案" in page.inner_text("main")
    after = _case(officer, case["id"])
    assert after["state"] == "registered" and after["severity"] == "serious"
    assert after["enterprise"]["id"] == world.e1.id


def test_a_rule_on_the_values_is_shown_at_its_field(api, pages, world):
    """The machine's guards answer with field errors too (D级 must be 停止使用 or 拆除): next to 处理方式."""
    officer = api(world.officer)
    r = officer.post("/api/cases", json={"kind": "dangerous_building", "title": "平江路5号墙体开裂",
                                         "building_id": world.b1.id})
    assert r.status_code == 201, r.text
    case = r.json()
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/register"
    html = page.get(path).text
    grade = _field(html, "appraisal_grade")
    assert "<select" in grade and "D级（整幢危房）" in grade  # four options: a select
    data = {"version": str(case["version"]), "appraisal_grade": "D", "appraisal_org": "苏州房屋安全鉴定中心",
            "appraisal_report_no": "JD-2026-118", "appraised_on": "2026-11-20", "handling": "observe"}
    r = post_form(page, path, path, data)
    assert r.status_code == 422
    assert "D级（整幢危房）须停止使用或整体拆除" in _field(r.text, "handling")
    assert '<option value="D" selected>' in r.text and 'value="JD-2026-118"' in r.text
    assert _case(officer, case["id"])["state"] == "found"
    r = post_form(page, path, path, {**data, "handling": "stop_use"})
    assert r.status_code == 303
    assert _case(officer, case["id"])["appraisal_grade"] == "D"


def test_a_yes_no_field_is_two_radio_buttons(db, world):
    from api.pages.cases import forms
    from api.pages.common import templates
    from cases.ledger.engine import get_registry

    decide = get_registry().latest("hazard").action("decide_extension")
    macro = templates.env.get_template("_fields.html").module
    with db.session() as s:
        html = str(macro.fields(forms.widgets(s, world.supervisor, decide.fields, {"approved": "false"})))
    approved = _field(html, "approved")
    assert 'type="radio" name="approved" value="true"' in approved and "是</label>" in approved
    assert 'value="false" checked' in approved and "否</label>" in approved


def test_a_name_two_enterprises_share_is_told_apart_by_the_options_label(api, pages, world, db, clock):
    """Without JavaScript a typed name is resolved on the server; a name two visible units share is
    said to be ambiguous at the field, and the option's whole label (名称 · 信用代码) picks one."""
    from cases.ledger.identifiers import make_credit_code
    from cases.models import Enterprise

    with db.transaction() as s:
        twins = [Enterprise(credit_code=make_credit_code(f"91320508MA1T{n}{n}{n}{n}{n}"), name="姑苏同名建设有限公司",
                            jurisdiction_code="320508", credit_score=100, created_at=clock.now()) for n in (5, 6)]
        s.add_all(twins)
        s.flush()
        second = (twins[1].id, twins[1].credit_code)
    officer = api(world.officer)
    case = _hazard(officer, world)
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/register"
    data = {"version": str(case["version"]), "severity": "general", "requirements": "立即整改",
            "enterprise_id": "姑苏同名建设有限公司"}
    r = post_form(page, path, path, data)
    assert r.status_code == 422
    ent = _field(r.text, "enterprise_id")
    assert "名为“姑苏同名建设有限公司”的不止一个" in ent and 'value="姑苏同名建设有限公司"' in ent
    assert _case(officer, case["id"])["state"] == "found"
    r = post_form(page, path, path, {**data, "enterprise_id": f"姑苏同名建设有限公司 · {second[1]}"})
    assert r.status_code == 303
    assert _case(officer, case["id"])["enterprise"]["id"] == second[0]


def test_a_major_hazard_verify_without_a_photo_says_so_and_links_to_the_upload(api, pages, world, clock):
    """machine v2's guard has_rectification_photo: the form is refused (GET and POST) with the rule's
    own words and a link to the case page's upload section; after the photo it goes through."""
    from tests.evidence_files import PHOTO_REFUSAL, upload_photo
    from tests.machine_paths import HttpDriver, action_payload

    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard")
    for action in ("register", "start_rectification", "apply_review"):
        case = drv.act(case, action, with_photo=False)
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/verify"
    evidence_link = f'href="/cases/{case["id"]}#evidence"'
    r = page.get(path)
    assert r.status_code == 409 and PHOTO_REFUSAL in _text(r.text) and evidence_link in r.text
    # a form posted anyway (opened in another tab, say): the same refusal, nothing changes
    fields = {k: ("true" if v is True else str(v)) for k, v in action_payload("major_hazard", "verify", world, clock).items()
              if not isinstance(v, list)}
    token = csrf(page.get(f"/cases/{case['id']}").text)
    r = page.post(path, data={**fields, "version": str(case["version"]), "csrf_token": token})
    assert r.status_code == 409 and PHOTO_REFUSAL in _text(r.text) and evidence_link in r.text
    assert drv.get(case)["state"] == "rectifying"
    upload_photo(drv.client(world.officer), case["id"])
    r = post_form(page, path, path, {**fields, "version": str(drv.get(case)["version"])})
    assert r.status_code == 303, _text(r.text)[:600]
    assert drv.get(case)["state"] == "verified"


def test_a_fresh_form_starts_from_what_the_case_holds(api, pages, world, db):
    """The 责任单位 named when the hazard was created, the catalogue item of a major hazard: already
    chosen on the register form (a re-render keeps what was posted instead)."""
    with db.transaction() as s:
        if s.scalar(select(HazardCatalogItem.id).limit(1)) is None:
            load_hazard_catalog(s)
    officer = api(world.officer)
    r = officer.post("/api/cases", json={"kind": "major_hazard", "title": "基坑未按方案开挖", "project_id": world.p1.id,
                                         "enterprise_id": world.e1.id, "hazard_item_code": "7.2"})
    assert r.status_code == 201, r.text
    case = r.json()
    page = pages(world.officer)
    path = f"/cases/{case['id']}/actions/register"
    html = page.get(path).text
    ent = _field(html, "enterprise_id")
    assert f'value="{world.e1.id}" list=' in ent and "已选：苏州测试建设有限公司" in ent
    assert re.search(r'<option value="7\.2" title="[^"]*" selected>', _field(html, "hazard_item_code"))
    r = post_form(page, path, path, {"version": str(case["version"]), "enterprise_id": "", "hazard_item_code": "7.2",
                                     "rectification_days": "0"})
    assert r.status_code == 422 and 'value="" list=' in _field(r.text, "enterprise_id")


def test_date_inputs_offer_no_future_for_fields_that_may_not_lie_in_it(pages, world, clock):
    from api.pages.common import SHANGHAI

    page = pages(world.officer)
    now = clock.now().astimezone(SHANGHAI)
    found = _field(page.get("/cases/new/hazard").text, "found_at")
    assert f'max="{now:%Y-%m-%dT%H:%M}"' in found and 'min="2000-01-01T00:00"' in found
    occurred = _field(page.get("/cases/new/accident").text, "occurred_at")
    assert f'max="{now:%Y-%m-%dT%H:%M}"' in occurred
