"""The 事故信息报送表 page links to its national-platform download (cookie twins of the API's exports)."""
from __future__ import annotations

import io

import openpyxl

from tests.machine_paths import HttpDriver


def test_the_report_page_links_to_its_platform_download(pages, api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.act(drv.create("accident"), "register", deaths=1, serious_injuries=0, direct_loss=600_000)
    client = pages(world.officer)
    html = client.get(f"/cases/{case['id']}/accident-report").text
    link = f"/cases/{case['id']}/accident-report/platform.xlsx"
    assert link in html
    r = client.get(link)
    assert r.status_code == 200
    rows = {row[0]: row[1] for row in openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(min_row=3, values_only=True)}
    assert rows["案件编号"] == case["number"] and rows["事故等级"] == "一般事故"
    r = client.get("/reports/accident-platform.csv", params={"from": "2000-01-01"})
    assert r.status_code == 200 and case["number"] in r.content.decode("utf-8-sig")
    assert pages(world.officer_wz).get(link).status_code == 404
