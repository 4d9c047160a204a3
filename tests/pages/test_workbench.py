"""The workbench (/): the queue most urgent first with the countdown in legal time, filters, search,
counts by light, an enterprise contact's 本单位案件, and the phone layout in Chromium."""
from __future__ import annotations

import re
from datetime import timedelta

from cases.clocks.sweep import fire_all_due
from cases.ledger.identifiers import make_credit_code
from cases.models import Enterprise

LONG = timedelta(days=60)  # the tests move the clock by days
ROW = re.compile(r'<tr class="light-(\w+)">(.*?)</tr>', re.S)


def _rows(html: str) -> list[tuple[str, str]]:
    """(light, row text without tags) of each queue row, in order."""
    return [(light, re.sub(r"<[^>]+>", " ", body)) for light, body in ROW.findall(html)]


def _hazard(officer, world, title, enterprise_id=None, **register):
    case = officer.post("/api/cases", json={"kind": "hazard", "title": title, "project_id": world.p1.id}).json()
    body = {"enterprise_id": enterprise_id or world.e1.id, "severity": "general", "requirements": "立即整改", **register}
    r = officer.act(case, "register", **body)
    assert r.status_code == 200, r.text
    return r.json()


def test_queue_is_sorted_by_urgency_with_the_countdown_in_working_days(api, pages, world, clock, db):
    officer = api(world.officer)
    # Registered Monday 23 Nov 2026 09:00 Beijing (T0): due dates in working days, the start day excluded.
    late = _hazard(officer, world, "最晚到期：模板支撑", rectification_days=20)   # calendar days → 14 Dec
    mid = _hazard(officer, world, "居中到期：临边防护", rectification_days=7)     # Wed 2 Dec
    soon = _hazard(officer, world, "最早到期：脚手架", rectification_days=3)      # Thu 26 Nov
    page = pages(world.officer, ttl=LONG)
    rows = _rows(page.get("/").text)
    assert len(rows) == 3
    titles = [next(t for t in ("脚手架", "临边防护", "模板支撑") if t in text) for _, text in rows]
    assert titles == ["脚手架", "临边防护", "模板支撑"]  # same light or more urgent first, then by due date
    assert "还剩3个工作日" in rows[0][1] and "2026年11月26日" in rows[0][1]
    assert "还剩7个工作日" in rows[1][1] and "2026年12月2日" in rows[1][1]
    assert "整改期限" in rows[0][1] and "责任单位" in rows[0][1]  # the next clock: its label and whose it is

    # Friday 27 Nov 09:00: the 3-day clock ran out at 24:00 on Thursday; the 7-day one is yellow.
    clock.advance(timedelta(days=4))
    fire_all_due(db, clock.now())  # the real sweep: reminders, warnings (the page reads the same light)
    html = page.get("/").text
    rows = _rows(html)
    assert [light for light, _ in rows] == ["red", "yellow", "green"]
    assert "脚手架" in rows[0][1] and "已逾期1天" in rows[0][1]
    assert "临边防护" in rows[1][1] and "还剩3个工作日" in rows[1][1]  # Mon 30, Tue 1, Wed 2
    # Tuesday 1 Dec: overdue by 5 calendar days; the 7-day clock has one working day left.
    clock.advance(timedelta(days=4))
    rows = _rows(page.get("/").text)
    assert "已逾期5天" in rows[0][1] and "还剩1个工作日" in rows[1][1]
    clock.advance(timedelta(days=1))  # Wednesday 2 Dec, the due date itself
    rows = _rows(page.get("/").text)
    assert "今日到期" in rows[1][1]
    # The API's queue gives the same order and the same countdown.
    q = officer.get("/api/queue").json()["items"]
    assert [c["id"] for c in q] == [soon["id"], mid["id"], late["id"]]
    assert q[0]["next_clock"]["countdown"] == "已逾期6天" and q[1]["next_clock"]["countdown"] == "今日到期"


def test_a_paused_clock_says_so_and_the_supervisor_sees_the_request_in_their_queue(api, pages, world, clock):
    officer = api(world.officer)
    case = _hazard(officer, world, "临边防护缺失")
    case = officer.act(case, "start_rectification").json()
    clock.advance(timedelta(days=1))
    r = api(world.contact).act(case, "request_extension", extension_days=5, reason="材料未到场")
    assert r.status_code == 200, r.text
    [row] = _rows(pages(world.officer, ttl=LONG).get("/").text)
    # The unit's clock is paused since the request; the approver's clock runs and is the next one due.
    assert "整改期限已暂停（自2026年11月24日起）" in row[1]
    assert "延期审批期限" in row[1] and "审批人" in row[1]
    q = officer.get("/api/queue").json()["items"][0]
    assert [d["label"] for d in q["deadlines"] if d["paused"]] == ["整改期限"]
    # The extension request puts the case in the supervisor's queue (the approver's clock).
    sup_rows = _rows(pages(world.supervisor, ttl=LONG).get("/").text)
    assert len(sup_rows) == 1 and "临边防护缺失" in sup_rows[0][1] and "审批人" in sup_rows[0][1]


def test_filters_search_and_counts(api, pages, world, clock, db):
    with db.transaction() as s:
        other = Enterprise(credit_code=make_credit_code("91320508MA1W55555"), name="平江古建修缮有限公司",
                           jurisdiction_code="320508", credit_score=100, created_at=clock.now())
        s.add(other)
        s.flush()
        other_id = other.id
    officer = api(world.officer)
    a = _hazard(officer, world, "脚手架连墙件缺失", rectification_days=3)
    b = _hazard(officer, world, "基坑临边无防护", enterprise_id=other_id, rectification_days=7)
    c = _hazard(officer, world, "配电箱未接地", rectification_days=20)
    officer.act(b, "start_rectification")
    major = officer.post("/api/cases", json={"kind": "major_hazard", "title": "整层连墙件缺失", "project_id": world.p1.id}).json()
    r = officer.act(major, "register", enterprise_id=world.e1.id, hazard_item_code="7.2", stop_work_scope="whole",
                    requirements="停工整改")
    assert r.status_code == 200, r.text
    clock.advance(timedelta(days=4))  # Fri 27 Nov: a red, b yellow
    page = pages(world.officer, ttl=LONG)

    def listed(**params) -> list[str]:
        r = page.get("/", params=params)
        assert r.status_code == 200, r.text[:300]
        return [text for _, text in _rows(r.text)]

    def has(rows, *titles):
        return sorted(t for t in ("脚手架连墙件缺失", "基坑临边无防护", "配电箱未接地", "整层连墙件缺失")
                      if any(t in row for row in rows)) == sorted(titles)

    assert has(listed(), "脚手架连墙件缺失", "基坑临边无防护", "配电箱未接地", "整层连墙件缺失")
    assert has(listed(kind="major_hazard"), "整层连墙件缺失")
    assert has(listed(kind="hazard", state="rectifying"), "基坑临边无防护")
    # Search: the case number, the title, the responsible unit's name.
    assert has(listed(q=a["number"]), "脚手架连墙件缺失")
    assert has(listed(q="配电箱"), "配电箱未接地")
    assert has(listed(q="古建修缮"), "基坑临边无防护")
    assert has(listed(q="苏州测试建设"), "脚手架连墙件缺失", "配电箱未接地", "整层连墙件缺失")
    assert listed(q="没有这个词") == []
    assert "没有符合条件的案件" in page.get("/", params={"q": "没有这个词"}).text
    # The API's case search finds the unit's name too (one filter for every list).
    assert [x["id"] for x in officer.get("/api/cases", params={"q": "古建修缮"}).json()["items"]] == [b["id"]]
    # Counts at the top, each a link to its light; the light filter lists exactly that many.
    html = page.get("/").text
    counts = dict(re.findall(r'href="\?light=(\w+)"[^>]*><span class="light \w+">[^<]+</span> <b>(\d+)</b>', html))
    total = re.search(r'<b>(\d+)</b>全部', html).group(1)
    assert int(total) == 4 and sum(map(int, counts.values())) <= 4
    assert counts["red"] == "1" and counts["yellow"] == "1"
    for light, n in counts.items():
        rows = _rows(page.get("/", params={"light": light}).text)
        assert len(rows) == int(n) and all(l == light for l, _ in rows)
    # Counts keep the other filters: with a search, they count what the search finds.
    html = page.get("/", params={"q": "古建修缮"}).text
    assert re.search(r'<b>1</b>全部', html) and 'href="?q=%E5%8F%A4%E5%BB%BA%E4%BF%AE%E7%BC%AE&amp;light=yellow"' in html
    # An unknown value is refused in Chinese, naming the field.
    r = page.get("/", params={"kind": "nonsense"})
    assert r.status_code == 422 and "案件类型" in r.text


def test_an_enterprise_contact_sees_only_its_units_cases(api, pages, world, clock, db):
    with db.transaction() as s:
        other = Enterprise(credit_code=make_credit_code("91320508MA1W66666"), name="别家建筑有限公司",
                           jurisdiction_code="320508", credit_score=100, created_at=clock.now())
        s.add(other)
        s.flush()
        other_id = other.id
    officer = api(world.officer)
    _hazard(officer, world, "本单位的隐患")
    _hazard(officer, world, "别家的隐患", enterprise_id=other_id)
    html = pages(world.contact, ttl=LONG).get("/").text
    assert "本单位案件" in html
    rows = _rows(html)
    assert len(rows) == 1 and "本单位的隐患" in rows[0][1] and "别家的隐患" not in html
    # Searching for the other unit finds nothing either.
    assert _rows(pages(world.contact, ttl=LONG).get("/", params={"q": "别家"}).text) == []


def test_the_workbench_on_a_phone(api, browser_page, world, clock):
    officer = api(world.officer)
    _hazard(officer, world, "脚手架连墙件缺失（长标题：" + "东" * 30 + "）", rectification_days=3)
    _hazard(officer, world, "临边防护缺失", rectification_days=7)
    page = browser_page(world.officer, width=375, height=800)
    page.goto("/")
    assert "我的待办" in page.inner_text("h1")
    first = page.locator("table.queue tbody tr").first
    # Each row is a card: the header row is hidden, each cell says its column.
    assert not page.locator("table.queue thead").is_visible()
    label = first.locator("td[data-label='剩余']")
    assert "还剩3个工作日" in label.inner_text()
    before = label.evaluate("el => getComputedStyle(el, '::before').content")
    assert "剩余" in before
    # Nothing wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # The filters work from the phone: search, then follow a count link.
    page.fill("input[name=q]", "临边")
    page.click("button:has-text('筛选')")
    page.wait_for_url("**/?*q=*")
    assert page.locator("table.queue tbody tr").count() == 1
    page.click("ul.counts a:has-text('全部')")
    assert page.locator("table.queue tbody tr").count() == 1  # the search is kept
