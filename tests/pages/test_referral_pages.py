"""The referral pages over HTTP (no JavaScript needed): the case page's 移送 section and its
new-referral form (defaults, a bad input kept and named in Chinese), the detail page with the
reply and withdrawal forms, the list with the overdue marked; an enterprise contact gets 403 and
the case page shows them no 移送 section."""
from __future__ import annotations

import re
from datetime import timedelta

from tests.machine_paths import HttpDriver
from tests.pages.conftest import post_form


def test_refer_from_the_case_page_reply_and_list(pages, api, world, clock):
    case = HttpDriver(api, world, clock).create("major_hazard", title="高支模未按方案搭设")
    officer = pages(world.officer)
    page = officer.get(f"/cases/{case['id']}")
    assert page.status_code == 200 and 'id="referrals"' in page.text
    assert f'href="/cases/{case["id"]}/referrals/new"' in page.text
    form = officer.get(f"/cases/{case['id']}/referrals/new")
    assert form.status_code == 200 and "公安机关（涉嫌危险作业罪案件线索，回复期限3个工作日）" in form.text
    assert "高支模未按方案搭设" in form.text  # the facts proposed from the case
    assert '<option value="苏州市公安局姑苏分局">' in form.text  # the district's usual bodies, suggested

    # Bad input: kept, named in Chinese, 422.
    r = post_form(officer, f"/cases/{case['id']}/referrals/new", f"/cases/{case['id']}/referrals",
                  {"target": "public_security", "body_name": "", "facts": "复查发现仍在施工"})
    assert r.status_code == 422 and "接收机关名称：必填" in r.text and "复查发现仍在施工" in r.text

    r = post_form(officer, f"/cases/{case['id']}/referrals/new", f"/cases/{case['id']}/referrals",
                  {"target": "public_security", "body_name": "苏州市公安局姑苏分局", "facts": "复查发现停工令下达后仍在施工"})
    assert r.status_code == 303, r.text[:500]
    detail_path = r.headers["location"]
    rid = int(re.search(r"/referrals/(\d+)$", detail_path).group(1))
    detail = officer.get(detail_path)
    assert detail.status_code == 200 and "姑苏建质移〔2026〕1号" in detail.text and "待回复" in detail.text
    assert "2026年11月26日" in detail.text  # 3 working days from Monday 23 November
    assert 'action="/referrals/%d/reply"' % rid in detail.text and 'action="/referrals/%d/withdraw"' % rid in detail.text
    assert f"/referrals/{rid}" in officer.get(f"/cases/{case['id']}").text

    # Overdue: marked in the list.
    clock.set(clock.now() + timedelta(days=4))
    officer = pages(world.officer)  # a fresh session (the first one's 12 hours are over)
    listed = officer.get("/referrals")
    assert listed.status_code == 200 and "逾期未回复" in listed.text and "苏州市公安局姑苏分局" in listed.text
    assert "逾期未回复" in officer.get("/referrals", params={"state": "overdue"}).text
    assert "暂无移送记录" in officer.get("/referrals", params={"target": "discipline"}).text

    # The reply: a missing result is named, then recorded.
    r = post_form(officer, detail_path, f"/referrals/{rid}/reply",
                  {"received_at": "2026-11-27", "content": "已立案侦查"})
    assert r.status_code == 422 and "处理结果：" in r.text and "已立案侦查" in r.text
    r = post_form(officer, detail_path, f"/referrals/{rid}/reply",
                  {"received_at": "2026-11-27", "reply_no": "姑苏公立〔2026〕9号", "result": "filed", "content": "已立案侦查"})
    assert r.status_code == 303
    detail = officer.get(detail_path)
    assert "已回复" in detail.text and "已立案" in detail.text and "逾期回复" in detail.text
    assert f'action="/referrals/{rid}/reply"' not in detail.text


def test_withdraw_from_the_detail_page(pages, api, world, clock):
    case = HttpDriver(api, world, clock).create("major_hazard")
    ref = api(world.officer).post(f"/api/cases/{case['id']}/referrals",
                                  json={"target": "fire_rescue", "body_name": "姑苏区消防救援大队"}).json()
    officer = pages(world.officer)
    r = post_form(officer, f"/referrals/{ref['id']}", f"/referrals/{ref['id']}/withdraw", {"reason": ""})
    assert r.status_code == 422 and "撤回理由：必填" in r.text
    r = post_form(officer, f"/referrals/{ref['id']}", f"/referrals/{ref['id']}/withdraw", {"reason": "不属消防管辖"})
    assert r.status_code == 303
    assert "已撤回" in officer.get(f"/referrals/{ref['id']}").text


def test_an_enterprise_contact_sees_no_referral_page(pages, api, world, clock):
    case = HttpDriver(api, world, clock).create("major_hazard")
    ref = api(world.officer).post(f"/api/cases/{case['id']}/referrals",
                                  json={"target": "public_security", "body_name": "苏州市公安局姑苏分局"}).json()
    contact = pages(world.contact)
    page = contact.get(f"/cases/{case['id']}")
    assert page.status_code == 200
    assert 'id="referrals"' not in page.text and "苏州市公安局" not in page.text and "移送函" not in page.text
    for path in ("/referrals", f"/referrals/{ref['id']}", f"/cases/{case['id']}/referrals/new"):
        r = contact.get(path)
        assert r.status_code == 403 and "苏州市公安局" not in r.text, path
    assert contact.get(f"/documents/{ref['document_id']}.pdf").status_code == 404
