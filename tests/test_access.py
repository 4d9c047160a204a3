"""Who sees and acts on what: jurisdictions, roles, enterprise contacts, tokens; list filters."""
from __future__ import annotations

from datetime import timedelta

import httpx

from cases.platform.security import issue_token
from tests.machine_paths import HttpDriver


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def test_jurisdictions_and_roles(api, world, clock, live_server):
    drv = HttpDriver(api, world, clock)
    gusu = drv.create("hazard", title="姑苏区脚手架隐患")                       # 320508, e1 responsible
    wz = drv.create("hazard", world.officer_wz, title="吴中区基坑隐患", project_id=world.p2.id,
                    enterprise_id=world.e2.id)                                  # 320506, e2 responsible
    assert gusu["jurisdiction"]["code"] == "320508" and wz["jurisdiction"]["code"] == "320506"
    wz_officer, officer = drv.client(world.officer_wz), drv.client(world.officer)

    # another county: invisible, and acting on it is 404 (no hint that it exists)
    assert officer.get(f"/api/cases/{wz['id']}").status_code == 404
    assert wz_officer.get(f"/api/cases/{gusu['id']}").status_code == 404
    assert wz_officer.get(f"/api/cases/{gusu['id']}/events").status_code == 404
    r = drv.try_act(gusu, "register", world.officer_wz)
    assert r.status_code == 404 and "不在您的管辖范围内" in r.json()["message"]
    assert ids(officer.get("/api/cases")) == [gusu["id"]]
    assert ids(wz_officer.get("/api/cases")) == [wz["id"]]
    # nor may a county officer create a case in another county
    r = wz_officer.post("/api/cases", json={"kind": "hazard", "title": "越权", "jurisdiction_code": "320508"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"

    # the city sees both counties and can filter; the province sees all
    sup = drv.client(world.supervisor)
    assert set(ids(sup.get("/api/cases"))) == {gusu["id"], wz["id"]}
    assert ids(sup.get("/api/cases", params={"jurisdiction": "320506"})) == [wz["id"]]
    assert ids(sup.get("/api/cases", params={"jurisdiction": "320508"})) == [gusu["id"]]
    assert sup.get("/api/cases").json()["total"] == 2
    prov = drv.client(world.province)
    assert set(ids(prov.get("/api/cases"))) == {gusu["id"], wz["id"]}
    assert drv.act(wz, "register", world.supervisor)["state"] == "registered"
    assert drv.act(gusu, "comment", world.province, comment="省厅关注")["version"] == 1  # a note: no new version
    gusu = drv.get(gusu)

    # role not permitted: 403 with a Chinese message
    gusu = drv.act(gusu, "register")
    gusu = drv.act(gusu, "start_rectification")
    gusu = drv.act(gusu, "request_extension", world.contact, extension_days=5, reason="材料未到场")
    r = drv.try_act(gusu, "decide_extension", world.officer)
    assert r.status_code == 403 and r.json()["message"] == "您的角色无权执行“审批延期”"
    assert drv.get(gusu)["version"] == gusu["version"]
    gusu = drv.act(gusu, "decide_extension", world.supervisor, approved=True, approved_days=5)
    assert gusu["details"]["extensions"][0]["approved_days"] == 5
    # admins administer; they do not handle cases
    r = drv.client(world.admin).post("/api/cases", json={"kind": "hazard", "title": "管理员不能立案"})
    assert r.status_code == 403 and "监管人员" in r.json()["message"]
    assert set(ids(drv.client(world.admin).get("/api/cases"))) == {gusu["id"], wz["id"]}

    # no token / a bad token: 401
    anon = httpx.Client(base_url=live_server.url)
    try:
        for path in ("/api/cases", f"/api/cases/{gusu['id']}", "/api/me"):
            r = anon.get(path)
            assert r.status_code == 401 and r.headers.get("www-authenticate") == "Bearer"
            assert "登录" in r.json()["message"]
        r = anon.post(f"/api/cases/{gusu['id']}/actions/comment", json={"version": 1, "comment": "x"})
        assert r.status_code == 401
        r = anon.get("/api/cases", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
    finally:
        anon.close()
    # an expired token (the app's clock decides)
    token = issue_token(world.officer.id, live_server.signing_key, clock.now(), timedelta(hours=12))
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}) as stale:
        assert stale.get("/api/cases").status_code == 200
        clock.advance(timedelta(hours=13))
        assert stale.get("/api/cases").status_code == 401


def test_a_project_elsewhere_does_not_smuggle_a_case_out_of_ones_jurisdiction(api, world, clock):
    drv = HttpDriver(api, world, clock)
    wz_officer = drv.client(world.officer_wz)
    r = wz_officer.post("/api/cases", json={"kind": "hazard", "title": "姑苏的项目", "project_id": world.p1.id})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] in ("jurisdiction_code", "project_id")
    assert ids(drv.client(world.supervisor).get("/api/cases")) == []
    # a dangerous building belongs to the jurisdiction of the building
    r = wz_officer.post("/api/cases", json={"kind": "dangerous_building", "title": "姑苏的房屋",
                                            "building_id": world.b1.id})
    assert r.status_code == 422, r.text
    case = drv.create("dangerous_building", world.supervisor, building_id=world.b2.id)
    assert case["jurisdiction"]["code"] == "320506"


def test_enterprise_contact(api, world, clock):
    drv = HttpDriver(api, world, clock)
    own = drv.create("hazard", title="本企业为责任单位")
    related = drv.create("hazard", world.officer_wz, title="本企业为相关单位", project_id=world.p2.id,
                         enterprise_id=world.e2.id,
                         related_enterprises=[{"enterprise_id": world.e1.id, "role": "supervisor"}])
    other = drv.create("hazard", world.officer_wz, title="与本企业无关", project_id=world.p2.id,
                       enterprise_id=world.e2.id)
    unassigned = drv.create("hazard", title="尚未确定责任单位", enterprise_id=None)
    contact = drv.client(world.contact)
    # its own unit's cases only: a related unit does not see another responsible unit's case
    assert set(ids(contact.get("/api/cases"))) == {own["id"]}
    assert contact.get(f"/api/cases/{other['id']}").status_code == 404
    assert contact.get(f"/api/cases/{unassigned['id']}").status_code == 404
    assert contact.get(f"/api/cases/{related['id']}").status_code == 404
    # staff-only actions: 403 with a Chinese message; enterprises cannot open cases
    r = drv.try_act(own, "register", world.contact)
    assert r.status_code == 403 and r.json()["message"] == "您的角色无权执行“登记立案”"
    r = contact.post("/api/cases", json={"kind": "hazard", "title": "企业不能立案"})
    assert r.status_code == 403 and "企业联系人" in r.json()["message"]
    assert drv.try_act(other, "comment", world.contact).status_code == 404
    # enterprise actions on its own case
    own = drv.act(own, "register")
    assert drv.get(own, world.contact)["allowed_actions"] == ["start_rectification", "comment"]
    own = drv.act(own, "start_rectification", world.contact)
    assert set(drv.get(own, world.contact)["allowed_actions"]) == {"report_completion", "request_extension", "comment"}
    own = drv.act(own, "report_completion", world.contact, completion_report="已整改")
    for action in ("verify", "reject", "assign", "decide_extension"):
        assert drv.try_act(own, action, world.contact).status_code == 403, action
    assert drv.get(own)["version"] == own["version"]
    events = drv.events(own, world.contact)
    assert [e["actor"]["name"] for e in events] == ["officer", "officer", "contact", "contact"]


def test_list_filters_sort_and_pages(api, world, clock):
    drv = HttpDriver(api, world, clock)
    made = []
    for i, title in enumerate(["塔吊限位失效", "临边防护缺失", "脚手架连墙件缺失", "配电箱未接地"]):
        made.append(drv.create("hazard", title=title, description=f"第{i}号隐患"))
        clock.advance(timedelta(minutes=5))
    acc = drv.create("accident", title="高处坠落事故", enterprise_id=world.e2.id)
    clock.advance(timedelta(minutes=5))
    db_case = drv.create("dangerous_building", title="平江路危房")
    made[0] = drv.act(made[0], "register", assignee_id=world.officer.id)
    made[1] = drv.act(made[1], "register", world.supervisor, assignee_id=world.supervisor.id)
    made[2] = drv.act(made[2], "dismiss")
    officer, sup = drv.client(world.officer), drv.client(world.supervisor)

    assert set(ids(officer.get("/api/cases", params={"kind": "hazard"}))) == {c["id"] for c in made}
    assert set(ids(officer.get("/api/cases", params={"kind": "accident,dangerous_building"}))) == {acc["id"], db_case["id"]}
    assert set(ids(officer.get("/api/cases", params={"state": "registered"}))) == {made[0]["id"], made[1]["id"]}
    assert ids(officer.get("/api/cases", params={"state": "dismissed", "kind": "hazard"})) == [made[2]["id"]]
    assert ids(officer.get("/api/cases", params={"assignee": "me"})) == [made[0]["id"]]
    assert ids(sup.get("/api/cases", params={"assignee": "me"})) == [made[1]["id"]]
    assert ids(sup.get("/api/cases", params={"assignee": str(world.officer.id)})) == [made[0]["id"]]
    r = sup.get("/api/cases", params={"assignee": "someone"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "assignee"
    assert ids(officer.get("/api/cases", params={"enterprise_id": world.e2.id})) == [acc["id"]]
    assert ids(officer.get("/api/cases", params={"q": "连墙件"})) == [made[2]["id"]]
    assert ids(officer.get("/api/cases", params={"q": "第3号"})) == [made[3]["id"]]
    assert ids(officer.get("/api/cases", params={"q": made[1]["number"]})) == [made[1]["id"]]
    assert ids(officer.get("/api/cases", params={"q": "没有这个词"})) == []
    assert ids(officer.get("/api/cases", params={"open_only": "true", "kind": "hazard"})) == [
        made[3]["id"], made[1]["id"], made[0]["id"]]

    # sort: newest first by default; by number ascending; several keys
    all_ids = [c["id"] for c in [*made, acc, db_case]]
    assert ids(officer.get("/api/cases")) == list(reversed(all_ids))
    assert ids(officer.get("/api/cases", params={"sort": "created_at"})) == all_ids
    by_number = officer.get("/api/cases", params={"sort": "number"}).json()["items"]
    assert [c["number"] for c in by_number] == sorted(c["number"] for c in by_number)
    by_kind = officer.get("/api/cases", params={"sort": "kind,-created_at"}).json()["items"]
    assert [c["kind"] for c in by_kind] == sorted(c["kind"] for c in by_kind)
    r = officer.get("/api/cases", params={"sort": "password"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sort"

    # pages: totals are of the whole filtered set
    p1 = officer.get("/api/cases", params={"page_size": 4, "sort": "created_at"}).json()
    p2 = officer.get("/api/cases", params={"page_size": 4, "page": 2, "sort": "created_at"}).json()
    p3 = officer.get("/api/cases", params={"page_size": 4, "page": 3, "sort": "created_at"}).json()
    assert (p1["total"], p2["total"], p3["total"]) == (6, 6, 6)
    assert [c["id"] for c in p1["items"] + p2["items"]] == all_ids and p3["items"] == []
    assert p2["page"] == 2 and p2["page_size"] == 4
    hz = officer.get("/api/cases", params={"kind": "hazard", "page_size": 3}).json()
    assert hz["total"] == 4 and len(hz["items"]) == 3
    assert officer.get("/api/cases", params={"page": 0}).status_code == 422
    assert officer.get("/api/cases", params={"page_size": 1000}).status_code == 422

    # LIKE wildcards typed by a person are searched for literally
    pct = drv.create("hazard", title="整改完成100%", description="")
    near = drv.create("hazard", title="整改完成1000处", description="")
    assert ids(officer.get("/api/cases", params={"q": "100%"})) == [pct["id"]]
    assert ids(officer.get("/api/cases", params={"q": "成_0"})) == []
    assert ids(officer.get("/api/cases", params={"q": "完成100"})) == [near["id"], pct["id"]]
