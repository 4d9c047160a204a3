"""企业排名公示 (cases/rankings/): a supervisor of 苏州市 publishes the city's ranking; anyone reads the
latest publication without logging in — frozen as published, with its period and authority, no
personal data — and downloads it as .xlsx and CSV; a later publication supersedes it."""
from __future__ import annotations

import io
from datetime import timedelta

import openpyxl

from tests.pages.conftest import post_form
from tests.pages.test_cockpit import LONG, _major


def test_a_published_ranking_is_public_frozen_and_exported(pages, api, world, clock):
    officer, city = api(world.officer), api(world.supervisor)
    _major(officer, world, title="连墙件整层缺失")  # a 责令停工通知书 to e1
    clock.advance(timedelta(days=1))

    anon = pages(None)
    assert "尚未发布企业排名" in anon.get("/public/enterprise-ranking", params={"city": "3205"}).text
    assert api(None).get("/api/public/enterprise-ranking", params={"city": "3205"}).json()["publication"] is None

    # who may publish: the city's supervisor; not a district officer; a bad city is a 422 naming the field
    assert officer.post("/api/enterprise-rankings/publications", json={"city": "3205"}).status_code == 403
    bad = city.post("/api/enterprise-rankings/publications", json={"city": "320508"})
    assert bad.status_code == 422 and "设区市" in bad.text
    late = city.post("/api/enterprise-rankings/publications", json={"city": "3205", "from": "2026-01-01", "to": "2099-01-01"})
    assert late.status_code == 422 and "统计截止日期" in late.text
    r = city.post("/api/enterprise-rankings/publications", json={"city": "3205", "from": "2026-01-01"})
    assert r.status_code == 201, r.text
    pub = r.json()
    [row] = [x for x in pub["stop_work"] if x["name"] == world.e1.name]
    assert row["orders"] == 1 and row["credit_code"] == world.e1.credit_code
    assert set(row) == {"rank", "name", "credit_code", "orders", "active_projects", "ratio"}  # no personal data
    assert pub["authority_name"] == "苏州市住房和城乡建设局" and pub["score_source"] == "enterprise_credit_score"
    assert any(x["name"] == world.e1.name and x["credit_score"] is not None for x in pub["credit"])

    # the public read (no login) is the snapshot: a later order does not move it until the next publication
    _major(officer, world, title="深基坑未按方案开挖")
    public = api(None).get("/api/public/enterprise-ranking", params={"city": "320500"}).json()["publication"]
    assert public["id"] == pub["id"] and [x for x in public["stop_work"] if x["name"] == world.e1.name][0]["orders"] == 1
    html = anon.get("/public/enterprise-ranking", params={"city": "3205"}).text
    assert "苏州市住房和城乡建设局" in html and world.e1.name in html and "统计期间：2026年1月1日至" in html
    assert world.contact.display_name not in html and "phone" not in html

    x = anon.get("/public/enterprise-ranking.xlsx", params={"city": "3205"})
    assert x.status_code == 200 and "attachment" in x.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["停工通知书与在建项目之比", "信用分"]
    cells = [c for row in book["停工通知书与在建项目之比"].iter_rows(values_only=True) for c in row if c is not None]
    assert world.e1.name in cells and "发布机关：苏州市住房和城乡建设局" in " ".join(map(str, cells))
    csv_text = anon.get("/public/enterprise-ranking.csv", params={"city": "3205"}).content.decode("utf-8-sig")
    assert "二、信用分" in csv_text and world.e1.name in csv_text

    # the staff page publishes again (the same service): the public page now shows two orders
    clock.advance(timedelta(days=1))
    sup_pages = pages(world.supervisor, ttl=LONG)
    r = post_form(sup_pages, "/cockpit/enterprises/publish", "/cockpit/enterprises/publish",
                  {"city": "3205", "from": "2026-01-01", "to": ""})
    assert r.status_code == 303 and r.headers["location"] == "/public/enterprise-ranking?city=320500"
    public = api(None).get("/api/public/enterprise-ranking", params={"city": "3205"}).json()["publication"]
    assert public["id"] != pub["id"] and [x for x in public["stop_work"] if x["name"] == world.e1.name][0]["orders"] == 2
    history = city.get("/api/enterprise-rankings/publications", params={"city": "3205"}).json()["items"]
    assert [h["id"] for h in history] == [public["id"], pub["id"]]
    r = post_form(sup_pages, "/cockpit/enterprises/publish", "/cockpit/enterprises/publish",
                  {"city": "9999", "from": "", "to": ""})
    assert r.status_code == 422 and "设区市" in r.text and 'value="9999"' in r.text
