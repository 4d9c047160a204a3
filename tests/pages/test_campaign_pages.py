"""The campaign pages (api/pages/campaigns.py) with real page sessions on both databases: the list,
the organiser's form (errors in Chinese, values kept), the coverage table whose every figure links to
a list of exactly that many (project pages and the ledger), the ledger's campaign filter, and one
Chromium check that follows a figure to the projects and the link to record an inspection."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from tests.pages.conftest import csrf, post_form
from tests.test_campaigns import _total, _world, create

_FIGURE = re.compile(r'<td class="n" data-label="[^"]+" data-figure="(\w+)"><a href="([^"]+)">(\d+)</a></td>')
_ROW = re.compile(r'<tr data-district="(\d+)" data-round="(\d+)"')


def test_an_organiser_starts_a_campaign_from_the_form(pages, world):
    city = pages(world.supervisor)
    form = city.get("/campaigns/new")
    assert form.status_code == 200 and "发起专项行动" in form.text and "吴中区" in form.text
    bad = city.post("/campaigns/new", data={
        "csrf_token": csrf(form.text), "name": "十大专项整治", "starts_on": "2026-11-01", "ends_on": "2026-10-01",
        "round_name_0": "第一轮", "round_due_on_0": "2026-12-31", "coverage_target": "120", "scope_codes": "320508"})
    assert bad.status_code == 422
    assert "结束日期：不能早于开始日期（2026-11-01）" in bad.text and "覆盖率目标（%）：应为1至100之间的整数" in bad.text
    assert 'value="十大专项整治"' in bad.text and 'value="320508" checked' in bad.text
    ok = post_form(city, "/campaigns/new", "/campaigns/new", {
        "name": "十大专项整治", "starts_on": "2026-11-01", "ends_on": "2026-12-31", "round_name_0": "第一轮",
        "round_due_on_0": "2026-11-30", "round_name_1": "第二轮", "round_starts_on_1": "2026-12-01",
        "round_due_on_1": "2026-12-31", "coverage_target": "90", "project_kinds": "building"})
    assert ok.status_code == 303, ok.text[:500]
    page = city.get(ok.headers["location"])
    assert page.status_code == 200 and "十大专项整治" in page.text and "每轮90%" in page.text
    assert "房屋建筑工程" in page.text and "2026年11月30日" in page.text
    listing = city.get("/campaigns")
    assert "十大专项整治" in listing.text and 'href="/campaigns/new"' in listing.text


def test_who_reaches_the_pages(pages, api, world):
    c = create(api(world.supervisor), scope_codes=["320508"])
    assert pages(world.officer).get("/campaigns/new").status_code == 403
    gusu = pages(world.officer).get("/campaigns")
    assert gusu.status_code == 200 and "2轮全覆盖精准排查" in gusu.text and 'href="/campaigns/new"' not in gusu.text
    assert pages(world.officer_wz).get(f"/campaigns/{c['id']}").status_code == 404
    assert pages(world.contact).get("/campaigns").status_code == 403
    assert pages(None).get("/campaigns").status_code == 303
    assert 'href="/campaigns"' in pages(world.supervisor).get("/cockpit").text  # the cockpit links to it


def test_every_figure_of_the_coverage_table_links_to_a_list_of_that_many(pages, api, world, db, clock):
    w = _world(api, world, db, clock)
    c = w["campaign"]
    client, sup = pages(world.supervisor), api(world.supervisor)
    html = client.get(f"/campaigns/{c['id']}").text
    assert _ROW.findall(html) == [("320506", "1"), ("320508", "1"), ("320506", "2"), ("320508", "2")]
    main = html.split("<main>")[1] if "<main>" in html else html
    found = _FIGURE.findall(main)
    assert len(found) == 4 * 6
    for figure, href, n in found:
        href = unescape(href)
        assert _total(sup, href) == int(n), (figure, href)
        page = client.get(href)
        assert page.status_code == 200, href
        if href.startswith("/ledger"):
            assert f"共{n}件" in page.text, href
        else:
            assert f"共{n}个" in page.text, href
            assert page.text.count('href="/inspections/new?') == int(n)
    gusu1 = {f: int(n) for f, href, n in found if "district=320508" in unescape(href) or "jurisdiction=320508" in unescape(href)
             if dict(parse_qsl(urlsplit(unescape(href)).query)).get("round", "1") == "1"
             and dict(parse_qsl(urlsplit(unescape(href)).query)).get("found_from", "2026-11-01") == "2026-11-01"}
    assert gusu1 == {"in_scope": 2, "inspected": 1, "pending": 1, "hazards": 2, "major_hazards": 1, "rectified_on_time": 1}


def test_the_ledger_page_filters_by_campaign(pages, api, world, db, clock):
    w = _world(api, world, db, clock)
    c = w["campaign"]
    client = pages(world.supervisor)
    page = client.get("/ledger", params={"campaign_id": c["id"]})
    assert page.status_code == 200 and "共3件" in page.text
    assert f'<option value="{c["id"]}" selected>2轮全覆盖精准排查</option>' in page.text
    bad = client.get("/ledger", params={"campaign_id": "x"})
    assert bad.status_code == 422 and "专项行动：应为专项行动编号（整数）" in bad.text
    export = client.get("/ledger/export.csv", params={"campaign_id": c["id"]})
    assert export.status_code == 200 and export.text.count("2轮全覆盖精准排查") == 3


def test_a_supervisor_follows_the_pending_figure_to_record_an_inspection(browser_page, api, world, db, clock):
    w = _world(api, world, db, clock)
    c = w["campaign"]
    page = browser_page(world.supervisor)
    page.goto(f"/campaigns/{c['id']}")
    row = page.locator('table.coverage tr[data-district="320508"][data-round="1"]')
    assert row.locator('[data-figure="in_scope"]').inner_text() == "2"
    assert row.locator('[data-figure="hazards"]').inner_text() == "2"
    row.locator('[data-figure="pending"] a').click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/projects\?"))
    assert "未检查" in page.locator("h1").inner_text() and "共1个" in page.locator("h1").inner_text()
    link = page.locator("table.projects a", has_text="记录检查")
    href = link.get_attribute("href")
    assert dict(parse_qsl(urlsplit(href).query)) == {"project_id": str(w["p3"]), "campaign_id": str(c["id"]),
                                                     "round_no": "1"}
    page.go_back()
    page.locator('table.coverage tr[data-district="320508"][data-round="1"] [data-figure="major_hazards"] a').click()
    page.wait_for_url(re.compile(r"/ledger\?"))
    assert "共1件" in page.locator("h1").inner_text()


def test_the_campaign_page_keeps_the_round_clocks_record(pages, api, world, db, clock):
    from datetime import datetime, timezone

    from cases.campaigns.clock import fire_all_due_rounds

    c = create(api(world.supervisor), rounds=[{"name": "第一轮", "due_on": "2026-11-30"}], ends_on="2026-11-30")
    clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc))  # 24:00 of the due date
    assert fire_all_due_rounds(db, clock.now())["sent"] == 2  # neither district inspected anything
    html = pages(world.supervisor).get(f"/campaigns/{c['id']}").text
    assert html.count("督办函全文") == 2 and "苏州建质督函〔2026〕1号" in html and "苏州建质督函〔2026〕2号" in html
    assert "未完成工作要求" in html and "未发送：轮次已到期，提醒不再发送（由督办函接续）" in html
    assert html.count('class="behind"') == 2
    letter = re.search(r'href="(/campaigns/\d+/letters/\d+)"', html).group(1)
    printed = pages(world.supervisor).get(letter)
    assert printed.status_code == 200 and '<article class="campaign-letter">' in printed.text
    assert "苏州市住房和城乡建设局" in printed.text and "2026年12月1日" in printed.text and "督办函" in printed.text
    wz_page = pages(world.officer_wz).get(f"/campaigns/{c['id']}").text  # a district reads its own record only
    assert wz_page.count("督办函全文") == 1
    own = re.search(r'href="(/campaigns/\d+/letters/\d+)"', wz_page).group(1)
    assert pages(world.officer_wz).get(own).status_code == 200
    other = letter if letter != own else re.findall(r'href="(/campaigns/\d+/letters/\d+)"', html)[1]
    assert pages(world.officer_wz).get(other).status_code == 404
    assert pages(world.supervisor).get(f"/campaigns/{c['id']}/letters/999999").status_code == 404
