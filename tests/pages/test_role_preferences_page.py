"""/admin/role-preferences: the channels every user of a role gets each message on, read by any
admin and changed only by the root admin, through the same service as
/api/admin/role-preferences/{role}; an officer's own page then shows where its channels come from."""
from __future__ import annotations

from tests.pages.conftest import post_form
from tests.pages.test_admin_pages import _county_admin


def test_the_root_admin_sets_a_roles_channels_and_its_users_see_them(pages, api, world):
    page = pages(world.admin)
    html = page.get("/admin/role-preferences/officer").text
    assert "按角色的通知设置" in html and "监管人员" in html and "保存监管人员的通知设置" in html
    assert 'name="own.all"' in html and "当前生效" not in html
    r = post_form(page, "/admin/role-preferences/officer", "/admin/role-preferences/officer",
                  {"own.all": "1", "quiet.all": "false"})
    assert r.status_code == 303, r.text
    shown = page.get(r.headers["location"]).text
    assert "监管人员的通知设置已保存" in shown
    saved = api(world.admin).get("/api/admin/role-preferences/officer").json()["preferences"]
    assert [(p["template"], p["channels"], p["quiet_hours"]) for p in saved] == [("*", ["inbox"], False)]
    mine = pages(world.officer).get("/me/preferences").text
    assert "按角色设置" in mine
    # Another role is untouched.
    assert api(world.admin).get("/api/admin/role-preferences/supervisor").json()["preferences"] == []


def test_a_county_admin_reads_but_cannot_change_them_and_others_are_refused(pages, world, db, clock):
    from tests.conftest import password_hash

    county = pages(_county_admin(db, clock, password_hash()))
    html = county.get("/admin/role-preferences/supervisor").text
    assert "只有省级系统管理员可以修改" in html and "保存督办" not in html and " disabled" in html
    r = post_form(county, "/admin/role-preferences/supervisor", "/admin/role-preferences/supervisor", {"own.all": "1"})
    assert r.status_code == 403
    assert pages(world.officer).get("/admin/role-preferences/officer").status_code == 403
    missing = pages(world.admin).get("/admin/role-preferences/nobody")
    assert missing.status_code == 404 and "没有“nobody”这个角色" in missing.text
    assert pages(world.admin).get("/admin/role-preferences", follow_redirects=False).headers["location"] \
        == "/admin/role-preferences/officer"
