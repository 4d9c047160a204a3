"""The admin page (/admin): only admins; accounts of their subtree, channels and the calendar as the
API's policy allows (root-only province settings), and re-sending a failed message."""
from __future__ import annotations

import json
import re

from cases.models import OutboxMessage, User
from tests.pages.conftest import csrf, post_form


def _county_admin(db, clock, password_hash):
    with db.transaction() as s:
        u = User(username="admin_gs", display_name="姑苏区管理员", password_hash=password_hash, role="admin",
                 jurisdiction_code="320508", active=True, created_at=clock.now())
        s.add(u)
        s.flush()
        s.expunge(u)
        return u


def _failed_message(db, clock, user, case_id=None, key="failed"):
    with db.transaction() as s:
        m = OutboxMessage(dedupe_key=f"test:{key}:{user.id}", case_id=case_id, template="system_alert",
                          recipient_user_id=user.id, channel="webhook", urgent=False, status="failed", attempts=5,
                          variables={"recipient_name": user.display_name, "alert_title": "测试", "alert_detail": "x",
                                     "raised_at": clock.now().isoformat()},
                          next_attempt_at=clock.now(), created_at=clock.now(), last_error="连接被拒绝")
        s.add(m)
        s.flush()
        return m.id


def test_only_admins_get_the_admin_page(pages, world):
    for who in (world.officer, world.supervisor, world.contact):
        client = pages(who)
        r = client.get("/admin")
        assert r.status_code == 403 and "无权访问" in r.text, who.username
        # A form post is refused the same way (with a good CSRF field from another page).
        token = csrf(client.get("/").text)
        r = client.post(f"/admin/users/{world.officer_wz.id}/deactivate", data={"csrf_token": token})
        assert r.status_code == 403
    assert "系统管理" not in pages(world.officer).get("/").text  # no link in the officer's header


def test_admin_deactivates_and_activates_a_user_of_the_subtree(pages, world, db):
    page = pages(world.admin)
    html = page.get("/admin").text
    assert "officer_wz" in html and "监管人员" in html and "吴中区" in html
    r = post_form(page, "/admin", f"/admin/users/{world.officer_wz.id}/deactivate", {})
    assert r.status_code == 303
    assert "已停用用户 officer_wz" in page.get("/admin").text
    with db.session() as s:
        assert s.get(User, world.officer_wz.id).active is False
    assert pages(world.officer_wz).get("/").status_code == 303  # their session has ended
    r = post_form(page, "/admin", f"/admin/users/{world.officer_wz.id}/activate", {})
    assert r.status_code == 303
    with db.session() as s:
        assert s.get(User, world.officer_wz.id).active is True


def test_a_county_admin_sees_only_its_subtree_and_no_province_settings(pages, world, db, clock):
    from tests.conftest import password_hash

    county = _county_admin(db, clock, password_hash())
    page = pages(county)
    html = page.get("/admin").text
    assert ">officer<" in html and ">officer_wz<" not in html and ">province<" not in html
    assert "仅限省级系统管理员" in html and 'action="/admin/calendar"' not in html
    # Outside its subtree: as if the user did not exist.
    r = post_form(page, "/admin", f"/admin/users/{world.officer_wz.id}/deactivate", {})
    assert r.status_code == 404
    # The calendar is the root admin's act, on the page as in the API (cases/ledger/policy.py).
    r = post_form(page, "/admin", "/admin/calendar", {"notice": json.dumps(
        {"year": 2027, "notice": "测试", "days_off": ["2027-01-01"]})})
    assert r.status_code == 403 and "全省统一设置" in r.text


def test_admin_creates_a_user_with_errors_next_to_the_fields(pages, world, db):
    page = pages(world.admin)
    r = post_form(page, "/admin", "/admin/users", {"username": "new_officer", "display_name": "新监管员",
                                                   "password": "short", "role": "officer",
                                                   "jurisdiction_code": "320508"})
    assert r.status_code == 422
    assert re.search(r'初始密码.*?<p class="field-error" role="alert">长度不能少于10个字符</p>', r.text, re.S)
    assert 'value="new_officer"' in r.text  # what was typed stays (not the password)
    r = post_form(page, "/admin", "/admin/users", {"username": "officer", "display_name": "重名",
                                                   "password": "Long-enough-2026", "role": "officer",
                                                   "jurisdiction_code": "320508"})
    assert r.status_code == 422 and "已存在" in r.text
    r = post_form(page, "/admin", "/admin/users", {"username": "new_officer", "display_name": "新监管员",
                                                   "password": "Long-enough-2026", "role": "officer",
                                                   "jurisdiction_code": "320508", "email": "new@example.gov.cn"})
    assert r.status_code == 303
    with db.session() as s:
        from sqlalchemy import select

        made = s.scalar(select(User).where(User.username == "new_officer"))
        assert made is not None and made.jurisdiction_code == "320508" and made.active


def test_channels_are_listed_with_secrets_hidden_and_the_calendar_loads(pages, world, db, live_server):
    page = pages(world.admin)
    html = page.get("/admin").text
    assert "企业微信群机器人" in html and "未配置" in html
    # A year's notice, pasted as YAML; a bad one says why next to the field and keeps the text.
    r = post_form(page, "/admin", "/admin/calendar", {"notice": "year: 2027\nnotice: 测试\ndays_off: [2028-01-01]\n"})
    assert r.status_code == 422 and "2028-01-01 不在 2027 年内" in r.text and "notice: 测试" in r.text
    r = post_form(page, "/admin", "/admin/calendar", {"notice": "year: [unclosed"})
    assert r.status_code == 422 and "不是有效的 YAML 或 JSON" in r.text
    r = post_form(page, "/admin", "/admin/calendar", {"notice": "year: 2027\nnotice: 测试用放假安排\ndays_off:\n  - 2027-01-01\n"})
    assert r.status_code == 303
    html = page.get("/admin").text
    assert "已载入2027年放假安排" in html and "测试用放假安排" in html
    assert api_years(live_server, world) == [2027]


def api_years(live_server, world):
    import httpx
    from datetime import timedelta

    from cases.platform.security import issue_token
    from cases.platform import clock

    token = issue_token(world.officer.id, live_server.signing_key, clock.now(), timedelta(hours=1))
    r = httpx.get(live_server.url + "/api/calendar/years", headers={"Authorization": f"Bearer {token}"})
    return [y["year"] for y in r.json()["loaded"]]


def test_admin_resends_a_failed_message(pages, world, db, clock, api):
    case = api(world.officer).post("/api/cases", json={"kind": "hazard", "title": "失败消息的案件",
                                                       "project_id": world.p1.id}).json()
    failed = _failed_message(db, clock, world.officer, case_id=case["id"])
    alert = _failed_message(db, clock, world.admin, key="alert")  # a system alert to the root admin
    page = pages(world.admin)
    html = page.get("/admin").text
    assert f'action="/admin/messages/{failed}/resend"' in html and f'action="/admin/messages/{alert}/resend"' in html
    assert "连接被拒绝" in html and "Webhook" in html
    r = post_form(page, "/admin", f"/admin/messages/{failed}/resend", {})
    assert r.status_code == 303
    html = page.get("/admin").text
    assert "已重新排队发送" in html and f'action="/admin/messages/{failed}/resend"' not in html
    with db.session() as s:
        assert s.get(OutboxMessage, failed).status == "pending"
    # Sent again while pending: refused, in Chinese.
    r = post_form(page, "/admin", f"/admin/messages/{failed}/resend", {})
    assert r.status_code == 409 and "只能重新发送失败的消息" in r.text


def test_a_county_admin_resends_only_its_subtrees_messages(pages, world, db, clock, api):
    from tests.conftest import password_hash

    county = _county_admin(db, clock, password_hash())
    wz = api(world.officer_wz).post("/api/cases", json={"kind": "hazard", "title": "吴中案件",
                                                        "project_id": world.p2.id}).json()
    gs = api(world.officer).post("/api/cases", json={"kind": "hazard", "title": "姑苏案件",
                                                     "project_id": world.p1.id}).json()
    theirs = _failed_message(db, clock, world.officer_wz, case_id=wz["id"], key="wz")
    mine = _failed_message(db, clock, world.officer, case_id=gs["id"], key="gs")
    alert = _failed_message(db, clock, world.admin, key="alert")
    page = pages(county)
    html = page.get("/admin").text
    assert f"/admin/messages/{mine}/resend" in html
    assert f"/admin/messages/{theirs}/resend" not in html and f"/admin/messages/{alert}/resend" not in html
    assert post_form(page, "/admin", f"/admin/messages/{theirs}/resend", {}).status_code == 404


def test_root_admin_saves_a_channel_with_errors_next_to_the_field(pages, world, db, clock, allow_outbound):
    settings = allow_outbound("127.0.0.1")  # the webhook receiver of this test would be on loopback
    page = pages(world.admin)
    r = post_form(page, "/admin", "/admin/channels/webhook", {"setting.url": "ftp://nowhere", "enabled": "1"})
    assert r.status_code == 422
    form = re.search(r'action="/admin/channels/webhook".*?</form>', r.text, re.S).group(0)
    assert re.search(r'Webhook地址.*?<p class="field-error" role="alert">[^<]*Webhook', form, re.S)
    assert 'value="ftp://nowhere"' in form  # what was typed stays
    url = "http://127.0.0.1:9/hook?access_token=s3cr3t-value-42"
    r = post_form(page, "/admin", "/admin/channels/webhook", {"setting.url": url, "enabled": "1"})
    assert r.status_code == 303, r.text[:400]
    html = page.get("/admin").text
    row = re.search(r'<tr id="channel-webhook">(.*?)</tr>', html, re.S).group(1)
    assert "已启用" in row and "已保存的配置" in row and "s3cr3t-value-42" not in html  # secrets hidden
    # Saved again as shown (the masked URL): the stored secret is kept.
    shown = re.search(r'name="setting.url" value="([^"]+)"', html).group(1)
    assert "s3cr3t-value-42" not in shown
    assert post_form(page, "/admin", "/admin/channels/webhook", {"setting.url": shown.replace("&amp;", "&"),
                                                                 "enabled": "1"}).status_code == 303
    from cases.models import ChannelConfig
    from notifications.channels import config as channel_config

    with db.session() as s:
        assert channel_config.saved_values(s.get(ChannelConfig, "webhook"), settings)["url"] == url
    # Province-wide: a county admin may not.
    from tests.conftest import password_hash

    county = pages(_county_admin(db, clock, password_hash()))
    r = post_form(county, "/admin", "/admin/channels/webhook", {"setting.url": url, "enabled": "1"})
    assert r.status_code == 403 and "全省统一设置" in r.text



def test_a_contact_is_created_with_its_unit_named_not_numbered(pages, world, db):
    """Without JavaScript the unit is typed by name; the picker's resolution finds the one visible unit."""
    page = pages(world.admin)
    r = post_form(page, "/admin", "/admin/users", {"username": "new_contact", "display_name": "孙工",
                                                   "password": "Long-enough-2026", "role": "enterprise",
                                                   "jurisdiction_code": "320508",
                                                   "enterprise_id": "苏州测试建设有限公司"})
    assert r.status_code == 303, r.text[:800]
    with db.session() as s:
        from sqlalchemy import select

        made = s.scalar(select(User).where(User.username == "new_contact"))
        assert made is not None and made.enterprise_id == world.e1.id
