"""The inbox page (mark read, the header's badge) and my notification preferences and password."""
from __future__ import annotations

import re
from datetime import timedelta

from cases.models import OutboxMessage
from tests.pages.conftest import post_form


def _message(db, clock, user, title, *, case_id=None, minutes=0, status="sent"):
    now = clock.now() + timedelta(minutes=minutes)
    variables = {"recipient_name": user.display_name, "alert_title": title, "alert_detail": f"{title}的详情",
                 "raised_at": now.isoformat()}
    with db.transaction() as s:
        m = OutboxMessage(dedupe_key=f"test:{title}:{user.id}", case_id=case_id, template="system_alert",
                          recipient_user_id=user.id, channel="inbox", variables=variables, urgent=False,
                          status=status, attempts=1, next_attempt_at=now, created_at=now,
                          sent_at=now if status == "sent" else None, provider_response="inbox")
        s.add(m)
        s.flush()
        return m.id


def _badge(html: str) -> int:
    m = re.search(r'<span class="badge" title="未读站内信">(\d+)</span>', html)
    return int(m.group(1)) if m else 0


def test_inbox_lists_newest_first_marks_read_and_the_badge_drops(pages, world, db, clock, api):
    case = api(world.officer).post("/api/cases", json={"kind": "hazard", "title": "消息所属案件",
                                                       "project_id": world.p1.id}).json()
    older = _message(db, clock, world.officer, "较早的提醒", case_id=case["id"])
    newer = _message(db, clock, world.officer, "较新的提醒", minutes=5)
    third = _message(db, clock, world.officer, "第三条提醒", minutes=1)
    theirs = _message(db, clock, world.officer_wz, "别人的提醒")
    page = pages(world.officer)
    html = page.get("/inbox").text
    assert _badge(html) == 3 and "未读3条" in html
    assert html.index("较新的提醒") < html.index("第三条提醒") < html.index("较早的提醒")  # newest first
    assert "别人的提醒" not in html
    assert f'href="/cases/{case["id"]}"' in html  # a message of a case links to the case page
    assert html.count(">标为已读</button>") == 3
    r = post_form(page, "/inbox", f"/inbox/{older}/read", {"back": "/inbox"})
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    html = page.get("/inbox").text
    assert _badge(html) == 2 and "已读于" in html and "已标为已读" in html
    assert _badge(page.get("/").text) == 2  # the header on every page
    assert api(world.officer).get("/api/inbox").json()["unread"] == 2  # the API agrees
    # Only unread ones, then all of them at once.
    html = page.get("/inbox", params={"unread_only": "true"}).text
    assert "较早的提醒" not in html and "较新的提醒" in html
    r = post_form(page, "/inbox", "/inbox/read-all", {"back": "/inbox?unread_only=true"})
    assert r.status_code == 303 and r.headers["location"] == "/inbox?unread_only=true"
    html = page.get(r.headers["location"]).text
    assert _badge(html) == 0 and "没有未读的站内信" in html and "已将2条站内信标为已读" in html
    # Someone else's message: as if it did not exist; an off-site "back" is not followed.
    r = post_form(page, "/inbox", f"/inbox/{theirs}/read", {})
    assert r.status_code == 404 and "不存在" in r.text
    r = post_form(page, "/inbox", f"/inbox/{newer}/read", {"back": "//evil.example.com/"})
    assert r.headers["location"] == "/inbox"
    assert _badge(pages(world.officer_wz).get("/inbox").text) == 1
    assert f"m{third}" in page.get("/inbox").text


def test_preferences_save_show_and_refuse_next_to_the_field(pages, world):
    page = pages(world.officer)
    html = page.get("/me/preferences").text
    assert "催办提醒" in html and "逾期预警" in html and "全部消息" in html  # the catalogue's Chinese titles
    assert "企业微信群机器人" in html and "（未配置）" in html
    # Own setting for 催办提醒: inbox and e-mail (the officer has an address; e-mail is not configured
    # here, so it is refused, next to that row, and what was typed stays).
    r = post_form(page, "/me/preferences", "/me/preferences",
                  {"own.reminder": "1", "channels.reminder": "email", "quiet.reminder": "false"})
    assert r.status_code == 422
    row = re.search(r'<tr id="pref-reminder" class="invalid">(.*?)</tr>', r.text, re.S).group(1)
    assert "电子邮件渠道尚未配置" in row and 'name="own.reminder" value="1" checked' in row
    # The in-app inbox only, with the quiet hours lifted: saved, and shown as saved.
    r = post_form(page, "/me/preferences", "/me/preferences",
                  {"own.reminder": "1", "quiet.reminder": "false"})
    assert r.status_code == 303
    html = page.get("/me/preferences").text
    assert "通知设置已保存" in html
    row = re.search(r'<tr id="pref-reminder">(.*?)</tr>', html, re.S).group(1)
    assert 'name="own.reminder" value="1" checked' in row and '<option value="false" selected>' in row
    assert "本人设置" in row
    other = re.search(r'<tr id="pref-overdue_warning">(.*?)</tr>', html, re.S).group(1)
    assert 'checked' not in other.replace("checked disabled", "") and "默认" in other


def test_preferences_page_and_the_api_agree(pages, api, world):
    page = pages(world.contact)
    assert post_form(page, "/me/preferences", "/me/preferences", {"own.all": "1"}).status_code == 303
    prefs = api(world.contact).get("/api/me/notification-preferences").json()
    assert [(p["template"], p["channels"], p["quiet_hours"]) for p in prefs["preferences"]] == [("*", ["inbox"], None)]
    assert prefs["effective"]["reminder"]["source"] == "user"
    # Unticking the row removes the setting.
    assert post_form(page, "/me/preferences", "/me/preferences", {}).status_code == 303
    assert api(world.contact).get("/api/me/notification-preferences").json()["preferences"] == []


def test_password_change_renews_this_session_and_ends_the_others(pages, world, live_server, db):
    page = pages(world.officer)
    other = pages(world.officer)
    assert other.get("/").status_code == 200
    r = post_form(page, "/me/preferences", "/me/password",
                  {"old_password": "wrong-pw", "new_password": "Gusu-river-2027", "new_password2": "Gusu-river-2027"})
    assert r.status_code == 422
    assert re.search(r'原密码.*?<p class="field-error" role="alert">不正确</p>', r.text, re.S)
    r = post_form(page, "/me/preferences", "/me/password",
                  {"old_password": "secret-pw", "new_password": "Gusu-river-2027", "new_password2": "Gusu-river-202"})
    assert r.status_code == 422 and "两次输入的新密码不一致" in r.text
    r = post_form(page, "/me/preferences", "/me/password",
                  {"old_password": "secret-pw", "new_password": "12345678901", "new_password2": "12345678901"})
    assert r.status_code == 422 and "新密码" in r.text and "数字" in r.text
    old_cookie = page.cookies.get("anjian_session")
    r = post_form(page, "/me/preferences", "/me/password",
                  {"old_password": "secret-pw", "new_password": "Gusu-river-2027", "new_password2": "Gusu-river-2027"})
    assert r.status_code == 303, r.text[:300]
    assert page.cookies.get("anjian_session") != old_cookie
    after = page.get("/me/preferences")  # this session goes on with its new token
    assert after.status_code == 200 and "密码已修改" in after.text
    assert other.get("/").status_code == 303  # every other session has ended
    login = pages(None)
    r = post_form(login, "/login", "/login", {"username": "officer", "password": "Gusu-river-2027", "next": "/"})
    assert r.status_code == 303
