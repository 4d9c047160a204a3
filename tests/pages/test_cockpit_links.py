"""Every figure of the cockpit links to the ledger list of its cases, and GET /api/cases with the
link's filters gives the figure: the counts (本级 included, through ``jurisdiction_only``), the
按期整改率 ranking (``rectification_due_from/_to`` + ``rectified_on_time``) and the trend
(``overdue_month``) — real HTTP with page sessions, both databases, and Chromium for one link."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from cases.clocks.sweep import fire_all_due
from tests.pages.test_cockpit import _CELL, LONG, _api_total, _cells, _hazard

_LINKED = re.compile(r'<a href="(/ledger\?[^"]+)">(\d+)</a>')
_BAR = re.compile(r'<a href="(/ledger\?[^"]+)">\s*<rect [^>]*><title>[^<]*?(\d+)件</title>')


def _escalate(db, clock, case_id: int, to: str = "320500") -> None:
    """提级 as the sweep's rung does it: the case is held by the city itself from now on (本级)."""
    from cases.ledger import services
    from cases.models import Case

    with db.transaction() as s:
        case = s.get(Case, case_id)
        services.record_system_event(s, case, "escalated", {"from": case.jurisdiction_code, "to": to},
                                     now=clock.now(), changes={"jurisdiction_code": to}, comment="提级")


def _world(api, world, clock, db):
    """姑苏区: one rectified on time, one late, one never; 吴中区: one never; 苏州市本级 (提级): one
    never rectified (due 26 Nov) and one not yet due. The clock ends on Fri 27 Nov 10:00 Beijing."""
    officer, wz, contact = api(world.officer), api(world.officer_wz), api(world.contact)
    on_time = officer.act(_hazard(officer, world, title="按期整改", rectification_days=3), "start_rectification").json()
    assert contact.act(on_time, "report_completion", completion_report="已整改").status_code == 200
    late = officer.act(_hazard(officer, world, title="逾期整改", rectification_days=3), "start_rectification").json()
    _hazard(officer, world, title="未整改", rectification_days=3)
    _hazard(wz, world, title="吴中未整改", project=world.p2, rectification_days=3)
    city_late = _hazard(officer, world, title="提级逾期", rectification_days=3)
    city_green = _hazard(officer, world, title="提级未到期", rectification_days=15)
    for case in (city_late, city_green):
        _escalate(db, clock, case["id"])
    clock.set(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    late = officer.get(f"/api/cases/{late['id']}").json()
    assert contact.act(late, "report_completion", completion_report="晚了一天").status_code == 200
    fire_all_due(db, clock.now())


def _check_links(client, html: str, pattern=_LINKED) -> list[tuple[str, int]]:
    """Every (link, figure) of the page's content, each checked against GET /api/cases."""
    main = html.split("<main>")[1]
    found = [(unescape(href), int(n)) for href, n in pattern.findall(main)]
    for href, n in found:
        assert _api_total(client, href) == n, href
    return found


def test_every_count_of_the_drill_down_links_to_its_cases_own_level_too(pages, api, world, clock, db):
    _world(api, world, clock, db)
    sup = api(world.supervisor)
    html = pages(world.supervisor, ttl=LONG).get("/cockpit").text
    # Every cell as it appears (the 本级 row and the totals share a jurisdiction code).
    cells = [((code, kind, light), int(n), unescape(href)) for href, code, kind, light, n in _CELL.findall(html)]
    own = {key: n for key, n, href in cells if dict(parse_qsl(urlsplit(href).query)).get("jurisdiction_only") == "true"}
    # 本级 (苏州市 itself): one red and one green hazard, as cells and as the subtotal.
    assert own == {("320500", "hazard", "red"): 1, ("320500", "hazard", "green"): 1,
                   ("320500", "", "red"): 1, ("320500", "", "green"): 1}
    for _, n, href in cells:
        assert _api_total(sup, href) == n, href
    # Without jurisdiction_only the same jurisdiction takes its districts too (the totals' cells).
    assert _cells(html)[("320500", "", "red")][0] == 4  # 姑苏区, 吴中区 and 本级 together
    listed = sup.get("/api/cases", params={"jurisdiction": "320500", "jurisdiction_only": "true"}).json()
    assert sorted(c["title"] for c in listed["items"]) == ["提级未到期", "提级逾期"]
    assert "不设链接" not in html


def test_ranking_and_trend_figures_equal_their_lists(pages, api, world, clock, db):
    _world(api, world, clock, db)
    sup = api(world.supervisor)
    client = pages(world.supervisor, ttl=LONG)
    html = client.get("/cockpit/performance").text
    ranking = html.split('class="list cards compact ranking"')[1].split("</table>")[0]
    rows = {code: body for code, body in re.findall(r'<tr data-row="(\d+)">(.*?)</tr>', ranking, re.S)}
    figures = {code: {label: n for label, n in re.findall(r'data-label="(期内到期|按期完成|逾期)">(?:<a [^>]+>)?(\d+)<', body)}
               for code, body in rows.items()}
    assert figures["320508"] == {"期内到期": "3", "按期完成": "1", "逾期": "2"}
    assert figures["320506"] == {"期内到期": "1", "按期完成": "0", "逾期": "1"}
    assert figures["320500"] == {"期内到期": "1", "按期完成": "0", "逾期": "1"}  # 本级
    linked = _check_links(sup, html)
    by_params = {tuple(sorted(parse_qsl(urlsplit(h).query))): n for h, n in linked}
    period = (("rectification_due_from", "2026-01-01"), ("rectification_due_to", "2026-11-27"))
    assert by_params[tuple(sorted((("jurisdiction", "320508"), *period)))] == 3
    assert by_params[tuple(sorted((("jurisdiction", "320508"), ("rectified_on_time", "true"), *period)))] == 1
    assert by_params[tuple(sorted((("jurisdiction", "320508"), ("rectified_on_time", "false"), *period)))] == 2
    assert by_params[tuple(sorted((("jurisdiction", "320500"), ("jurisdiction_only", "true"),
                                   ("rectified_on_time", "false"), *period)))] == 1
    late = sup.get("/api/cases", params={"jurisdiction": "320508", "rectified_on_time": "false", **dict(period)})
    assert sorted(c["title"] for c in late.json()["items"]) == ["未整改", "逾期整改"]
    # The trend: November's 逾期 (5 cases whose light-bearing clock fell due by now and was not done
    # by then, 按期整改's 复查期限 included) is a link in the table and on its bar, like 新发现 and 结案.
    month = re.search(r'<tr data-month="2026-11">(.*?)</tr>', html, re.S).group(1)
    overdue = unescape(re.search(r'data-label="逾期"><a href="([^"]+)">(\d+)<', month).group(1))
    assert dict(parse_qsl(urlsplit(overdue).query)) == {"jurisdiction": "320500", "overdue_month": "2026-11"}
    bars = _check_links(sup, html, _BAR)
    assert len(bars) == 36  # every bar of the 12 months, zeros too
    assert [n for h, n in bars if "2026-11" in h] == [6, 0, 5]  # found, closed, overdue in November
    # A district's own page and the province's view of the city give figures that agree as well.
    _check_links(sup, client.get("/cockpit/performance?jurisdiction=320508").text)
    province = pages(world.province, ttl=LONG).get("/cockpit/performance?jurisdiction=320500").text
    assert _check_links(api(world.province), province) == linked


def test_the_new_filters_refuse_bad_values_in_chinese(pages, api, world, clock, db):
    sup = api(world.supervisor)
    for params, label in ((({"rectified_on_time": "maybe"}), "是否按期整改"),
                          ({"overdue_month": "2026-13"}, "逾期月份"),
                          ({"overdue_month": "11/2026"}, "逾期月份"),
                          ({"rectification_due_from": "2026-02-30"}, "整改期限到期日（起）"),
                          ({"rectification_due_from": "2026-11-02", "rectification_due_to": "2026-11-01"},
                           "整改期限到期日（止）"),
                          ({"jurisdiction_only": "true"}, "仅本级（不含下级）"),
                          ({"jurisdiction_only": "sometimes", "jurisdiction": "320500"}, "仅本级")):
        r = sup.get("/api/cases", params=params)
        assert r.status_code == 422 and label in r.text, (params, r.text)
        assert sup.get("/api/cases/export.csv", params=params).status_code == 422
    page = pages(world.supervisor, ttl=LONG).get("/ledger?overdue_month=2026-00")
    assert page.status_code == 422 and "逾期月份：应为年月" in page.text
    # The old filters answer as before.
    assert sup.get("/api/cases", params={"jurisdiction": "320500"}).status_code == 200
    assert sup.get("/api/cases", params={"found_from": "2026-13-01"}).status_code == 422


def test_the_ledger_keeps_the_cockpits_filters_and_exports_them(pages, api, world, clock, db):
    _world(api, world, clock, db)
    client = pages(world.supervisor, ttl=LONG)
    query = "jurisdiction=320508&rectification_due_from=2026-11-01&rectification_due_to=2026-11-30&rectified_on_time=false"
    html = client.get(f"/ledger?{query}").text
    assert "共2件" in html and "未整改" in html and "按期整改</a>" not in html
    assert '<input type="hidden" name="rectified_on_time" value="false">' in html and "是否按期整改：否" in html
    rows = client.get(f"/ledger/export.csv?{query}").content.decode("utf-8-sig").strip().split("\r\n")
    assert len(rows) == 3  # header + the two cases
    own = client.get("/ledger?jurisdiction=320500&jurisdiction_only=1").text
    assert "共2件" in own and "提级逾期" in own and "逾期整改" not in own


def test_a_supervisor_follows_the_own_level_count(browser_page, api, world, clock, db, live_server):
    _world(api, world, clock, db)
    page = browser_page(world.supervisor)
    page.goto("/cockpit")
    cell = page.locator('tr:not(.total) a[data-cell="320500|hazard|red"]')
    assert cell.inner_text() == "1"
    cell.click()
    page.wait_for_url("**/ledger?**")
    main = page.inner_text("main")
    assert "共1件" in main and "提级逾期" in main and "未整改" not in main
    assert page.locator('input[name="jurisdiction_only"]').is_checked()


_MOVED = re.compile(r'<a href="(/ledger\?[^"]+)" data-moved="([^"|]*)\|([^"]+)"[^>]*>(\d+)</a>')


def test_the_cases_moved_up_above_a_district_link_to_their_list(pages, api, world, clock, db):
    """On the district's own cockpit the cases 提级 to the city are shown apart, each figure a link
    to exactly those cases (``moved_up``), which the API's list and the ledger page agree with."""
    _world(api, world, clock, db)
    officer = api(world.officer)
    client = pages(world.officer, ttl=LONG)
    html = client.get("/cockpit").text
    assert "已提级至上级的案件" in html
    moved = {(kind, light): (unescape(href), int(n)) for href, kind, light, n in _MOVED.findall(html)}
    assert {key: n for key, (_, n) in moved.items()} == {("hazard", "red"): 1, ("hazard", "green"): 1}
    for href, n in moved.values():
        assert _api_total(officer, href) == n, href
    listed = officer.get("/api/cases", params={"moved_up": "true"}).json()
    assert sorted(c["title"] for c in listed["items"]) == ["提级未到期", "提级逾期"]
    page = client.get(moved[("hazard", "red")][0]).text
    assert "共1件" in page and "提级逾期" in page and "提级未到期" not in page and "已提级至上级" in page
    # The city holds them itself: for the city they are not "moved above" anything.
    assert api(world.supervisor).get("/api/cases", params={"moved_up": "true"}).json()["total"] == 0
    bad = officer.get("/api/cases", params={"moved_up": "maybe"})
    assert bad.status_code == 422
