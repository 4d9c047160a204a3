"""The complaint pages: the public form and status lookup (no login, CSRF, honeypot, 429 in Chinese,
nothing personal shown back), the staff list with its filters, and the case page's complaints with
the reply and merge forms; the public form in Chromium at 375 px."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from cases.models import Complaint
from tests.pages.conftest import post_form

CODE = re.compile(r'id="lookup-code">([0-9A-Z-]{19})<')
FORM = {"jurisdiction_code": "320508", "content": "平江路1号工地塔吊下方没有设置警戒区，行人经过很危险",
        "location": "平江路1号", "named_unit": "苏州测试建设有限公司", "contact_name": "周女士",
        "contact_phone": "13700009999"}


def submit(client, **over):
    r = post_form(client, "/complaint", "/complaint", {**FORM, **over})
    assert r.status_code == 200, r.text[:800]
    return CODE.search(r.text).group(1)


def lookup(client, code: str):
    return post_form(client, "/complaint/status", "/complaint/status", {"lookup_code": code})


def test_the_public_form_files_a_complaint_and_shows_the_code_once(pages, db):
    anon = pages(None)
    form = anon.get("/complaint")
    assert form.status_code == 200 and "建设工程安全隐患投诉举报" in form.text
    assert '<optgroup label="苏州市">' in form.text and '<option value="320508"' in form.text
    assert 'name="website"' in form.text  # the honeypot
    # Without the form's CSRF field: refused before anything is filed.
    r = anon.post("/complaint", data=FORM)
    assert r.status_code == 403 and "安全校验码" in r.text
    r = post_form(anon, "/complaint", "/complaint", FORM)
    assert r.status_code == 200 and "举报已受理" in r.text and "答复期限" in r.text
    code = CODE.search(r.text).group(1)
    assert "2026年12月14日前" in r.text and "苏州市姑苏区住房和城乡建设局" in r.text
    for personal in ("周女士", "13700009999", "苏州测试建设有限公司"):
        assert personal not in r.text
    # Shown once: the status page never repeats it, the database keeps only a hash.
    status = lookup(anon, code)
    assert status.status_code == 200 and "已受理，待答复" in status.text and code not in status.text
    with db.session() as s:
        assert code.replace("-", "") not in s.scalars(select(Complaint)).one().code_hash


def test_bad_input_is_named_in_chinese_and_kept(pages):
    anon = pages(None)
    r = post_form(anon, "/complaint", "/complaint", {**FORM, "content": "短", "jurisdiction_code": ""})
    assert r.status_code == 422
    assert "请至少填写5个字" in r.text and "请选择事发地所在区县" in r.text
    assert 'value="平江路1号"' in r.text  # what was typed is kept


def test_a_bot_filling_the_honeypot_files_nothing(pages, db):
    r = post_form(pages(None), "/complaint", "/complaint", {**FORM, "website": "http://spam.example"})
    assert r.status_code == 200 and "举报已受理" in r.text
    with db.session() as s:
        assert s.scalars(select(Complaint)).all() == []


def test_too_many_from_one_address_is_429_in_chinese(pages, live_server):
    limit = live_server.server.config.app.state.settings.complaint_submits_per_hour
    anon = pages(None)
    for _ in range(limit):
        submit(anon)
    r = post_form(anon, "/complaint", "/complaint", FORM)
    assert r.status_code == 429 and "提交举报过于频繁：同一网络地址每小时最多" in r.text
    r = lookup(anon, "0000-0000-0000-0000")
    assert r.status_code == 404 and "查询码不正确" in r.text


def test_the_status_page_never_shows_the_contact_or_names(pages, world):
    anon = pages(None)
    code = submit(anon)
    officer = pages(world.officer)
    listing = officer.get("/complaints")
    assert listing.status_code == 200 and "平江路1号工地塔吊" in listing.text
    case_id = int(re.search(r'href="/cases/(\d+)#complaints"', listing.text).group(1))
    case_page = officer.get(f"/cases/{case_id}")
    assert "群众举报" in case_page.text and "周女士 13700009999" in case_page.text
    r = post_form(officer, f"/cases/{case_id}", f"/cases/{case_id}/complaints/reply",
                  {"reply": "经核查，已责令施工单位设置警戒区并安排专人值守。"})
    assert r.status_code == 303
    status = lookup(anon, code)
    assert "已答复" in status.text and "已责令施工单位设置警戒区" in status.text
    page = status.text
    for hidden in ("周女士", "13700009999", "苏州测试建设有限公司", "officer", "-YH-", "平江路1号工地塔吊"):
        assert hidden not in page, hidden
    # The timeline names the reply.
    assert "答复举报人" in officer.get(f"/cases/{case_id}").text


def test_staff_list_filters_and_who_sees_it(pages, world, clock):
    anon = pages(None)
    submit(anon)
    submit(anon, jurisdiction_code="320506", content="木渎镇某工地夜间违规动火作业")
    officer = pages(world.officer)
    page = officer.get("/complaints")
    assert "木渎镇" not in page.text and '<a href="/complaints" aria-current="page">群众举报</a>' in page.text
    city = pages(world.supervisor).get("/complaints")
    assert "木渎镇" in city.text and "平江路1号工地塔吊" in city.text
    clock.set(clock.now() + timedelta(days=25))
    overdue = pages(world.supervisor).get("/complaints?status=overdue")
    assert overdue.text.count("逾期未答复") >= 3  # the tab, and both rows
    pending = pages(world.supervisor).get("/complaints?status=pending")
    assert "暂无群众举报" not in pending.text and "没有符合条件的举报" in pending.text
    assert pages(world.contact).get("/complaints").status_code == 403


def test_merging_from_the_case_page_by_case_number(pages, world):
    anon = pages(None)
    first = submit(anon)
    second = submit(anon, content="平江路一号工地塔吊下面没人管，很危险")
    officer = pages(world.officer)
    listing = officer.get("/complaints").text
    ids = [int(i) for i in re.findall(r'href="/cases/(\d+)#complaints"', listing)]
    newer, older = ids[0], ids[1]
    number = re.search(rf'href="/cases/{older}#complaints">([0-9A-Z-]+)<', listing).group(1)
    r = post_form(officer, f"/cases/{newer}", f"/cases/{newer}/complaints/merge", {"into_case_id": number})
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{older}#complaints"
    page = officer.get(f"/cases/{older}").text
    assert "共2件" in page and "重复举报（已并入）" in page
    r = post_form(officer, f"/cases/{older}", f"/cases/{older}/complaints/reply", {"reply": "两件举报已合并办理，已整改。"})
    assert r.status_code == 303
    for code in (first, second):
        assert "两件举报已合并办理" in lookup(anon, code).text
    bad = post_form(officer, f"/cases/{older}", f"/cases/{older}/complaints/merge", {"into_case_id": "320508-YH-2026-999999"})
    assert bad.status_code == 422 and "不存在或不在您的管辖范围内" in bad.text


def test_the_public_form_on_a_phone(browser_page):
    page = browser_page(None, width=375, height=800)
    page.goto("/complaint")
    page.select_option("#f-jurisdiction_code", "320508")
    page.fill("#f-content", "小区旁边工地的脚手架歪了，随时可能倒塌")
    page.fill("#f-location", "平江路8号")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # the honeypot is off-screen for people (and out of the tab order)
    assert page.eval_on_selector(".hp", "e => e.getBoundingClientRect().right") < 0
    assert page.get_attribute("#f-website", "tabindex") == "-1"
    from tests.pages.test_action_forms import SHOTS

    if SHOTS:
        page.screenshot(path=str(SHOTS / "complaint-form-375.png"), full_page=True)
    page.click("button[type=submit]")
    page.wait_for_selector("#lookup-code")
    if SHOTS:
        page.screenshot(path=str(SHOTS / "complaint-code-375.png"), full_page=True)
    code = page.inner_text("#lookup-code")
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click("a.button.primary[href='/complaint/status']")
    page.fill("#f-lookup_code", code.lower())
    page.click("button[type=submit]")
    page.wait_for_selector("#h-status")
    assert "已受理，待答复" in page.inner_text("#h-status")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
