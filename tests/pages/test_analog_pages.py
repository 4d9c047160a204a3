"""类比排查 pages: every figure of ``/cockpit/analogs`` equals the list it links to (the page list
and ``GET /api/analog-tasks`` with the same filters); the list page and its cancel form; the case
page's section (httpx, and once in Chromium); an enterprise contact gets the 403 page."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from html import unescape
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests.analog_world import record_inspection, register_major_hazard, seed_sites, tasks_of
from tests.machine_paths import HttpDriver
from tests.pages.conftest import post_form

SHANGHAI = ZoneInfo("Asia/Shanghai")
CELL = re.compile(r'data-figure="(\w+)"><a href="([^"]+)">(\d+)</a>')


@pytest.fixture
def stage(api, db, world, clock):
    """Two major hazards of e1: the first's tasks a fortnight old (p3 done with findings, p4 cancelled,
    p6 overdue), the second's fresh (open)."""
    drv = HttpDriver(api, world, clock)
    sites = seed_sites(db, world, clock, drv)
    first = register_major_hazard(drv, world)
    by_project = {t.project_id: t for t in tasks_of(db, first["id"])}
    found = drv.create("hazard", project_id=sites.p3, category="scaffolding", title="卸料平台无限位")
    record_inspection(db, clock, world, sites.p3, on=date(2026, 11, 24), findings=1, case_id=found["id"])
    r = drv.client(world.supervisor).post(f"/api/analog-tasks/{by_project[sites.p4].id}/cancel", json={"reason": "项目已竣工"})
    assert r.status_code == 200, r.text
    clock.set(datetime(2026, 12, 9, 10, tzinfo=SHANGHAI).astimezone(timezone.utc))
    second = drv.create("major_hazard", title="塔吊附着失效", hazard_item_code="8.5", project_id=sites.p3)
    second = drv.act(second, "register", fields={"enterprise_id": world.e1.id, "hazard_item_code": "8.5",
                                                 "stop_work_scope": "partial", "requirements": "停用塔吊",
                                                 "rectification_days": 20})
    return drv, sites, first, second


def _cells(html: str):
    return [(f, unescape(url), int(n)) for f, url, n in CELL.findall(html)]


def test_every_cockpit_figure_equals_the_list_it_links_to(stage, pages, world):
    drv, sites, first, second = stage
    for user, path in ((world.supervisor, "/cockpit/analogs"), (world.supervisor, "/cockpit/analogs?jurisdiction=320508"),
                       (world.province, "/cockpit/analogs"), (world.officer, "/cockpit/analogs")):
        client, api = pages(user), drv.client(user)
        page = client.get(path)
        assert page.status_code == 200, page.text[:300]
        cells = _cells(page.text)
        assert cells, path
        seen = set()
        for figure, url, n in cells:
            assert url.startswith("/analog-tasks?") or url == "/analog-tasks?"
            params = dict(parse_qsl(urlsplit(url).query))
            api_total = api.get("/api/analog-tasks", params=params).json()["total"]
            listed = client.get(url)
            assert listed.status_code == 200
            shown = int(re.search(r"共(\d+)项", listed.text).group(1))
            assert (n, n) == (api_total, shown), (user.username, path, figure, url)
            seen.add(figure)
        assert seen == {"proposed", "open", "overdue", "done", "with_findings", "cancelled"}
    # the city's totals: 3 of the first (1 done with findings, 1 cancelled, 1 overdue) + the second's
    totals = dict((f, n) for f, _, n in _cells(pages(world.supervisor).get("/cockpit/analogs").text.split("<tfoot>")[1]))
    assert totals["done"] == 1 and totals["with_findings"] == 1 and totals["cancelled"] == 1 and totals["overdue"] == 1
    assert totals["proposed"] == 3 + totals["open"]


def test_the_list_page_and_its_cancel_form(stage, pages, world, db):
    drv, sites, first, second = stage
    city = pages(world.supervisor)
    html = city.get(f"/analog-tasks?source_case_id={first['id']}").text
    assert "共3项" in html and "同一企业其他在建项目" in html and "同类隐患" in html
    assert "已撤销" in html and "项目已竣工" in html and "发现问题1项" in html and "已逾期" in html
    overdue = next(t for t in tasks_of(db, first["id"]) if t.project_id == sites.p6)
    assert f'/inspections/new?project_id={sites.p6}&amp;analog_task_id={overdue.id}' in html
    r = post_form(city, f"/analog-tasks?source_case_id={first['id']}", f"/analog-tasks/{overdue.id}/cancel",
                  {"reason": "", "next": f"/analog-tasks?source_case_id={first['id']}"})
    assert r.status_code == 303  # refused: the notice names the field
    assert "撤销理由" in city.get(r.headers["location"]).text
    r = post_form(city, "/analog-tasks", f"/analog-tasks/{overdue.id}/cancel",
                  {"reason": "已并入另一标段检查", "next": "/analog-tasks?status=cancelled"})
    assert r.status_code == 303 and r.headers["location"] == "/analog-tasks?status=cancelled"
    page = city.get(r.headers["location"]).text
    assert "已撤销对“姑苏商业综合体”的类比排查任务" in page and "已并入另一标段检查" in page
    # an officer sees the list but no cancel form; an enterprise contact gets the 403 page
    assert "撤销任务" not in pages(world.officer).get("/analog-tasks").text
    assert pages(world.contact).get("/analog-tasks").status_code == 403
    assert pages(world.contact).get("/cockpit/analogs").status_code == 403
    assert pages(world.officer_wz).get("/cockpit/analogs?jurisdiction=320508").status_code == 404


def test_the_case_page_shows_the_tasks_and_their_completion(stage, pages, world, db):
    drv, sites, first, second = stage
    html = pages(world.officer).get(f"/cases/{first['id']}").text
    section = html[html.index('id="h-analogs"'):]
    assert "已完成1/2项" in section  # the cancelled one is not counted
    assert "姑苏二号地块" in section and "吴中科技园三期" in section and "姑苏商业综合体" in section
    assert "2026年12月7日" in section and "已逾期2天" in section
    # 姑苏区's officer records the checks of 姑苏区's sites; 吴中区's site waits for 吴中区
    fresh = pages(world.officer).get(f"/cases/{second['id']}").text
    fresh = fresh[fresh.index('id="h-analogs"'):]
    assert fresh.count("记录检查") == 1 and "待吴中区检查" in fresh and "撤销任务" not in fresh
    assert "撤销任务" in pages(world.supervisor).get(f"/cases/{second['id']}").text
    # the other district's officer may not read the case; the contact reads it without the section
    assert pages(world.officer_wz).get(f"/cases/{first['id']}").status_code == 404
    contact = pages(world.contact).get(f"/cases/{first['id']}")
    assert contact.status_code == 200 and 'id="h-analogs"' not in contact.text


def test_the_case_page_section_in_chromium(stage, browser_page, world, db):
    drv, sites, first, second = stage
    page = browser_page(world.supervisor)
    page.goto(f"/cases/{second['id']}")
    section = page.locator("#analogs")
    assert section.is_visible()
    rows = section.locator("tbody tr")
    # the unit's other active sites: p1 and p4 (p3 is the case's own, p5 is finished)
    assert rows.count() == len(tasks_of(db, second["id"])) == 2
    link = section.locator("a", has_text="记录检查").first
    assert link.is_visible() and link.get_attribute("href").startswith("/inspections/new?project_id=")
    assert "还剩" in section.inner_text()
    # on a phone the section, the list and the cockpit's figures fit the screen
    phone = browser_page(world.supervisor, width=375)
    for path in (f"/cases/{second['id']}", "/analog-tasks", "/cockpit/analogs"):
        phone.goto(path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375 + 1, path
    phone.click("a[href='/cockpit/analogs?jurisdiction=320508']")
    phone.wait_for_url("**/cockpit/analogs?jurisdiction=320508")


def test_the_workbench_says_how_many_sites_wait_for_their_analogous_check(pages, stage, world):
    """The officer's 我的待办 names the 类比排查 waiting in its district, and each number is its list."""
    client = pages(world.officer)
    html = client.get("/").text
    line = re.search(r'<p class="notice analog-waiting">(.*?)</p>', html, re.S).group(1)
    links = [(unescape(href), int(n)) for href, n in re.findall(r'<a href="([^"]+)">(\d+)个', line)]
    assert len(links) == 2 and links[0][1] >= links[1][1] >= 1  # waiting, of which overdue (p6's)
    for href, n in links:
        listed = client.get(href).text
        assert f"共{n}项" in listed, href
    # an enterprise contact's workbench has no such line
    assert "analog-waiting" not in pages(world.contact).get("/").text
