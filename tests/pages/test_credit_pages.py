"""Credit pages (api/pages/sanctions/credit.py): an enterprise's credit page with the appeal form for
its contact and the decision form for the authority that recorded it (no JavaScript: plain forms),
the blacklist page for staff, the public exposure page without login."""
from __future__ import annotations

from cases.credit import services as credit
from tests.pages.conftest import post_form
from tests.pages.test_cockpit import _major


def test_appeal_and_decision_through_the_pages(pages, api, world, clock, db):
    _major(api(world.officer), world)
    url = f"/enterprises/{world.e1.id}/credit"
    contact = pages(world.contact)
    html = contact.get(url).text
    assert "信用分" in html and ">90<" in html and "XY-01" in html and "存在重大事故隐患被责令停工、挂牌督办" in html
    assert "2026年11月23日至2027年5月22日" in html and "/appeal\"" in html and "/decision\"" not in html
    record_id = int(html.split('action="/credit-records/')[1].split("/")[0])
    r = post_form(contact, url, f"/credit-records/{record_id}/appeal", {"reason": ""})
    assert r.status_code == 303 and "申诉理由" in contact.get(r.headers["location"]).text
    r = post_form(contact, url, f"/credit-records/{record_id}/appeal", {"reason": "当日已整改"})
    page = contact.get(r.headers["location"]).text
    assert "申诉已提交" in page and "申诉中" in page and "当日已整改" in page and "/appeal\"" not in page
    # the officer of the recording authority decides; a correction must name valid points
    officer = pages(world.officer)
    html = officer.get(url).text
    assert "/decision\"" in html and 'max="9"' in html
    r = post_form(officer, url, f"/credit-records/{record_id}/decision", {"outcome": "corrected", "points": "12", "reason": "轻"})
    assert "更正后分值" in officer.get(r.headers["location"]).text
    r = post_form(officer, url, f"/credit-records/{record_id}/decision", {"outcome": "withdrawn", "reason": "经核实当日已整改"})
    page = officer.get(r.headers["location"]).text
    assert "申诉已处理：撤销" in page and ">100<" in page and "已撤销" in page and "经核实当日已整改" in page
    # another county's officer: not found; the contact cannot read another unit's page
    assert pages(world.officer_wz).get(url).status_code == 404
    assert contact.get(f"/enterprises/{world.e2.id}/credit").status_code == 404


def test_blacklist_and_public_exposure_pages(pages, world, clock, db):
    with db.transaction() as s:
        credit.record_cause(s, enterprise_id=world.e2.id, cause="refused_stop_work", source_key="p:1",
                            authority_code="320506", now=clock.now(), summary="测试：拒不停工")
        credit.record_cause(s, enterprise_id=world.e2.id, cause="major_hazard", source_key="p:2",
                            authority_code="320506", now=clock.now(), summary="测试：重大隐患")
    html = pages(world.officer_wz).get("/credit/blacklist").text
    assert "吴中第二建筑有限公司" in html and "信用分70分" in html and "2026年11月23日" in html
    assert "吴中第二建筑有限公司" not in pages(world.officer).get("/credit/blacklist").text  # not 姑苏区's
    assert pages(world.contact).get("/credit/blacklist").status_code == 403
    public = pages(None).get("/public/exposure")
    assert public.status_code == 200 and "吴中第二建筑有限公司" in public.text and "拒不执行停工指令" in public.text
    assert "苏州市吴中区住房和城乡建设局" in public.text and "/public/exposure/export.xlsx" in public.text
    xlsx = pages(None).get("/public/exposure/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
