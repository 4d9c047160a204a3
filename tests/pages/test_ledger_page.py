"""The ledger page (/ledger): the filters as a GET form, the paginated table, and the two exports of
exactly that selection behind the session cookie — over HTTP, and the .xlsx downloaded in Chromium."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from html import unescape

import openpyxl

from cases.reads.export import HEADERS
from tests.machine_paths import create_payload


def _create(client, world, clock, kind="hazard", **extra) -> dict:
    r = client.post("/api/cases", json=create_payload(kind, world, clock, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def _links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="(/cases/\d+)"', html)]


def test_the_ledger_page_filters_pages_and_exports_its_selection(pages, api, world, clock):
    off = api(world.officer)
    made = [_create(off, world, clock, title=f"{i}号楼临边防护缺失", found_at=f"2026-11-{1 + i % 20:02d}T02:00:00+00:00")
            for i in range(55)]
    _create(off, world, clock, "accident", title="高处坠落")
    _create(off, world, clock, title="<script>alert(1)</script>外架")
    client = pages(world.officer)

    r = client.get("/ledger")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "台账" in html and "共57件" in html
    for field in ("kind", "state", "jurisdiction", "light", "q", "enterprise_id", "found_from", "found_to",
                  "due_from", "due_to", "closed_from", "closed_to"):
        assert f'name="{field}"' in html, field
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;外架" in html
    assert len(_links(html)) == 50 and "第1页，共2页" in html
    second = client.get("/ledger?page=2").text
    assert len(_links(second)) == 7 and not set(_links(second)) & set(_links(html))

    # the form as a browser sends it: every field, the unused ones blank
    query = ("kind=hazard&state=&jurisdiction=320508&light=&q=临边&enterprise_id=&found_from=2026-11-03"
             "&found_to=2026-11-05&due_from=&due_to=&closed_from=&closed_to=&sort=number")
    html = client.get(f"/ledger?{query}").text
    api_list = off.get("/api/cases?kind=hazard&jurisdiction=320508&q=临边&found_from=2026-11-03"
                       "&found_to=2026-11-05&sort=number&page_size=200").json()
    assert api_list["total"] == 9 and f"共{api_list['total']}件" in html
    assert _links(html) == [f"/cases/{c['id']}" for c in api_list["items"]]
    assert 'value="2026-11-03"' in html  # the form keeps what was asked
    xlsx_href = unescape(re.search(r'href="(/ledger/export\.xlsx[^"]*)"', html).group(1))
    csv_href = unescape(re.search(r'href="(/ledger/export\.csv[^"]*)"', html).group(1))
    assert "found_from=2026-11-03" in xlsx_href and "page=" not in xlsx_href

    r = client.get(xlsx_href)
    assert r.status_code == 200 and "filename*=UTF-8''" in r.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert [c.value for c in ws[1]] == list(HEADERS)
    assert [row[0] for row in ws.iter_rows(min_row=2, values_only=True)] == [c["number"] for c in api_list["items"]]
    r = client.get(csv_href)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [c["number"] for c in api_list["items"]]

    # a bad date: the page says which field, in Chinese, and keeps the form
    r = client.get("/ledger?found_from=2026-02-30&q=临边")
    assert r.status_code == 422 and "发现日期（起）" in r.text and 'value="临边"' in r.text
    r = client.get("/ledger/export.csv?closed_to=yesterday")
    assert r.status_code == 422 and "结案日期（止）" in r.text
    # no session: to the login page
    assert pages(None).get("/ledger/export.xlsx").status_code == 303
    assert made


def test_an_enterprise_contact_sees_and_exports_only_its_own_cases(pages, api, world, clock):
    off = api(world.officer)
    mine = _create(off, world, clock, title="本单位案件")
    _create(off, world, clock, title="他单位案件", enterprise_id=world.e2.id)
    client = pages(world.contact)
    html = client.get("/ledger").text
    assert _links(html) == [f"/cases/{mine['id']}"] and "他单位案件" not in html
    assert 'name="jurisdiction"' not in html  # no jurisdiction or enterprise filter for a contact
    rows = list(csv.reader(io.StringIO(client.get("/ledger/export.csv").content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [mine["number"]]


def test_the_xlsx_downloads_in_chromium(browser_page, api, world, clock, tmp_path):
    off = api(world.officer)
    made = [_create(off, world, clock, title=f"{i}号楼", found_at=f"2026-11-1{i}T02:00:00+00:00") for i in range(3)]
    page = browser_page(world.officer)
    page.goto("/ledger")
    page.fill("input[name=found_from]", "2026-11-11")
    page.click("button:has-text('查询')")
    page.wait_for_url("**/ledger?**")
    assert "共2件" in page.inner_text("h1")
    with page.expect_download() as info:
        page.click("a:has-text('Excel')")
    download = info.value
    assert download.suggested_filename.startswith("台账-") and download.suggested_filename.endswith(".xlsx")
    target = tmp_path / "ledger.xlsx"
    download.save_as(target)
    ws = openpyxl.load_workbook(target).worksheets[0]
    assert ws.freeze_panes == "A2"
    numbers = {row[0] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert numbers == {made[1]["number"], made[2]["number"]}
    found = ws.cell(row=2, column=HEADERS.index("发现日期") + 1)
    assert found.is_date and found.value in (datetime(2026, 11, 11), datetime(2026, 11, 12))


def test_past_the_count_limit_the_ledger_says_more_than_and_still_pages(pages, api, world, clock, db, monkeypatch):
    """The page counts up to ledger.COUNT_LIMIT (10,000; 5 here) and then says 超过…件; below it,
    and in GET /api/cases, the count is exact. The rows and their order are those of the full list."""
    from api.pages import ledger
    from cases.reads import case_lists
    from cases.models import User

    off = api(world.officer)
    made = [_create(off, world, clock, title=f"{i}号楼") for i in range(7)]
    monkeypatch.setattr(ledger, "PAGE_SIZE", 3)
    with db.session() as s:
        user = s.get(User, world.officer.id)
        exact = case_lists.list_cases(s, user, page_size=3)
        for limit, total, capped in ((5, 5, True), (6, 6, True), (7, 7, False), (100, 7, False)):
            page = case_lists.list_cases(s, user, page_size=3, count_limit=limit)
            assert (page.total, page.capped) == (total, capped), limit
            assert [c.id for c in page.items] == [c.id for c in exact.items]
    assert exact.total == 7 and not exact.capped and off.get("/api/cases").json()["total"] == 7

    client = pages(world.officer)
    assert "共7件" in client.get("/ledger").text  # under the limit: exact
    monkeypatch.setattr(ledger, "COUNT_LIMIT", 5)
    html = client.get("/ledger").text
    assert "超过5件" in html and "共7件" not in html and "导出当前筛选结果（超过5件）" in html
    ids = [link for p in (1, 2, 3) for link in _links(client.get(f"/ledger?page={p}").text)]
    assert "第2页" in client.get("/ledger?page=2").text and 'rel="next"' in client.get("/ledger?page=2").text
    assert 'rel="next"' not in client.get("/ledger?page=3").text  # the last, partial page
    assert ids == [f"/cases/{c['id']}" for c in sorted(made, key=lambda c: c["id"], reverse=True)]
    assert "共1件" in client.get("/ledger?q=1号楼").text  # a narrower selection is counted exactly


def test_the_enterprise_filter_takes_a_name_without_javascript(pages, api, world, clock):
    off = api(world.officer)
    mine = _create(off, world, clock, title="本单位的隐患", enterprise_id=world.e1.id)
    _create(off, world, clock, title="他单位的隐患", enterprise_id=world.e2.id)
    client = pages(world.officer)
    html = client.get("/ledger", params={"enterprise_id": "苏州测试建设有限公司"}).text
    assert f'href="/cases/{mine["id"]}"' in html and "他单位的隐患" not in html
    # A name no visible unit has is said at the field; the export refuses it the same way.
    r = client.get("/ledger", params={"enterprise_id": "不存在的公司"})
    assert r.status_code == 422 and "未找到" in r.text and "不存在的公司" in r.text
    assert client.get("/ledger/export.csv", params={"enterprise_id": "不存在的公司"}).status_code == 422


def test_a_date_typed_into_a_filter_is_also_shown_the_chinese_way(browser_page, world):
    page = browser_page(world.officer, width=375)
    page.goto("/ledger?found_from=2026-11-02")
    first = page.locator('input[name="found_from"] + .cn-date')
    assert first.text_content() == "2026年11月2日"
    page.fill('input[name="closed_to"]', "2026-12-31")
    assert page.locator('input[name="closed_to"] + .cn-date').text_content() == "2026年12月31日"
    page.fill('input[name="found_from"]', "")
    assert first.text_content() == ""
