"""定期报表 pages over HTTP with real sessions: the figures table (each linked figure equals the API's
case list with the same filters while the cut-off is now), the district's submit form and its
versions, the submission page re-run as of its cut-off, the city's board, the file twins; an
enterprise contact gets the 403 page."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from tests.pages.conftest import post_form
from tests.report_world import Driver

LINK = re.compile(r'<td data-label="([^"]+)"><a href="(/ledger\?[^"]+)">(\d+)</a></td>')


def test_periodic_report_pages(pages, api, db, world, clock):
    d = Driver(db, world, clock)
    on_time = d.hazard(title="按期")
    late = d.hazard(title="逾期")
    d.hazard(actor=world.officer_wz, title="吴中")
    for cid in (on_time, late):
        d.act(cid, "start_rectification")
    d.act(on_time, "report_completion", completion_report="已整改")
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc))
    d.act(late, "report_completion", completion_report="迟了")
    sup, off = pages(world.supervisor, ttl=timedelta(days=60)), pages(world.officer, ttl=timedelta(days=60))
    page = sup.get("/reports/periodic?jurisdiction=320508&period_kind=month&period=2026-11")
    assert page.status_code == 200, page.text[:300]
    assert "2026年11月" in page.text and "按期整改率" in page.text and "报送期限：2026年12月7日" in page.text
    links = [(label, unescape(url), int(n)) for label, url, n in LINK.findall(page.text)]
    assert {label for label, _, _ in links} >= {"新增", "办结", "应按期整改", "按期整改", "逾期"}
    api_sup = api(world.supervisor)
    for label, url, n in links:
        params = dict(parse_qsl(urlsplit(url).query))
        total = api_sup.get("/api/cases", params=params).json()["total"]
        assert total == n, (label, url)
    assert any(label == "应按期整改" and n == 2 for label, _, n in links)
    assert "报送本期报表" not in page.text  # November has not ended; and this is the officer's own only

    clock.set(datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc))
    path = "/reports/periodic?jurisdiction=320508&period_kind=month&period=2026-11"
    assert "报送本期报表" in off.get(path).text
    r = post_form(off, path, "/reports/periodic/submit",
                  {"jurisdiction": "320508", "period_kind": "month", "period": "2026-11"})
    assert r.status_code == 303
    shown = off.get(r.headers["location"]).text
    assert "已报送（第1版），文号 姑苏建质报〔2026〕1号" in shown and "报送更正版本" in shown
    r = post_form(off, path, "/reports/periodic/submit",
                  {"jurisdiction": "320508", "period_kind": "month", "period": "2026-11"})
    assert "未报送：更正说明重新报送（更正）时必填" in off.get(r.headers["location"]).text
    sub_id = re.search(r'href="/reports/periodic/submissions/(\d+)"', shown).group(1)
    detail = sup.get(f"/reports/periodic/submissions/{sub_id}")
    assert detail.status_code == 200 and "与报送数据一致" in detail.text
    board = sup.get("/reports/periodic/board?jurisdiction=320500&period_kind=month&period=2026-11").text
    assert re.search(r'data-row="320508" data-status="submitted"><th scope="row">姑苏区</th><td>已按时报送', board)
    assert 'data-row="320506" data-status="not_yet"' in board
    x = sup.get(f"/reports/periodic/submissions/{sub_id}.xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert sup.get("/reports/periodic/export.pdf?jurisdiction=320508&period_kind=month&period=2026-11").content[:5] == b"%PDF-"
    assert pages(world.contact).get(path).status_code == 403
    assert pages(world.officer_wz).get(path).status_code == 403
