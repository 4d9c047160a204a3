"""The self-inspection pages (docs/self-inspection.md): a contact records its unit's self-found hazard
through the form, reports it rectified with a 整改后 photo, and reads its own 自查整改台账; the
regulator reads every enterprise's, whose figures link to lists of exactly that many rows — and in
Chromium on a phone (375 px) the contact records one with a photo."""
from __future__ import annotations

import re
from datetime import timedelta

from cases.clocks.sweep import fire_due_batch
from tests.evidence_files import jpeg_with_exif, upload_photo
from tests.pages.conftest import post_form

FORM = "/cases/new/self_hazard"


def _field(html: str, name: str) -> str:
    start = html.index(f'data-field="{name}"')
    return html[start:html.index("\n</div>", start)]


def _record(page, **extra):
    data = {"title": "配电箱门锁损坏", "project_id": "姑苏测试项目", "severity": "general", "rectification_days": "5",
            "category": "power", "measures": "更换门锁", **extra}
    return post_form(page, FORM, FORM, data)


def _rows(html: str) -> int:
    return len(re.findall(r'<tr class="self-', html))


def test_the_contact_records_rectifies_and_reads_its_ledger(pages, api, world, fresh_data_settings):
    page = pages(world.contact)
    ledger = page.get("/self-inspection")
    assert ledger.status_code == 200 and "本单位自查整改台账" in ledger.text and f'href="{FORM}"' in ledger.text
    assert 'href="/self-inspection"' in ledger.text  # in the header's navigation
    assert "还没有自查隐患记录" in ledger.text
    # the new-case chooser offers the contact only this kind; the form only the unit's own fields
    chooser = page.get("/cases/new").text
    assert f'href="{FORM}"' in chooser and "/cases/new/hazard" not in chooser
    html = page.get(FORM).text
    for absent in ("jurisdiction_code", "assignee_id", "enterprise_id", "building_id", "source"):
        assert f'data-field="{absent}"' not in html, absent
    assert 'data-picker="/picker/projects"' in _field(html, "project_id")
    assert "自查整改期限（天）" in _field(html, "rectification_days")
    # another unit's project is refused at its field, the values kept
    r = _record(page, project_id=str(world.p2.id))
    assert r.status_code == 422 and "不是本单位参建的项目" in _field(r.text, "project_id")
    assert 'value="配电箱门锁损坏"' in r.text
    r = _record(page)
    assert r.status_code == 303, r.text[:1000]
    case_path = r.headers["location"]
    case = api(world.contact).get("/api" + case_path).json()
    assert case["kind"] == "self_hazard" and case["enterprise"]["id"] == world.e1.id
    r = post_form(page, f"{case_path}/actions/start_rectification", f"{case_path}/actions/start_rectification",
                  {"version": str(case["version"])})
    assert r.status_code == 303, r.text[:1000]
    # 报告整改完成 wants a 整改后 photo first: the form says so and links to the upload
    refused = page.get(f"{case_path}/actions/report_completion")
    assert refused.status_code == 409 and "尚未上传整改后照片" in refused.text
    upload_photo(api(world.contact), case["id"])
    r = post_form(page, f"{case_path}/actions/report_completion", f"{case_path}/actions/report_completion",
                  {"version": str(api(world.contact).get("/api" + case_path).json()["version"]),
                   "completion_report": "已更换门锁并检查"})
    assert r.status_code == 303, r.text[:1000]
    ledger = page.get("/self-inspection").text
    assert _rows(ledger) == 1 and "按期整改" in ledger and case["number"] in ledger
    assert "本单位案件" in ledger  # a contact's header


def test_staff_and_other_kinds_keep_their_creators(pages, world):
    assert pages(world.officer).get(FORM).status_code == 403
    assert pages(world.contact).get("/cases/new/hazard").status_code == 403
    officer_chooser = pages(world.officer).get("/cases/new").text
    assert f'href="{FORM}"' not in officer_chooser and 'href="/cases/new/hazard"' in officer_chooser


def test_the_regulator_reads_every_enterprise_and_the_figures_link_to_their_rows(pages, api, world, clock, db,
                                                                                 fresh_data_settings):
    contact = pages(world.contact)
    assert _record(contact, title="安全网破损", rectification_days="1").status_code == 303
    assert _record(contact, title="临边防护缺失", rectification_days="20").status_code == 303
    r = _record(contact, title="洞口未封闭", rectification_days="3")
    fixed = api(world.contact).get("/api" + r.headers["location"]).json()
    fixed = api(world.contact).act(fixed, "start_rectification").json()
    upload_photo(api(world.contact), fixed["id"])
    api(world.contact).act(fixed, "report_completion", completion_report="已封闭")
    clock.advance(timedelta(days=3))
    fire_due_batch(db, clock.now(), worker="test")  # 安全网破损 is handed over

    officer = pages(world.officer)
    html = officer.get("/self-inspection").text
    assert "企业自查整改台账" in html and world.e1.name in html
    counts = dict(re.findall(r'data-status="(\w+)" href="[^"]*">(\d+)</a>', html))
    assert counts == {"found": "3", "rectifying": "1", "rectified_on_time": "1", "rectified_late": "0",
                      "handed_over": "1"}
    for status, n in counts.items():
        href = re.search(rf'data-status="{status}" href="([^"]*)"', html).group(1).replace("&amp;", "&")
        listed = officer.get(href).text
        assert _rows(listed) == int(n), (status, href)
    handed = officer.get(f"/self-inspection?status=handed_over&enterprise_id={world.e1.id}").text
    assert "原自查编号 320508-ZC-2026-" in handed and "320508-YH-2026-000001" in handed
    # its case page: the timeline names the hand-over, the case its old number
    case_id = re.search(r'<tr class="self-handed_over" data-case="(\d+)"', handed).group(1)
    page = officer.get(f"/cases/{case_id}").text
    assert "逾期移交监管部门" in page and "320508-ZC-2026-" in page and "一般安全隐患" in page
    # another county's officer reads none of it
    assert "还没有自查隐患记录" in pages(world.officer_wz).get("/self-inspection").text
    bad = officer.get("/self-inspection?status=lost")
    assert bad.status_code == 422 and "自查状态" in bad.text


def test_on_a_phone_the_contact_records_a_self_found_hazard_with_a_photo(browser_page, api, world,
                                                                         fresh_data_settings, tmp_path):
    page = browser_page(world.contact, width=375, height=800)
    page.goto("/self-inspection")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click("text=登记自查隐患")
    page.fill("#f-title", "塔吊标准节螺栓松动")
    page.fill("#f-project_id", "姑苏测试项目")
    page.check("input[name=severity][value=serious]") if page.locator("input[name=severity]").count() \
        else page.select_option("#f-severity", "serious")
    page.fill("#f-rectification_days", "3")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click("button.primary[type=submit]")
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    assert "已新建企业自查隐患" in page.content()
    photo = tmp_path / "整改后.jpg"
    photo.write_bytes(jpeg_with_exif())
    page.set_input_files("form.evidence-upload input[type=file]", str(photo))
    page.select_option("form.evidence-upload select[name=purpose]", "after")
    page.click("form.evidence-upload button[type=submit]")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    items = api(world.contact).get(f"/api/cases/{case_id}/evidence").json()["items"]
    assert [e["purpose"] for e in items] == ["after"] and items[0]["is_image"]
    case = api(world.contact).get(f"/api/cases/{case_id}").json()
    assert case["kind"] == "self_hazard" and "start_rectification" in case["allowed_actions"]
    page.goto("/self-inspection")
    assert "塔吊标准节螺栓松动" in page.content() and "自查整改中" in page.content() and "已发现，待整改" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    from tests.pages.test_action_forms import SHOTS

    if SHOTS:
        page.screenshot(path=str(SHOTS / "self-inspection-375.png"), full_page=True)
