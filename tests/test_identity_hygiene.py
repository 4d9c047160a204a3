"""Identity hygiene (issue 8, item 10): who may be created, under what name and password; whom a case may be
assigned to; which dates a person may enter; what a search for % finds; what a stranger learns from a 404."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from cases.ledger.identifiers import make_credit_code
from cases.models import Enterprise
from tests.test_cli_demo import run, target  # noqa: F401  (the CLI fixture: a fresh database per backend)

GOOD_PW = "Gusu-anjian-2026"


def new_user(admin, **kw):
    body = {"username": "zhang3", "display_name": "张三", "password": GOOD_PW, "role": "officer",
            "jurisdiction_code": "320508", **kw}
    return admin.post("/api/users", json=body)


def errors_of(r) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def login(live_server, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{live_server.url}/api/auth/token", data={"username": username, "password": password})


# ------------------------------------------------------------------ usernames


def test_usernames_are_case_insensitive_unique_and_login_ignores_case(api, world, live_server):
    admin = api(world.admin)
    r = new_user(admin, username="Zhang3")
    assert r.status_code == 201 and r.json()["username"] == "zhang3"
    assert "已存在" in errors_of(new_user(admin, username="ZHANG3"))["username"]
    assert "已存在" in errors_of(new_user(admin, username="zhang3"))["username"]
    # the test world's "admin" exists: "Admin" is the same name
    assert "已存在" in errors_of(new_user(admin, username="Admin"))["username"]
    assert login(live_server, "ZHANG3", GOOD_PW).status_code == 200
    assert login(live_server, "Officer", "secret-pw").status_code == 200


@pytest.mark.parametrize("name", ["аdmin", "officеr2", "ab", "x" * 33, "zhang san", "张三"])
def test_usernames_outside_ascii_letters_digits_dot_underscore_dash_are_refused(api, world, name):
    r = new_user(api(world.admin), username=name)
    message = errors_of(r)["username"]
    assert "只能包含英文字母" in message or "长度" in message, message
    assert "用户名：" in r.json()["message"]


# ------------------------------------------------------------------ display names


@pytest.mark.parametrize("name", ["\u202e张三", "张\u200b三", "李四\u0007"])
def test_display_names_with_control_or_bidi_characters_are_refused(api, world, name):
    r = new_user(api(world.admin), display_name=name)
    assert "控制字符" in errors_of(r)["display_name"]
    assert "姓名：" in r.json()["message"]


def test_display_names_are_nfkc_normalised_and_at_most_40_characters(api, world):
    admin = api(world.admin)
    r = new_user(admin, display_name="ＺＨＡＮＧ　三")  # full-width letters and space
    assert r.status_code == 201 and r.json()["display_name"] == "ZHANG 三"
    assert "长度" in errors_of(new_user(admin, username="li4", display_name="李" * 41))["display_name"]
    assert "长度" in errors_of(new_user(admin, username="li4", display_name="   "))["display_name"]


def test_staff_may_not_carry_an_authoritys_name_unless_admin(api, world):
    admin = api(world.admin)
    for name in ("省厅系统管理员", "苏州市住建局", "住房和城乡建设部工作组"):
        assert "仅管理员账户可用" in errors_of(new_user(admin, display_name=name))["display_name"], name
    r = new_user(admin, username="sysadmin", role="admin", jurisdiction_code="320000", display_name="省厅系统管理员")
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------ passwords


@pytest.mark.parametrize("pw,why", [("12345678", "长度"), ("abcd", "长度"), ("1234567890123", "数字"),
                                    ("Password123", "常见"), ("qwertyuiop", "常见"), ("zhang3_long", None)])
def test_weak_passwords_are_refused(api, world, pw, why):
    admin = api(world.admin)
    if why is None:  # equal to the username (case aside)
        r = new_user(admin, username="Zhang3_Long", password=pw)
        assert "不能与用户名相同" in errors_of(r)["password"]
        return
    assert why in errors_of(new_user(admin, password=pw))["password"]


# ------------------------------------------------------------------ enterprise users


def test_enterprise_user_needs_an_existing_enterprise_and_staff_none(api, world):
    admin = api(world.admin)
    e = errors_of(new_user(admin, role="enterprise"))
    assert e == {"enterprise_id": "企业联系人必须关联企业"}
    e = errors_of(new_user(admin, role="enterprise", enterprise_id=987654))
    assert e == {"enterprise_id": "企业（编号987654）不存在"}  # not 用户名已存在
    assert "不能关联企业" in errors_of(new_user(admin, enterprise_id=world.e1.id))["enterprise_id"]
    assert "不存在" in errors_of(new_user(admin, supervisor_id=987654))["supervisor_id"]
    r = new_user(admin, username="qian", role="enterprise", enterprise_id=world.e1.id, display_name="钱工")
    assert r.status_code == 201


# ------------------------------------------------------------------ the CLI obeys the same rules


def test_cli_user_add_obeys_the_same_rules(target):  # noqa: F811
    run(target, "db", "upgrade")
    base = ["user", "add", "--role", "officer", "--jurisdiction", "320506"]
    p = run(target, *base, "wang5", "--password", "1234", ok=False)
    assert p.returncode == 2 and "密码：长度不能少于10个字符" in p.stderr
    p = run(target, *base, "wang5", "--password", "12345678901", ok=False)
    assert p.returncode == 2 and "不能全是数字" in p.stderr
    p = run(target, *base, "wаng5", "--password", GOOD_PW, ok=False)  # Cyrillic а
    assert p.returncode == 2 and "用户名：只能包含英文字母" in p.stderr
    p = run(target, *base, "wang5", "--name", "\u202e五王", "--password", GOOD_PW, ok=False)
    assert p.returncode == 2 and "姓名：" in p.stderr
    p = run(target, "user", "add", "wang5", "--role", "enterprise", "--jurisdiction", "320506",
            "--password", GOOD_PW, ok=False)
    assert p.returncode == 2 and "所属企业：企业联系人必须关联企业" in p.stderr
    out = run(target, *base, "Wang5", "--name", "王五", "--password", GOOD_PW)
    assert "已创建用户 wang5" in out.stdout
    p = run(target, *base, "WANG5", "--name", "王五", "--password", GOOD_PW, ok=False)
    assert p.returncode == 2 and "已存在" in p.stderr


# ------------------------------------------------------------------ assignment


def test_a_case_is_assigned_only_to_someone_whose_jurisdiction_contains_it(api, world):
    officer = api(world.officer)  # 姑苏区 320508
    r = officer.post("/api/cases", json={"kind": "hazard", "title": "临边防护缺失", "project_id": world.p1.id,
                                         "assignee_id": world.officer_wz.id})  # 吴中区
    assert "无法查看和办理此案件" in errors_of(r)["assignee_id"]
    case = officer.post("/api/cases", json={"kind": "hazard", "title": "临边防护缺失",
                                            "project_id": world.p1.id}).json()
    r = officer.act(case, "assign", assignee_id=world.officer_wz.id)
    assert "无法查看和办理此案件" in errors_of(r)["assignee_id"]
    assert api(world.officer_wz).get(f"/api/cases/{case['id']}").status_code == 404
    # the city's supervisor sees the county's cases: may be assigned
    r = officer.act(case, "assign", assignee_id=world.supervisor.id)
    assert r.status_code == 200 and r.json()["assignee"]["id"] == world.supervisor.id


# ------------------------------------------------------------------ dates


def test_found_and_occurred_dates_absurdly_far_are_refused(api, world, clock):
    officer = api(world.officer)
    base = {"kind": "hazard", "title": "x", "project_id": world.p1.id}
    assert "不能晚于当前时间" in errors_of(officer.post("/api/cases", json={**base, "found_at": "9999-12-31T00:00:00"}))[
        "found_at"]
    tomorrow = (clock.now() + timedelta(days=2)).isoformat()
    assert "不能晚于" in errors_of(officer.post("/api/cases", json={**base, "found_at": tomorrow}))["found_at"]
    assert "不能早于2000年1月1日" in errors_of(officer.post("/api/cases", json={**base, "found_at": "1026-11-26T09:00"}))[
        "found_at"]
    acc = {"kind": "accident", "title": "高处坠落", "project_id": world.p1.id, "accident_type": "fall"}
    assert "不能晚于" in errors_of(officer.post("/api/cases", json={**acc, "occurred_at": "9999-12-31T00:00"}))[
        "occurred_at"]
    r = officer.post("/api/cases", json={**acc, "occurred_at": (clock.now() - timedelta(hours=2)).isoformat()})
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------ searches


def test_a_typed_percent_or_underscore_is_searched_for_literally(api, world, db, clock):
    with db.transaction() as s:
        s.add(Enterprise(credit_code=make_credit_code("91320508MA1R33333"), name="百分之百_建设有限公司",
                         jurisdiction_code="320508", credit_score=100, created_at=clock.now()))
    officer = api(world.officer)

    def names(q):
        return sorted(e["name"] for e in officer.get("/api/enterprises", params={"q": q}).json()["items"])

    assert names("%") == [] and names("_") == ["百分之百_建设有限公司"]
    assert names("苏州%公司") == [] and names("百分之百_") == ["百分之百_建设有限公司"]
    assert [p["name"] for p in officer.get("/api/projects", params={"q": "%"}).json()["items"]] == []
    assert [b["name"] for b in officer.get("/api/buildings", params={"q": "_"}).json()["items"]] == []


# ------------------------------------------------------------------ supervision ids


def test_another_countys_supervision_reads_like_one_that_does_not_exist(api, world):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": "深基坑支护变形", "project_id": world.p1.id}).json()
    case = officer.act(case, "register", enterprise_id=world.e1.id, hazard_item_code="8.5",
                       stop_work_scope="partial", requirements="r").json()
    sid = case["supervision"]["id"]
    stranger = api(world.officer_wz)
    r, missing = stranger.get(f"/api/supervisions/{sid}"), stranger.get("/api/supervisions/987654")
    assert r.status_code == missing.status_code == 404
    assert r.json()["message"] == missing.json()["message"].replace("987654", str(sid))

