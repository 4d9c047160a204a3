"""A case officer's day in the browser (Debian's Chromium): log in through the form, create a hazard,
register it, start rectification; the enterprise contact uploads the 整改后 photo and reports
completion; the officer verifies and closes — each step seen on the case page's timeline. A major
hazard refuses verification until a rectification photo is on the case (machine guard)."""
from __future__ import annotations

import re

from tests.evidence_files import fresh_png


def _login(page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "secret-pw")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def _act(page, case_id: int, action: str, fill: dict[str, str] | None = None, *, checks=(), radios=()) -> None:
    page.goto(f"/cases/{case_id}")
    page.click(f'a[data-action="{action}"]')
    page.wait_for_url(f"**/cases/{case_id}/actions/{action}")
    for name, value in (fill or {}).items():
        page.fill(f"#f-{name}", value)
    for selector in checks:
        page.check(selector)
    for selector in radios:
        page.check(selector)
    page.click("button.primary")
    page.wait_for_url(re.compile(rf".*/cases/{case_id}(#.*)?$"))
    assert "已提交：" in page.inner_text("main"), page.inner_text("main")[:500]


def _upload_photo(page, case_id: int, tmp_path, name: str = "整改后.png") -> None:
    path = tmp_path / name
    path.write_bytes(fresh_png())
    page.goto(f"/cases/{case_id}#evidence")
    page.set_input_files("form.evidence-upload input[type=file]", str(path))
    page.select_option("form.evidence-upload select[name=purpose]", "after")
    page.click("form.evidence-upload button[type=submit]")
    page.wait_for_url(re.compile(rf".*/cases/{case_id}(#evidence)?$"))
    assert page.locator("#evidence img").count() >= 1  # the thumbnail is on the case page


def test_an_officer_takes_a_hazard_from_finding_to_closing_in_the_browser(browser_page, api, world, tmp_path):
    officer = browser_page(None)
    _login(officer, "officer")
    officer.click('a[href="/cases/new"]')
    officer.click('a[data-kind="hazard"]')
    officer.fill("#f-title", "3号楼外脚手架连墙件缺失")
    officer.select_option("#f-category", "scaffolding")
    officer.fill("#f-project_id", str(world.p1.id))
    officer.fill("#f-location", "3号楼12至15层")
    officer.click("button.primary")
    officer.wait_for_url(re.compile(r".*/cases/\d+$"))
    case_id = int(officer.url.rsplit("/", 1)[1])
    _act(officer, case_id, "register", {"enterprise_id": str(world.e1.id), "requirements": "立即补设连墙件",
                                        "comment": "现场检查发现"}, radios=['input[name="severity"][value="general"]'])
    _act(officer, case_id, "start_rectification")
    # The enterprise contact: the case is on its list; it uploads the photo and reports completion.
    contact = browser_page(None)
    _login(contact, "contact")
    assert "3号楼外脚手架连墙件缺失" in contact.inner_text("main")
    _upload_photo(contact, case_id, tmp_path)
    _act(contact, case_id, "report_completion", {"completion_report": "已按要求补设连墙件，整改完毕"})
    # The officer checks on site, verifies and closes.
    page_html = officer.goto(f"/cases/{case_id}")
    assert page_html.status == 200
    form_fields = {"opinion": "整改到位"}
    officer.click('a[data-action="verify"]')
    officer.wait_for_url(f"**/cases/{case_id}/actions/verify")
    if officer.locator("#f-inspectors").count():
        form_fields["inspectors"] = "张三、李四"
    _act(officer, case_id, "verify", form_fields)
    _act(officer, case_id, "close")
    officer.goto(f"/cases/{case_id}")
    timeline = officer.inner_text("#h-timeline >> xpath=..")
    steps = ["新建案件", "登记立案", "开始整改", "报告整改完成", "复查合格", "销号"]
    seen = [s for s in steps if s in timeline]
    assert len(seen) >= 5, (seen, timeline[:800])
    assert "现场检查发现" in timeline and "整改到位" in timeline
    case = api(world.officer).get(f"/api/cases/{case_id}").json()
    assert case["state"] == "closed"


def test_a_major_hazard_cannot_be_verified_without_a_rectification_photo(browser_page, api, world, clock, tmp_path):
    from tests.machine_paths import HttpDriver

    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard")
    for action in ("register", "start_rectification", "apply_review"):
        case = drv.act(case, action, with_photo=False)
    officer = browser_page(world.officer)
    officer.goto(f"/cases/{case['id']}")
    assert officer.locator('a[data-action="verify"]').count() == 0  # not offered: no photo yet
    answer = officer.goto(f"/cases/{case['id']}/actions/verify")
    text = officer.inner_text("main")
    assert answer.status == 409 and "尚未上传整改后照片" in text, text[:600]
    assert officer.locator(f'main a[href="/cases/{case["id"]}#evidence"]').count() == 1  # the way to the upload
    assert drv.get(case)["state"] == "rectifying"
    # The photo goes up on the case page; then verification is offered and goes through.
    _upload_photo(officer, case["id"], tmp_path)
    fields = {"opinion": "整改到位，同意复工"}
    officer.goto(f"/cases/{case['id']}/actions/verify")
    if officer.locator("#f-inspectors").count():
        fields["inspectors"] = "张三、李四"
    checks = ['input[name="resume_work_approved"]'] if officer.locator('input[name="resume_work_approved"][type=checkbox]').count() else []
    radios = ['input[name="resume_work_approved"][value="true"]'] if not checks and officer.locator('input[name="resume_work_approved"]').count() else []
    _act(officer, case["id"], "verify", fields, checks=checks, radios=radios)
    assert drv.get(case)["state"] == "verified"


def test_a_supervisor_finds_the_red_case_on_the_cockpit_and_decides_an_extension(browser_page, api, world, clock,
                                                                                  db):
    from datetime import timedelta

    from cases.clocks.sweep import fire_all_due

    officer = api(world.officer)

    def hazard(title: str, days: int) -> dict:
        case = officer.post("/api/cases", json={"kind": "hazard", "title": title, "project_id": world.p1.id}).json()
        case = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改",
                           rectification_days=days).json()
        return officer.act(case, "start_rectification").json()

    late = hazard("卸料平台限载标识缺失", 3)
    asking = hazard("塔吊附着装置松动", 10)
    clock.advance(timedelta(days=7))  # past the first deadline (3 working days), not the second
    fire_all_due(db, clock.now())
    contact = api(world.contact)
    asked = contact.act(contact.get(f"/api/cases/{asking['id']}").json(), "request_extension", extension_days=5,
                        reason="塔吊厂家配件到货需要时间")
    assert asked.status_code == 200, asked.text
    page = browser_page(world.supervisor)
    page.goto("/cockpit")
    page.click('a[data-cell="320508|hazard|red"]')
    page.wait_for_url("**/ledger?**")
    page.click(f'a[href="/cases/{late["id"]}"]')
    page.wait_for_url(f"**/cases/{late['id']}")
    assert "已逾期" in page.inner_text("main")
    # The extension request waits on the supervisor's workbench; deciding it is one form.
    page.goto("/")
    page.click(f'a[href="/cases/{asking["id"]}"]')
    page.click('a[data-action="decide_extension"]')
    page.wait_for_url(f"**/cases/{asking['id']}/actions/decide_extension")
    page.check('input[name="approved"][value="true"]')
    page.fill("#f-approved_days", "5")
    page.fill("#f-opinion", "同意延期5天")
    page.click("button.primary")
    page.wait_for_url(f"**/cases/{asking['id']}")
    assert "已提交：审批延期" in page.inner_text("main")
    assert "同意延期5天" in page.inner_text("#h-timeline >> xpath=..")
    events = officer.get(f"/api/cases/{asking['id']}/events").json()["items"]
    assert events[-1]["action"] == "decide_extension" and events[-1]["actor"]["id"] == world.supervisor.id
