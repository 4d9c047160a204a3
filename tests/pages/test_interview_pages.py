"""约谈 pages over HTTP: from the case page an officer opens a 约谈提醒 by hand, records it held with
the form's rows (attendees, a commitment), marks the commitment met; the case page lists it; the
company's contact reads it without forms; another district's officer gets the 404 page."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from tests.machine_paths import HttpDriver
from tests.pages.conftest import post_form


def test_open_record_and_meet_an_interview_through_the_pages(api, world, clock, pages):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard", title="塔吊限位失效")
    case = drv.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "general",
                                             "requirements": "立即停用塔吊，更换限位器"})
    officer = pages(world.officer)
    page = officer.get(f"/cases/{case['id']}")
    assert page.status_code == 200 and f'/interviews/new?case_id={case["id"]}' in page.text

    # A refused form says which field, by its label; nothing is opened.
    r = post_form(officer, f"/interviews/new?case_id={case['id']}", "/interviews/new",
                  {"case_id": case["id"], "measure": "reminder", "reason": "", "scheduled_at": "", "place": "会议室",
                   "summon_enterprise": "1"})
    assert r.status_code == 303
    shown = officer.get(r.headers["location"]).text
    assert "约谈事由" in unescape(shown) and "约谈时间" in unescape(shown)

    when = (clock.now() + timedelta(days=2)).astimezone().strftime("%Y-%m-%dT09:30")
    r = post_form(officer, f"/interviews/new?case_id={case['id']}", "/interviews/new",
                  {"case_id": case["id"], "measure": "reminder", "reason": "塔吊限位失效，提醒企业落实安全主体责任",
                   "scheduled_at": when, "place": "姑苏区住建局三楼会议室", "summon_enterprise": "1"})
    assert r.status_code == 303 and re.match(r"/interviews/\d+$", r.headers["location"]), r.headers
    path = r.headers["location"]
    html = unescape(officer.get(path).text)
    assert "约谈提醒" in html and world.e1.name in html and "登记约谈召开情况" in html

    held = (clock.now() - timedelta(minutes=30)).astimezone().strftime("%Y-%m-%dT%H:%M")
    due = (clock.now() + timedelta(days=12)).date().isoformat()
    r = post_form(officer, path, f"{path}/held", {
        "held_at": held, "hosts": "officer", "minutes": "通报塔吊限位失效情况，企业表示立即整改。",
        "a0_name": "周建明", "a0_unit": world.e1.name, "a0_position": "项目经理",
        "c0_content": "更换塔吊全部限位器并经检测合格", "c0_responsible_person": "周建明", "c0_due_date": due})
    assert r.status_code == 303
    html = unescape(officer.get(path).text)
    assert "已召开" in html and "更换塔吊全部限位器" in html and "落实中" in html and "约记" in html
    assert f'action="{path}/held"' not in html, "recorded once"

    # The contact reads it, without forms; another district's officer does not see it.
    contact_html = unescape(pages(world.contact).get(path).text)
    assert "更换塔吊全部限位器" in contact_html and "登记已落实" not in contact_html
    assert pages(world.officer_wz).get(path).status_code == 404

    commitment_id = re.search(r'action="/interview-commitments/(\d+)/met"', html).group(1)
    r = post_form(officer, path, f"/interview-commitments/{commitment_id}/met",
                  {"note": "限位器已更换，检测报告编号JC-2026-118", "interview_id": path.rsplit("/", 1)[1]})
    assert r.status_code == 303
    html = unescape(officer.get(path).text)
    assert "已落实" in html and "JC-2026-118" in html
    case_html = unescape(officer.get(f"/cases/{case['id']}").text)
    assert "约谈记录" in case_html and "1/1项已落实" in case_html
    listing = unescape(officer.get("/interviews").text)
    assert case["number"] in listing
