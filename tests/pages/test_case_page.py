"""The case page (/cases/{id}): facts, the timeline with labels and values, deadlines with the
countdown in legal time, documents with their 文号 and PDF, messages with receipts, the state
diagram with the current state, the action buttons this user may take, visibility — real HTTP with
page sessions, and Chromium on a desktop and at phone width."""
from __future__ import annotations

import html as htmllib
import os
import re
from datetime import timedelta
from pathlib import Path

from cases.clocks.sweep import fire_all_due
from notifications.documents.store import render_pending_documents

SHOTS = Path(os.environ["CASE_PAGE_SHOTS"]) if os.environ.get("CASE_PAGE_SHOTS") else None  # to look at it
LONG = timedelta(days=60)  # the tests move the clock by days
BUTTON = re.compile(r'<a class="button[^"]*" href="/cases/(\d+)/actions/(\w+)" data-action="\w+">([^<]+)</a>')


def _text(html: str) -> str:
    """The page's text: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def _hazard(officer, world, title="3号楼临边防护缺失", **register):
    case = officer.post("/api/cases", json={"kind": "hazard", "title": title, "project_id": world.p1.id,
                                            "description": "3号楼5层临边未设置防护栏杆", "location": "3号楼5层"}).json()
    body = {"enterprise_id": world.e1.id, "severity": "general", "requirements": "立即设置临边防护栏杆", **register}
    r = officer.act(case, "register", **body)
    assert r.status_code == 200, r.text
    return r.json()


def _buttons(html: str) -> list[tuple[str, str]]:
    return [(name, label) for _, name, label in BUTTON.findall(html)]


def test_a_registered_hazard_shows_facts_timeline_deadline_documents_and_messages(
        api, pages, world, clock, db, fresh_data_settings):
    officer = api(world.officer)
    case = _hazard(officer, world, comment="现场检查发现")
    page = pages(world.officer, ttl=LONG)
    r = page.get(f"/cases/{case['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    facts = _text(_section(html, "h-facts"))
    for fact in (case["number"], "一般安全隐患", "3号楼临边防护缺失", "3号楼5层临边未设置防护栏杆", "已登记",
                 "苏州测试建设有限公司", "姑苏测试项目", "隐患等级 一般隐患", "承办人 officer", "2026年11月23日"):
        assert fact in facts, fact
    # The timeline: every event, its action's label, who and when, the comment and the values with
    # their field labels (names for ids, option labels for enums) — never the API names.
    timeline = _section(html, "h-timeline")
    entries = re.findall(r'<li data-seq="(\d+)">(.*?)</li>', timeline, re.S)
    assert [seq for seq, _ in entries] == ["1", "2"]
    created, registered = (_text(body) for _, body in entries)
    assert created.startswith(" 新建案件 officer · 2026年11月23日 09:00") and "工程项目 姑苏测试项目" in created
    assert "登记立案" in registered and "状态：已登记" in registered and "现场检查发现" in registered
    assert "责任单位 苏州测试建设有限公司" in registered and "隐患等级 一般隐患" in registered
    assert "整改要求 立即设置临边防护栏杆" in registered and "文书：姑苏建质改〔2026〕1号" in registered
    assert "enterprise_id" not in timeline and "severity" not in timeline and "general" not in timeline
    # The deadline in legal time: 7 working days from Monday 23 Nov → Wednesday 2 Dec.
    deadlines = _text(_section(html, "h-deadlines"))
    assert "整改期限 责任单位" in deadlines and "2026年12月2日" in deadlines and "还剩7个工作日" in deadlines
    # The document: its 文号; issued, not yet rendered → no links yet.
    docs = _section(html, "h-documents")
    assert "隐患整改通知书" in docs and "姑苏建质改〔2026〕1号" in docs and "/documents/" not in docs
    # Messages with their receipts: to the enterprise's contact and the assignee.
    messages = _text(_section(html, "h-messages"))
    assert "contact" in messages and "officer" in messages and "站内信" in messages
    # The state diagram marks the current state.
    assert re.search(r'<g class="sd-state current" data-state="registered" aria-current="true">', html)
    assert html.count('aria-current="true"') == 1

    # Rendered: the page links the PDF and the printable HTML, served to the cookie session.
    assert render_pending_documents(db, clock.now(), settings=fresh_data_settings)["rendered"] >= 1
    html = page.get(f"/cases/{case['id']}").text
    [pdf] = re.findall(r'href="(/documents/\d+\.pdf)"', html)
    [printable] = re.findall(r'href="(/documents/\d+\.html)"', html)
    r = page.get(pdf)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert r.content == officer.get("/api" + pdf).content and r.headers["etag"]
    r = page.get(printable)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "sandbox" in r.headers["content-security-policy"]  # the API's headers: never script on this origin
    assert pages(None).get(pdf).status_code == 303  # no session: to the login page
    assert pages(world.officer_wz).get(pdf).status_code == 404  # another district: as if missing

    # Friday 4 Dec 09:00: two days past the due date (24:00 on Wednesday); the sweep ran.
    clock.advance(timedelta(days=11))
    fire_all_due(db, clock.now())
    html = page.get(f"/cases/{case['id']}").text
    deadlines = _text(_section(html, "h-deadlines"))
    assert "已逾期2天" in deadlines and "还剩" not in deadlines
    assert "红灯" in _text(html)
    assert "升级记录" in html  # the ladder's rungs fired on the overdue clock


def test_a_paused_clock_and_an_approved_extension(api, pages, world, clock):
    officer = api(world.officer)
    case = _hazard(officer, world)
    case = officer.act(case, "start_rectification").json()
    clock.advance(timedelta(days=1))  # Tuesday 24 Nov
    case = api(world.contact).act(case, "request_extension", extension_days=5, reason="材料未到场").json()
    page = pages(world.officer, ttl=LONG)
    deadlines = _text(_section(page.get(f"/cases/{case['id']}").text, "h-deadlines"))
    assert "整改期限 责任单位" in deadlines and "已暂停（自2026年11月24日起，等待延期审批）" in deadlines
    assert "延期审批期限 审批人" in deadlines  # the approver's clock runs meanwhile
    r = api(world.supervisor).act(case, "decide_extension", approved=True, approved_days=5, opinion="同意")
    assert r.status_code == 200, r.text
    html = page.get(f"/cases/{case['id']}").text
    deadlines = _text(_section(html, "h-deadlines"))
    assert "期限7个工作日，已延期5个工作日" in deadlines and "已暂停" not in deadlines
    assert "曾暂停：2026年11月24日至2026年11月24日" in deadlines and "延期审批期限 审批人 已完成" in deadlines
    timeline = _text(_section(html, "h-timeline"))
    assert "申请延期 contact" in timeline and "申请延期（天） 5" in timeline and "理由 材料未到场" in timeline
    assert "审批延期 supervisor" in timeline and "是否同意 是" in timeline and "批准延期（天） 5" in timeline


def test_the_supervision_record_of_a_major_hazard(api, pages, world):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": "连墙件整层缺失", "project_id": world.p1.id}).json()
    case = officer.act(case, "register", enterprise_id=world.e1.id, hazard_item_code="8.5",
                       stop_work_scope="partial", requirements="停工整改").json()
    sid = case["supervision"]["id"]
    assert officer.post(f"/api/supervisions/{sid}/extension", json={"days": 10, "reason": "专家论证"}).status_code == 200
    page = pages(world.officer)
    record = _text(_section(page.get(f"/cases/{case['id']}").text, "h-supervision"))
    assert case["supervision"]["notice_no"] in record and "延期申请中" in record and "挂牌机关 苏州市" in record
    assert "officer于2026年11月23日申请延期10个工作日：专家论证" in record
    r = api(world.supervisor).post(f"/api/supervisions/{sid}/extension/decision", json={"approved": True, "days": 5,
                                                                                        "opinion": "同意五日"})
    assert r.status_code == 200, r.text
    html = page.get(f"/cases/{case['id']}").text
    record = _text(_section(html, "h-supervision"))
    assert "督办中" in record and "supervisor于2026年11月23日同意延期5个工作日（申请10个工作日，申请人officer）：同意五日" in record
    assert "督办期限" in record
    timeline = _text(_section(html, "h-timeline"))
    assert "挂牌督办" in timeline and "申请督办延期 officer" in timeline and "审批督办延期 supervisor" in timeline
    assert "批准延期天数 5" in timeline and "意见 同意五日" in timeline
    assert "重大事故隐患判定条目 8.5" in _text(_section(html, "h-facts"))


def test_the_buttons_are_exactly_the_actions_the_api_allows(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    case = officer.act(case, "start_rectification").json()
    for user in (world.officer, world.contact, world.supervisor, world.admin):
        allowed = api(user).get(f"/api/cases/{case['id']}").json()
        buttons = _buttons(pages(user).get(f"/cases/{case['id']}").text)
        assert [name for name, _ in buttons] == allowed["allowed_actions"], user.username
        assert [label for _, label in buttons] == [a["label"] for a in allowed["actions"]]
    contact = dict(_buttons(pages(world.contact).get(f"/cases/{case['id']}").text))
    assert contact == {"report_completion": "报告整改完成", "request_extension": "申请延期", "comment": "添加备注"}
    assert _buttons(pages(world.admin).get(f"/cases/{case['id']}").text) == []


def test_a_closed_case_offers_what_the_machine_allows_and_marks_its_final_state(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world)
    case = officer.act(case, "start_rectification").json()
    case = officer.act(case, "verify", opinion="整改到位").json()
    case = officer.act(case, "close").json()
    assert case["state"] == "closed" and case["allowed_actions"]  # the machine still allows 重新打开, 备注
    html = pages(world.officer).get(f"/cases/{case['id']}").text
    # Exactly the API's allowed actions (重新打开 for the officer, 添加备注), nothing a closed case may not do.
    allowed = [a["name"] if isinstance(a, dict) else a for a in case["allowed_actions"]]
    assert [name for name, _ in _buttons(html)] == allowed and "reopen" in allowed
    assert re.search(r'<g class="sd-state final current" data-state="closed" aria-current="true">', html)
    text = _text(_section(html, "h-timeline"))
    assert [t for t in ("新建案件", "登记立案", "开始整改", "复查合格", "销号") if t in text] == \
        ["新建案件", "登记立案", "开始整改", "复查合格", "销号"]
    assert "复查意见 整改到位" in text


def test_who_sees_the_page(api, pages, world):
    officer = api(world.officer)
    case = _hazard(officer, world, title="<script>alert(1)</script>临边")
    found = officer.post("/api/cases", json={"kind": "hazard", "title": "未指定责任单位", "project_id": world.p1.id}).json()
    # Another district's officer: the 404 page, worded as for a missing case.
    r = pages(world.officer_wz).get(f"/cases/{case['id']}")
    assert r.status_code == 404 and "页面或案件不存在" in r.text and "临边" not in r.text
    assert pages(world.officer).get("/cases/999999").status_code == 404
    r = pages(world.officer).get("/cases/abc")  # not a case id: the 404 page, not a validation error
    assert r.status_code == 404 and "页面或案件不存在" in r.text
    assert pages(None).get(f"/cases/{case['id']}").status_code == 303
    # User text is escaped.
    html = pages(world.officer).get(f"/cases/{case['id']}").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;临边" in html
    # The enterprise contact: its unit's case yes, another case no; only messages to its own unit.
    contact = pages(world.contact)
    assert contact.get(f"/cases/{found['id']}").status_code == 404
    html = contact.get(f"/cases/{case['id']}").text
    messages = _text(_section(html, "h-messages"))
    assert "contact" in messages and "officer" not in messages
    assert 'class="field-error transport"' not in html
    api_messages = api(world.contact).get(f"/api/cases/{case['id']}/messages").json()["items"]
    assert len(re.findall(r'<td data-label="通知">', html)) == len(api_messages) > 0


def test_the_case_page_in_chromium_on_a_desktop(api, browser_page, world):
    case = _hazard(api(world.officer), world)
    page = browser_page(world.officer)
    page.goto(f"/cases/{case['id']}")
    assert page.inner_text("h1") == "3号楼临边防护缺失"
    assert page.locator("svg.state-diagram").is_visible()
    assert page.locator("svg.state-diagram g.current").get_attribute("data-state") == "registered"
    labels = [t.strip() for t in page.locator(".case-actions a").all_inner_texts()]
    assert "开始整改" in labels and "添加备注" in labels
    page.click(".case-actions a:has-text('开始整改')")
    assert page.url.endswith(f"/cases/{case['id']}/actions/start_rectification")
    page.goto(f"/cases/{case['id']}")
    # Desktop: the facts and the deadlines side by side; the messages are a table.
    facts = page.locator("#h-facts").bounding_box()
    clocks = page.locator("#h-deadlines").bounding_box()
    assert clocks["x"] > facts["x"] + 200 and abs(clocks["y"] - facts["y"]) < 5
    assert page.locator(".messages-table thead").is_visible()
    page.screenshot(path=str(SHOTS / "case-desktop.png"), full_page=True) if SHOTS else None


def test_the_case_page_at_phone_width(api, browser_page, world):
    case = _hazard(api(world.officer), world, title="超长标题" * 30)
    page = browser_page(world.officer, width=375, height=800)
    page.goto(f"/cases/{case['id']}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # Stacked: the deadlines under the facts, the timeline under the diagram; tables are cards.
    facts = page.locator("#h-facts").bounding_box()
    clocks = page.locator("#h-deadlines").bounding_box()
    assert clocks["y"] > facts["y"] + facts["height"] - 5
    assert not page.locator(".messages-table thead").is_visible()
    cell = page.locator(".messages-table td[data-label='接收人']").first
    assert cell.evaluate("td => getComputedStyle(td, '::before').content") == '"接收人："'
    assert cell.evaluate("td => getComputedStyle(td).display") == "block"
    page.screenshot(path=str(SHOTS / "case-phone.png"), full_page=True) if SHOTS else None
    # The diagram scrolls inside its own box, not the page.
    box = page.locator(".diagram").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
