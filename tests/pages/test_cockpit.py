"""The supervisor cockpit (/cockpit …): counts that agree with GET /api/stats/lights and with the
lists they link to, the drill-down, the overdue list, the 挂牌督办 board and its forms, the
escalation log, the on-time rate and the trend — real HTTP with page sessions, and Chromium."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from cases.clocks.sweep import fire_all_due
from tests.evidence_files import upload_photo
from tests.pages.conftest import post_form

LONG = timedelta(days=400)  # the tests move the clock by days
_CELL = re.compile(r'<a href="([^"]+)" data-cell="([^"|]*)\|([^"|]*)\|([a-z]+)"[^>]*>(\d+)</a>')
_ROW_CELL = re.compile(r'<span data-cell="([^"|]*)\|([^"|]*)\|([a-z]+)">(\d+)</span>')


def _hazard(officer, world, *, title="临边防护缺失", project=None, **register):
    case = officer.post("/api/cases", json={"kind": "hazard", "title": title,
                                            "project_id": (project or world.p1).id}).json()
    body = {"enterprise_id": world.e1.id if project is None else world.e2.id, "severity": "general",
            "requirements": "立即整改", **register}
    r = officer.act(case, "register", **body)
    assert r.status_code == 200, r.text
    return r.json()


def _major(officer, world, title="连墙件整层缺失"):
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": title, "project_id": world.p1.id}).json()
    r = officer.act(case, "register", enterprise_id=world.e1.id, hazard_item_code="7.2", stop_work_scope="whole",
                    requirements="停工整改")
    assert r.status_code == 200, r.text
    return r.json()


def _tbody(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


def _cells(html: str) -> dict[tuple[str, str, str], tuple[int, str]]:
    """{(jurisdiction, kind, light): (n, href)} of the linked count cells of the cockpit page."""
    return {(code, kind, light): (int(n), unescape(href)) for href, code, kind, light, n in _CELL.findall(html)}


def _api_total(client, href: str) -> int:
    """The number of cases GET /api/cases gives for a ledger link's filters."""
    params = dict(parse_qsl(urlsplit(href).query))
    assert urlsplit(href).path == "/ledger"
    r = client.get("/api/cases", params={**params, "page_size": 1})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def _world_of_cases(api, world, clock, db):
    """Open cases in 姑苏区 and 吴中区 with red, yellow and green lights, and a major hazard."""
    officer, officer_wz = api(world.officer), api(world.officer_wz)
    red = _hazard(officer, world, title="红灯隐患", rectification_days=3)      # due Thu 26 Nov
    _hazard(officer, world, title="黄灯隐患", rectification_days=7)            # due Wed 2 Dec
    _hazard(officer, world, title="绿灯隐患", rectification_days=15)           # due 8 Dec (calendar days)
    _hazard(officer_wz, world, title="吴中隐患", project=world.p2, rectification_days=3)
    _major(officer, world)
    # Fri 27 Nov 10:00 Beijing: the 3-day ones are past due (red), the 7-working-day one is in its window.
    clock.set(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    fire_all_due(db, clock.now())
    return red


def test_counts_agree_with_the_api_and_every_cell_with_its_list(pages, api, world, clock, db):
    _world_of_cases(api, world, clock, db)
    sup_api = api(world.supervisor)
    client = pages(world.supervisor, ttl=LONG)
    r = client.get("/cockpit")
    assert r.status_code == 200, r.text[:500]
    cells = _cells(r.text)
    # The API's counts, added up per district (the drill-down rows of 苏州市).
    stats = sup_api.get("/api/stats/lights").json()
    expected: dict[tuple[str, str, str], int] = {}
    for item in stats["items"]:
        code = item["jurisdiction"]["code"]
        for kind, counts in item["by_kind"].items():
            for light, n in counts.items():
                if n:
                    expected[(code, kind, light)] = expected.get((code, kind, light), 0) + n
                    expected[(code, "", light)] = expected.get((code, "", light), 0) + n
                    expected[("320500", kind, light)] = expected.get(("320500", kind, light), 0) + n
    for light, n in stats["totals"].items():
        if n:
            expected[("320500", "", light)] = n
    assert {key: n for key, (n, _) in cells.items()} == expected
    assert expected[("320508", "hazard", "red")] == 1 and expected[("320506", "hazard", "red")] == 1
    assert expected[("320508", "hazard", "yellow")] == 1 and expected[("320500", "", "red")] == 2
    # Each cell's link is the ledger with jurisdiction, kind, light and open_only; through the API
    # the same filters give the same total.
    for (code, kind, light), (n, href) in cells.items():
        params = dict(parse_qsl(urlsplit(href).query))
        own_level = {"jurisdiction_only": "true"} if params.get("jurisdiction_only") else {}
        assert params == {k: v for k, v in {"jurisdiction": code, "kind": kind, "light": light,
                                            "open_only": "true", **own_level}.items() if v}
        assert _api_total(sup_api, href) == n, href
    assert "合计" in r.text and "姑苏区" in r.text and "吴中区" in r.text
    # The province's admin drilled down to 苏州市 sees the same figures.
    admin = pages(world.admin, ttl=LONG).get("/cockpit?jurisdiction=320500")
    assert admin.status_code == 200 and _cells(admin.text) == cells


def test_drill_down_shows_a_district_and_stays_within_the_users_subtree(pages, api, world, clock, db):
    _world_of_cases(api, world, clock, db)
    client = pages(world.supervisor, ttl=LONG)
    html = client.get("/cockpit").text
    assert 'href="/cockpit?jurisdiction=320508"' in html
    r = client.get("/cockpit?jurisdiction=320508")
    assert r.status_code == 200
    cells = _cells(r.text)
    assert {code for code, _, _ in cells} == {"320508"}  # 姑苏区 only, nothing of 吴中区
    stats = api(world.supervisor).get("/api/stats/lights", params={"jurisdiction": "320508"}).json()
    assert sum(n for (code, kind, _), (n, _) in cells.items() if kind == "") == sum(stats["totals"].values())
    assert "苏州市</a> › <b>姑苏区</b>" in r.text  # the breadcrumb back up
    # The officer of 姑苏区 reads its own district's counts (as /api/stats/lights lets it) …
    officer = pages(world.officer, ttl=LONG)
    r = officer.get("/cockpit")
    assert r.status_code == 200 and "吴中区" not in r.text.split("<main>")[1]
    # … but not a district outside its jurisdiction, nor a code that does not exist.
    assert officer.get("/cockpit?jurisdiction=320506").status_code == 404
    assert client.get("/cockpit?jurisdiction=999999").status_code == 404


def test_the_overdue_list_after_the_clock_moves(pages, api, world, clock, db, monkeypatch):
    from api.pages import cockpit

    officer = api(world.officer)
    late = _hazard(officer, world, title="逾期隐患", rectification_days=3)   # due Thu 26 Nov 24:00
    _hazard(officer, world, title="未逾期隐患", rectification_days=15)
    other = _hazard(api(world.officer_wz), world, title="吴中逾期", project=world.p2, rectification_days=5)  # due 30 Nov
    client = pages(world.supervisor, ttl=LONG)
    assert "没有逾期案件" in client.get("/cockpit/overdue").text
    clock.set(datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc))  # the due day: its reminder is sent
    fire_all_due(db, clock.now())
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc))  # Mon 30 Nov: 4 days after 26 Nov
    fire_all_due(db, clock.now())
    html = client.get("/cockpit/overdue?jurisdiction=320508").text
    assert "逾期隐患" in html and "未逾期隐患" not in html and "吴中逾期" not in html
    assert "已逾期4天" in html and f'href="/cases/{late["id"]}"' in html and "共1件" in html
    api_list = api(world.supervisor).get("/api/overdue", params={"jurisdiction": "320508"}).json()
    assert api_list["total"] == 1 and api_list["items"][0]["id"] == late["id"]
    # The whole city, a page at a time (longest overdue first), as GET /api/overdue pages it.
    clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc))  # 吴中逾期 was due 30 Nov 24:00
    monkeypatch.setattr(cockpit, "PAGE_SIZE", 1)
    first, second = client.get("/cockpit/overdue").text, client.get("/cockpit/overdue?page=2").text
    assert "共2件" in first and "第1页，共2页" in first and 'href="?page=2"' in first
    assert "逾期隐患" in first and "已逾期5天" in first and "吴中逾期" in second and "已逾期1天" in second
    assert [c["id"] for c in api(world.supervisor).get("/api/overdue").json()["items"]] == [late["id"], other["id"]]
    monkeypatch.undo()
    # The escalation log of the subtree shows the overdue rung (逾期预警 with its 警示函).
    log = client.get("/cockpit/escalations").text
    assert "逾期预警（警示函）" in log and f'href="/cases/{late["id"]}"' in log
    numbers = re.findall(r"#documents\">([^<]+)</a>", log)
    assert numbers and all("〔2026〕" in n for n in numbers)
    assert "提醒" not in _tbody(log)  # reminders only on request
    assert "到期当日提醒" in _tbody(client.get("/cockpit/escalations?all=1").text)
    # The officer of 姑苏区 reads its own subtree's log: nothing of 吴中区.
    fire_all_due(db, clock.now())
    assert "吴中逾期" in client.get("/cockpit/escalations").text
    own = pages(world.officer, ttl=LONG).get("/cockpit/escalations").text
    assert "逾期隐患" in own and "吴中逾期" not in own


def test_an_extension_decided_through_the_board_changes_the_supervision(pages, api, world, clock, db):
    officer = api(world.officer)
    case = _major(officer, world)
    sid = case["supervision"]["id"]
    r = officer.post(f"/api/supervisions/{sid}/extension", json={"days": 10, "reason": "专家论证"})
    assert r.status_code == 200, r.text
    client = pages(world.supervisor, ttl=LONG)
    board = client.get("/cockpit/supervisions?stage=extension_requested").text
    assert f'action="/cockpit/supervisions/{sid}/decision"' in board and "专家论证" in board
    # A bad day count is shown in Chinese next to the form, nothing decided.
    r = post_form(client, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/decision",
                  {"approved": "true", "days": "99", "opinion": "同意", "which": "decision"})
    assert r.status_code == 422 and "批准延期天数：应为1至60之间的整数" in r.text
    assert api(world.supervisor).get(f"/api/supervisions/{sid}").json()["status"] == "extension_requested"
    r = post_form(client, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/decision",
                  {"approved": "true", "days": "5", "opinion": "同意延期5天", "stage": "extension_requested"})
    assert r.status_code == 303 and r.headers["location"] == "/cockpit/supervisions?stage=extension_requested"
    body = api(world.supervisor).get(f"/api/supervisions/{sid}").json()
    assert body["status"] == "listed" and not body["deadline"]["paused"]
    assert body["history"][0]["approved"] is True and body["history"][0]["granted_days"] == 5
    assert body["history"][0]["opinion"] == "同意延期5天"
    assert "已同意督办延期" in client.get(r.headers["location"]).text
    # Deciding again: nothing pending, said in Chinese (409).
    r = post_form(client, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/decision", {"approved": "false"})
    assert r.status_code == 409 and "没有待审批的督办延期申请" in r.text


def test_lifting_is_refused_for_a_non_listing_authority(pages, api, world, clock, db):
    officer = api(world.officer)
    case = _major(officer, world)
    sid = case["supervision"]["id"]
    # The officer of 姑苏区 sees the board but has no forms; posting anyway is refused, in Chinese.
    off = pages(world.officer, ttl=LONG)
    board = off.get("/cockpit/supervisions").text
    assert case["number"] in board and f"/cockpit/supervisions/{sid}/lift" not in board
    assert re.search(r"督办中</span> · <span class=\"countdown running\">还剩\d+个工作日</span>", board)
    r = post_form(off, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/lift", {"opinion": "已整改"})
    assert r.status_code == 403 and "只有挂牌督办机关（或其上级）的督办人员可以摘牌" in r.text
    assert api(world.supervisor).get(f"/api/supervisions/{sid}").json()["status"] == "listed"
    # The listing body (苏州市) is told why not yet: the case has not passed verification.
    sup = pages(world.supervisor, ttl=LONG)
    r = post_form(sup, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/lift", {"opinion": "已整改"})
    assert r.status_code == 409 and "案件尚未经核查合格，不能摘牌" in r.text
    r = post_form(sup, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/lift", {"opinion": "  "})
    assert r.status_code == 422 and "核查意见：必填" in r.text
    case = officer.act(case, "start_rectification", measures="m", funds=10, plan_deadline="2026-12-20",
                       responsible_person="王某", contingency_plan="p").json()
    upload_photo(api(world.contact), case["id"])  # 整改后 photo: 核查 needs one (major_hazard v2)
    case = api(world.contact).act(case, "apply_review", completion_report="完成").json()
    officer.act(case, "verify", opinion="合格", resume_work_approved=True)
    r = post_form(sup, "/cockpit/supervisions", f"/cockpit/supervisions/{sid}/lift", {"opinion": "现场核查合格"})
    assert r.status_code == 303
    assert api(world.supervisor).get(f"/api/supervisions/{sid}").json()["status"] == "lifted"
    assert 'data-stage="lifted"><b>1</b>' in sup.get("/cockpit/supervisions").text


def test_on_time_rate_and_trend_on_a_known_set(pages, api, world, clock, db):
    officer, contact = api(world.officer), api(world.contact)
    cases = [_hazard(officer, world, title=f"隐患{i}", rectification_days=3) for i in range(3)]  # due 26 Nov
    for case in cases[:2]:  # two report completion in time …
        case = officer.act(case, "start_rectification").json()
        r = contact.act(case, "report_completion", completion_report="已整改")
        assert r.status_code == 200, r.text
    clock.set(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))  # … the third a day late
    late = officer.act(cases[2], "start_rectification").json()
    assert contact.act(late, "report_completion", completion_report="已整改").status_code == 200
    # One case closed: found Mon 23 Nov, closed Fri 27 Nov → 4 working days (24, 25, 26, 27).
    first = officer.get(f"/api/cases/{cases[0]['id']}").json()
    first = officer.act(first, "verify", opinion="合格").json()
    assert officer.act(first, "close").status_code == 200
    client = pages(world.supervisor, ttl=LONG)
    html = client.get("/cockpit/performance").text
    row = re.search(r'<tr data-row="320508">(.*?)</tr>', html, re.S).group(1)
    assert "66.7%" in row and ">3<" in row and ">2<" in row and "4.0个工作日" in row
    closed_link = unescape(re.search(r'<a href="(/ledger\?[^"]*closed_from[^"]*)">1</a>', row).group(1))
    assert dict(parse_qsl(urlsplit(closed_link).query)) == {"jurisdiction": "320508", "closed_from": "2026-01-01",
                                                            "closed_to": "2026-11-27"}
    assert _api_total(api(world.supervisor), closed_link) == 1
    assert "按期完成的整改期限 ÷ 期内到期的整改期限" in html
    # The rows rank 姑苏区 (a rate) before the districts with nothing due.
    order = re.findall(r'<tr data-row="(\d+)">', html)
    assert order[0] == "320508" and len(order) == 10 and "320500" not in order  # 10 districts, no 本级 row
    # A period that ends before the due date has nothing due.
    early = client.get("/cockpit/performance?from=2026-01-01&to=2026-11-25").text
    assert "66.7%" not in early
    bad = client.get("/cockpit/performance?from=2026-13-01")
    assert bad.status_code == 422 and "统计起始日期" in bad.text
    # The trend: 3 found and 1 closed in November 2026, each linked; 3 overdue: the late unit's
    # 整改期限, and the officer's 复查期限 of the two reported in time (due 26 Nov, not verified by then).
    month = re.search(r'<tr data-month="2026-11">(.*?)</tr>', html, re.S).group(1)
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', month)]
    assert [_api_total(api(world.supervisor), h) for h in links] == [3, 1, 3]
    assert re.findall(r'data-label="逾期"><a href="[^"]+">(\d+)<', month) == ["3"]
    assert html.count('<rect ') == 36 and "<script" not in html.split("<main>")[1]


def test_an_enterprise_contact_gets_403_and_no_session_goes_to_login(pages, api, world, clock, db):
    case = _major(api(world.officer), world)
    sid = case["supervision"]["id"]
    contact = pages(world.contact, ttl=LONG)
    for path in ("/cockpit", "/cockpit/overdue", "/cockpit/supervisions", "/cockpit/escalations",
                 "/cockpit/performance"):
        r = contact.get(path)
        assert r.status_code == 403 and "企业联系人" in r.text, path
    assert api(world.contact).get("/api/supervisions").status_code == 403  # as the API refuses it
    # An officer may ask for an extension (as through the API) but not decide it: 403, said in Chinese.
    assert api(world.officer).post(f"/api/supervisions/{sid}/extension", json={"days": 5, "reason": "论证"}).status_code == 200
    r = post_form(pages(world.officer, ttl=LONG), "/cockpit", f"/cockpit/supervisions/{sid}/decision",
                  {"approved": "true"})
    assert r.status_code == 403 and "只有挂牌督办机关（或其上级）的督办人员可以审批延期" in r.text
    assert api(world.officer).post(f"/api/supervisions/{sid}/extension/decision",
                                   json={"approved": True}).status_code == 403
    assert api(world.supervisor).get(f"/api/supervisions/{sid}").json()["status"] == "extension_requested"
    assert pages(None).get("/cockpit").status_code == 303


def test_a_supervisor_finds_the_red_count_and_follows_it(browser_page, api, world, clock, db, live_server):
    officer = api(world.officer)
    red = _hazard(officer, world, title="脚手架连墙件缺失", rectification_days=3)
    _hazard(officer, world, title="未到期隐患", rectification_days=15)
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc))  # past the 26 Nov deadline
    fire_all_due(db, clock.now())
    page = browser_page(world.supervisor)
    page.goto("/")
    page.click("header a:has-text('督办驾驶舱')")
    page.wait_for_url("**/cockpit")
    cell = page.locator('a[data-cell="320508|hazard|red"]')
    assert cell.inner_text() == "1"
    cell.click()
    page.wait_for_url("**/ledger?**")
    assert "脚手架连墙件缺失" in page.inner_text("main") and "未到期隐患" not in page.inner_text("main")
    assert page.locator(f'a[href="/cases/{red["id"]}"]').count() == 1
    # On a phone the counts are cards and the drill-down still works.
    phone = browser_page(world.supervisor, width=375)
    phone.goto("/cockpit")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    phone.click("a[href='/cockpit?jurisdiction=320508']")
    phone.wait_for_url("**/cockpit?jurisdiction=320508")
    assert phone.locator('a[data-cell="320508|hazard|red"]').first.inner_text() == "1"
