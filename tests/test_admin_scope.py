"""A county admin acts within its county; province-wide settings are the root admin's (issue 8, item 3).

The whole route × role table is tests/test_access_policy.py; here, the acts of the issue, with
what each leaves behind (nothing, when refused) and the words the admin reads.
"""
from __future__ import annotations

from sqlalchemy import select

from cases.models import ChannelConfig, NotificationPreference, OutboxMessage, User
from tests.machine_paths import HttpDriver
from tests.test_access_policy import add_user

NOWHERE = 2_000_000_000


def test_county_admin_cannot_rewire_the_provinces_channels(api, db, world, clock):
    county = api(add_user(db, clock, "admin_gusu", "admin", "320508"))
    body = {"enabled": True, "settings": {"url": "https://hooks.example.gov.cn/anjian"}}
    for method, path in (("PUT", "/api/admin/channels/webhook"), ("DELETE", "/api/admin/channels/webhook"),
                         ("GET", "/api/admin/channels/webhook"), ("GET", "/api/admin/channels")):
        r = county.http.request(method, path, json=body if method == "PUT" else None)
        assert r.status_code == 403, (method, path, r.text)
        assert "全省统一设置" in r.json()["message"] and "江苏省住房和城乡建设厅" in r.json()["message"]
    with db.session() as s:
        assert s.scalars(select(ChannelConfig)).all() == []
    # the root admin's act (the channel's own validation aside)
    r = api(world.admin).get("/api/admin/channels/webhook")
    assert r.status_code == 200, r.text


def test_role_preferences_and_the_calendar_are_province_level(api, db, world, clock):
    county = api(add_user(db, clock, "admin_gusu", "admin", "320508"))
    body = {"preferences": [{"template": "*", "channels": ["inbox"]}]}
    assert county.get("/api/admin/role-preferences/officer").status_code == 200  # reading is fine
    r = county.http.put("/api/admin/role-preferences/officer", json=body)
    assert r.status_code == 403 and "按角色的通知渠道偏好是全省统一设置" in r.json()["message"], r.text
    with db.session() as s:
        assert s.scalars(select(NotificationPreference)).all() == []
    assert api(world.admin).http.put("/api/admin/role-preferences/officer", json=body).status_code == 200
    notice = {"year": 2031, "notice": "测试", "holidays": []}
    r = county.post("/api/admin/calendar/years", json=notice)
    assert r.status_code == 403 and "节假日安排是全省统一设置" in r.json()["message"], r.text
    # the root admin gets past the check (to the notice's own validation)
    assert api(world.admin).post("/api/admin/calendar/years", json={}).status_code == 422


def test_admin_creates_users_only_in_its_subtree_and_for_its_enterprises(api, db, world, clock):
    county = api(add_user(db, clock, "admin_gusu", "admin", "320508"))

    def new(username, code, enterprise_id):
        return county.post("/api/users", json={
            "username": username, "display_name": username, "password": "Scope-test-pw-2026", "role": "enterprise",
            "jurisdiction_code": code, "enterprise_id": enterprise_id})

    # an account in its county, bound to an enterprise registered in 吴中区 (another county): refused
    r = new("bound_elsewhere", "320508", world.e2.id)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["enterprise_id"]
    assert "管辖范围之外" in r.json()["errors"][0]["message"]
    # an account in another county: refused
    r = new("other_county", "320506", world.e2.id)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"jurisdiction_code", "enterprise_id"}
    with db.session() as s:
        assert s.scalar(select(User).where(User.username.in_(["bound_elsewhere", "other_county"]))) is None
    # its own enterprise: fine
    r = new("own_contact", "320508", world.e1.id)
    assert r.status_code == 201, r.text
    # the province admin may bind anywhere in the province
    r = api(world.admin).post("/api/users", json={
        "username": "wz_contact", "display_name": "wz_contact", "password": "Scope-test-pw-2026",
        "role": "enterprise", "jurisdiction_code": "320506", "enterprise_id": world.e2.id})
    assert r.status_code == 201, r.text


def _failed_message(db, case_id: int) -> int:
    with db.transaction() as s:
        m = s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id).order_by(OutboxMessage.id)).first()
        m.status, m.last_error = "failed", "测试：发送失败"
        return m.id


def test_resend_only_for_cases_in_the_admins_subtree(api, db, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard", title="姑苏区的重大隐患")
    case = drv.act(case, "register", rectification_days=5)
    mid = _failed_message(db, case["id"])
    wz = api(add_user(db, clock, "admin_wz", "admin", "320506"))
    r, missing = wz.post(f"/api/admin/messages/{mid}/resend"), wz.post(f"/api/admin/messages/{NOWHERE}/resend")
    assert r.status_code == 404 and missing.status_code == 404
    assert r.json()["message"] == missing.json()["message"].replace(str(NOWHERE), str(mid))
    with db.session() as s:
        assert s.get(OutboxMessage, mid).status == "failed"  # untouched
    gusu = api(add_user(db, clock, "admin_gusu", "admin", "320508"))
    r = gusu.post(f"/api/admin/messages/{mid}/resend")
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    r = gusu.post(f"/api/admin/messages/{mid}/resend")  # not failed any more: a conflict, not a 400
    assert r.status_code == 409 and "只能重新发送失败的消息" in r.json()["message"]


def test_resend_of_a_message_without_a_case_is_the_root_admins_or_its_recipients(api, db, world, clock):
    gusu_admin = add_user(db, clock, "admin_gusu", "admin", "320508")
    with db.transaction() as s:
        rows = [OutboxMessage(case_id=None, template="system_alert", channel="inbox", recipient_user_id=uid,
                              variables={"alert_title": "测试", "alert_detail": "测试", "raised_at": clock.now().isoformat()},
                              dedupe_key=f"scope-test-{uid}", status="failed", attempts=1, created_at=clock.now(),
                              next_attempt_at=clock.now())
                for uid in (world.admin.id, gusu_admin.id)]
        s.add_all(rows)
        s.flush()
        to_root, to_gusu = (m.id for m in rows)
    gusu = api(gusu_admin)
    assert gusu.post(f"/api/admin/messages/{to_root}/resend").status_code == 404
    assert gusu.post(f"/api/admin/messages/{to_gusu}/resend").status_code == 200
    assert api(world.admin).post(f"/api/admin/messages/{to_root}/resend").status_code == 200


def test_rerender_only_for_cases_in_the_admins_subtree(api, db, world, clock):
    from cases.models import Document

    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard", title="姑苏区的重大隐患")
    case = drv.act(case, "register", rectification_days=5)
    with db.transaction() as s:
        doc = s.scalars(select(Document).where(Document.case_id == case["id"])).first()
        doc.status, doc.error = "failed", "测试：数据有误"
        doc_id = doc.id
    wz = api(add_user(db, clock, "admin_wz", "admin", "320506"))
    r = wz.post(f"/api/admin/documents/{doc_id}/rerender")
    missing = wz.post(f"/api/admin/documents/{NOWHERE}/rerender")
    assert r.status_code == 404 and r.json()["message"] == missing.json()["message"].replace(str(NOWHERE), str(doc_id))
    with db.session() as s:
        assert s.get(Document, doc_id).status == "failed"
    r = api(add_user(db, clock, "admin_gusu", "admin", "320508")).post(f"/api/admin/documents/{doc_id}/rerender")
    assert r.status_code == 200 and r.json()["status"] == "issued", r.text


def test_an_admin_manages_only_accounts_of_its_subtree(db, world, clock):
    """``policy.user_for_admin``: what account-management routes (deactivate, reset …) look users up with."""
    import pytest

    from cases.platform.errors import Forbidden, NotFound
    from cases.ledger.policy import user_for_admin

    gusu = add_user(db, clock, "admin_gusu", "admin", "320508")
    with db.session() as s:
        assert user_for_admin(s, gusu, world.officer.id).username == "officer"
        for other in (world.officer_wz.id, world.supervisor.id, world.admin.id, 2_000_000_000):
            with pytest.raises(NotFound) as exc:
                user_for_admin(s, gusu, other)
            assert exc.value.message == f"用户（编号{other}）不存在或不在您的管辖范围内"
        assert user_for_admin(s, world.admin, world.officer_wz.id).username == "officer_wz"
        with pytest.raises(Forbidden):
            user_for_admin(s, world.officer, world.contact.id)
