"""Errors a person can act on: 422 per field and why, 409 with the current version, nothing half-written."""
from __future__ import annotations

from cases.ledger.identifiers import credit_code_check_char, make_credit_code
from tests.machine_paths import HttpDriver


def by_field(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_failed"
    return {e["field"]: e["message"] for e in body["errors"]}


def snapshot(drv: HttpDriver, case: dict) -> tuple[dict, int]:
    return drv.get(case), len(drv.events(case))


def test_action_validation_names_every_field(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    before = snapshot(drv, case)

    # every missing required field, together, with its label, in one answer
    r = drv.try_act(case, "register", fields={})
    errors = by_field(r)
    assert errors == {"enterprise_id": "必填", "severity": "必填", "requirements": "必填"}
    labels = {e["field"]: e["label"] for e in r.json()["errors"]}
    assert labels == {"enterprise_id": "责任单位", "severity": "隐患等级", "requirements": "整改要求"}
    assert "责任单位：必填" in r.json()["message"] and "整改要求：必填" in r.json()["message"]

    # wrong types, enum values, ranges, references and unknown fields — all at once
    r = drv.try_act(case, "register", fields={
        "enterprise_id": "e1", "severity": "huge", "requirements": 12, "rectification_days": "abc",
        "assignee_id": world.contact.id, "colour": "red"})
    errors = by_field(r)
    assert errors["enterprise_id"] == "应为编号（整数）"
    assert errors["severity"] == "取值“huge”无效，可选：general（一般隐患）、serious（较大隐患）"
    assert errors["requirements"] == "应为文本"
    assert errors["rectification_days"] == "应为整数"
    assert errors["assignee_id"] == "承办人须为监管人员"
    assert errors["colour"] == "不是此操作可填写的字段（可填写：责任单位、隐患等级、整改期限（天）、整改要求、法律依据、承办人）"
    r = drv.try_act(case, "register", rectification_days=91, enterprise_id=987654)
    errors = by_field(r)
    assert errors == {"rectification_days": "不能大于90", "enterprise_id": "企业（编号987654）不存在"}
    r = drv.try_act(case, "register", rectification_days=0, requirements="   ")
    assert by_field(r) == {"rectification_days": "不能小于1", "requirements": "不能为空"}
    r = drv.try_act(case, "register", requirements="长" * 4001)
    assert by_field(r) == {"requirements": "长度不能超过4000个字符（当前4001个）"}

    # the version is required; a non-integer version is a type error
    r = drv.client(world.officer).post(f"/api/cases/{case['id']}/actions/dismiss", json={"reason": "重复"})
    assert by_field(r) == {"version": "必填（请提交您看到的案件版本号）"}
    r = drv.client(world.officer).post(f"/api/cases/{case['id']}/actions/dismiss", json={"version": "v1", "reason": "x"})
    assert by_field(r) == {"version": "应为整数"}
    # a comment is required for 添加备注, and must be text
    r = drv.try_act(case, "comment", comment="   ")
    assert by_field(r) == {"comment": "必填"}
    r = drv.try_act(case, "comment", comment="x" * 8001)
    assert "8000" in by_field(r)["comment"]
    # broken JSON
    r = drv.client(world.officer).post(f"/api/cases/{case['id']}/actions/dismiss", content=b"{version: 1",
                                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["message"]

    # other field types of other machines
    acc = drv.create("accident")
    r = drv.try_act(acc, "register", deaths=-1, serious_injuries=1.5, direct_loss="很多", minor_injuries=True)
    errors = by_field(r)
    assert errors == {"deaths": "不能小于0", "serious_injuries": "应为整数", "direct_loss": "应为数字",
                      "minor_injuries": "应为整数"}
    bld = drv.create("dangerous_building")
    r = drv.try_act(bld, "register", appraised_on="2026-13-01", appraisal_grade="E")
    errors = by_field(r)
    assert errors["appraised_on"] == "应为日期（YYYY-MM-DD）"
    assert errors["appraisal_grade"].startswith("取值“E”无效")
    bld = drv.act(bld, "register")
    r = drv.try_act(bld, "record_evacuation", evacuated_at="昨天下午", use_stopped="yes")
    errors = by_field(r)
    assert errors == {"evacuated_at": "应为时间（ISO 8601）", "use_stopped": "应为是或否（true/false）"}

    assert snapshot(drv, case) == before


def test_create_validation(api, world, clock):
    drv = HttpDriver(api, world, clock)
    officer = drv.client(world.officer)
    r = officer.post("/api/cases", json={"kind": "hazard"})
    assert by_field(r) == {"title": "必填"}
    r = officer.post("/api/cases", json={"kind": "volcano", "title": "火山"})
    assert "kind" in by_field(r)
    r = officer.post("/api/cases", json={"kind": "accident", "title": "事故", "project_id": world.p1.id,
                                         "accident_type": "meteor", "deaths": "两人"})
    errors = by_field(r)
    assert errors["occurred_at"] == "必填"
    assert errors["accident_type"].startswith("取值“meteor”无效")
    assert errors["deaths"] == "应为整数"
    r = officer.post("/api/cases", json={"kind": "hazard", "title": "x", "project_id": 424242,
                                         "related_enterprises": [{"enterprise_id": world.e2.id, "role": "boss"}]})
    errors = by_field(r)
    assert errors["project_id"] == "项目（编号424242）不存在"
    assert errors["related_enterprises[0]"].startswith("角色应为")
    r = officer.post("/api/cases", json={"kind": "dangerous_building", "title": "无房屋"})
    assert by_field(r) == {"building_id": "危险房屋案件必须关联房屋"}
    # failed creations wrote nothing and used no case number
    assert officer.get("/api/cases").json()["total"] == 0
    case = drv.create("hazard")
    assert case["number"] == "320508-YH-2026-000001"


def test_credit_code_check_character(api, world, clock):
    sup = api(world.supervisor)
    good = make_credit_code("91320508MA1PABCD1")
    expected = good[-1]
    wrong = "0" if expected != "0" else "1"
    r = sup.post("/api/enterprises", json={"credit_code": good[:-1] + wrong, "name": "校验位错误公司",
                                           "jurisdiction_code": "320508"})
    errors = by_field(r)
    assert "校验位" in errors["credit_code"]
    assert f"应为“{expected}”" in errors["credit_code"] and f"实际为“{wrong}”" in errors["credit_code"]
    assert credit_code_check_char(good[:17]) == expected
    r = sup.post("/api/enterprises", json={"credit_code": "91320508MA1PABC", "name": "太短公司",
                                           "jurisdiction_code": "320508"})
    assert "18位" in by_field(r)["credit_code"]
    r = sup.post("/api/enterprises", json={"credit_code": good, "name": "", "jurisdiction_code": "999999"})
    assert set(by_field(r)) == {"name"}
    r = sup.post("/api/enterprises", json={"credit_code": good.lower(), "name": "正确公司", "jurisdiction_code": "320508"})
    assert r.status_code == 201, r.text
    assert r.json()["credit_code"] == good and r.json()["credit_score"] == 100
    r = sup.post("/api/enterprises", json={"credit_code": good, "name": "重复公司", "jurisdiction_code": "320508"})
    assert "已登记" in by_field(r)["credit_code"]


def test_stale_version_and_nothing_partial(api, world, clock):
    drv = HttpDriver(api, world, clock)
    sup = api(world.supervisor)
    case = drv.drive("hazard", "rectifying")
    before = snapshot(drv, case)
    stale = {**case, "version": case["version"] - 1}
    r = drv.try_act(stale, "verify")
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "stale_version" and body["current_version"] == case["version"]
    assert "刷新" in body["message"]
    r = drv.try_act({**case, "version": case["version"] + 5}, "verify")
    assert r.status_code == 409 and r.json()["current_version"] == case["version"]
    assert snapshot(drv, case) == before

    # a reclassification that fails writes neither the case nor the credit deduction
    r = drv.try_act(case, "reclassify", hazard_item_code="99.9")
    assert by_field(r) == {"hazard_item_code": "判定标准中没有条目“99.9”"}
    r = drv.try_act(stale, "reclassify")
    assert r.status_code == 409
    assert sup.get(f"/api/enterprises/{world.e1.id}").json()["credit_score"] == 100
    assert snapshot(drv, case) == before
    # a refused accident registration writes nothing either
    acc = drv.create("accident")
    acc_before = snapshot(drv, acc)
    r = drv.try_act(acc, "register", deaths=0, serious_injuries=0, direct_loss=10)
    assert by_field(r) == {"direct_loss": "无人员伤亡且直接经济损失不足100万元，不属于房屋市政工程生产安全事故，可按重大险情报告"}
    assert snapshot(drv, acc) == acc_before
    # after all that, the right version still works and the log is contiguous
    case = drv.act(case, "reclassify")
    assert case["version"] == before[0]["version"] + 1
    events = drv.events(case)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["action"] for e in events[before[1]:] if e["actor"]["id"]] == ["reclassify"]
    assert sup.get(f"/api/enterprises/{world.e1.id}").json()["credit_score"] == 90


def test_text_is_stored_verbatim(api, world, clock):
    drv = HttpDriver(api, world, clock)
    title = "<script>alert(1)</script> 脚手架🚧隐患 \"引号\" & 'apos' \\ 反斜杠"
    description = "  第一行\n\t第二行：<b>加粗</b> 😀👷‍♂️ 𠀀 \u200b零宽\n"
    case = drv.create("hazard", title=title, description=description, location="平江路<1>号 🏗")
    got = drv.get(case)
    assert got["title"] == title and got["description"] == description and got["location"] == "平江路<1>号 🏗"
    requirements = "<img src=x onerror=alert(1)>\n立即整改 ✅ ‘中文引号’ “双引号”  "
    comment = "备注 <script>x</script> 🙂"
    case = drv.act(case, "register", requirements=requirements, comment=comment)
    got = drv.get(case)
    assert got["details"]["requirements"] == requirements
    events = drv.events(case)
    assert events[1]["comment"] == comment
    assert events[1]["payload"]["values"]["requirements"] == requirements
    assert events[0]["payload"]["values"]["title"] == title
    r = drv.client(world.officer).get(f"/api/cases/{case['id']}")
    assert r.headers["content-type"].startswith("application/json")
    listed = drv.client(world.officer).get("/api/cases", params={"q": "🚧"}).json()["items"]
    assert [c["title"] for c in listed] == [title]


def test_comment_at_creation_goes_on_the_create_event(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard", comment="现场检查发现，已拍照取证 📷")
    events = drv.events(case)
    assert events[0]["action"] == "create" and events[0]["comment"] == "现场检查发现，已拍照取证 📷"
    assert "comment" not in events[0]["payload"]["values"]
    officer = drv.client(world.officer)
    r = officer.post("/api/cases", json={"kind": "hazard", "title": "x", "comment": 12})
    assert by_field(r) == {"comment": "应为文本"}
    r = officer.post("/api/cases", json={"kind": "hazard", "title": "x", "comment": "长" * 8001})
    assert "8000" in by_field(r)["comment"]


def test_out_of_range_numbers_and_nul_characters_are_422_not_500(api, world, clock):
    """PostgreSQL refuses NUL in text and ids beyond 64 bits; SQLite overflows: say so per field, never 500."""
    drv = HttpDriver(api, world, clock)
    officer = drv.client(world.officer)
    big = 10**20
    r = officer.post("/api/cases", json={"kind": "hazard", "title": "脚手架\u0000隐患", "description": "x\u0000y",
                                         "project_id": big, "enterprise_id": big, "assignee_id": -big})
    errors = by_field(r)
    assert set(errors) == {"title", "description", "project_id", "enterprise_id", "assignee_id"}
    assert "空字符" in errors["title"] and "空字符" in errors["description"]
    assert all("超出范围" in errors[f] for f in ("project_id", "enterprise_id", "assignee_id"))
    r = officer.post("/api/cases", json={"kind": "hazard", "title": "x", "comment": "备注\u0000",
                                         "related_enterprises": [{"enterprise_id": big, "role": "builder"}]})
    errors = by_field(r)
    assert "超出范围" in errors["related_enterprises[0]"] and "空字符" in errors["comment"]
    r = officer.post("/api/cases", json={"kind": "dangerous_building", "title": "x", "building_id": big})
    assert "超出范围" in by_field(r)["building_id"]
    assert officer.get("/api/cases").json()["total"] == 0

    # ids in paths: simply not found
    for r in (officer.get(f"/api/cases/{big}"), officer.get(f"/api/cases/{big}/events"),
              officer.post(f"/api/cases/{big}/actions/register", json={"version": 1})):
        assert r.status_code == 404, r.text
    # list parameters
    for params in ({"enterprise_id": big}, {"assignee": str(big)}, {"assignee": "²"}, {"page": big}):
        r = officer.get("/api/cases", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"] == "validation_failed"

    case = drv.create("hazard")
    before = snapshot(drv, case)
    r = drv.try_act(case, "register", enterprise_id=big, rectification_days=big, requirements="整改\u0000")
    errors = by_field(r)
    assert "超出范围" in errors["enterprise_id"] and "空字符" in errors["requirements"]
    assert errors["rectification_days"] == "不能大于90"
    r = drv.try_act(case, "dismiss", reason="重复\u0000举报")
    assert "空字符" in by_field(r)["reason"]
    r = drv.try_act(case, "comment", comment="备注\u0000")
    assert "空字符" in by_field(r)["comment"]
    r = drv.try_act(case, "assign", assignee_id=big)
    assert "超出范围" in by_field(r)["assignee_id"]
    r = drv.try_act({**case, "version": big}, "dismiss", fields={"reason": "x"})
    assert r.status_code == 409 and r.json()["current_version"] == case["version"]
    assert snapshot(drv, case) == before

    # reference data: never a 500 either
    sup = drv.client(world.supervisor)
    r = sup.get(f"/api/enterprises/{big}")
    assert r.status_code in (404, 422) and r.json()["message"], r.text


# ---------------------------------------------------------------- every error in Chinese, with what is allowed

import re  # noqa: E402


def _bad_requests(case_id: int) -> list[tuple]:
    """(method, path, request kwargs, API field name, Chinese label, what the message must say is allowed)."""
    bad_json = {"content": b'{"kind": "hazard",\n "title": }', "headers": {"Content-Type": "application/json"}}
    return [
        ("post", "/api/cases", {"json": {"kind": "hazard"}}, "title", "标题：必填", "必填"),
        ("post", "/api/cases", {"json": {"kind": "bogus", "title": "x"}}, "kind", "案件类型：", "major_hazard（重大事故隐患）"),
        ("post", "/api/cases", bad_json, "0", "请求体不是合法的JSON", "第2行第11列"),
        ("post", "/api/cases", {"json": [1]}, "body", "请求体：", "JSON对象"),
        ("get", "/api/cases/abc", {}, "case_id", "案件编号：", "整数"),
        ("get", "/api/cases", {"params": {"page": 0}}, "page", "页码：", "1至1000000"),
        ("get", "/api/cases", {"params": {"page": "x"}}, "page", "页码：", "1至1000000"),
        ("get", "/api/cases", {"params": {"page_size": 1000}}, "page_size", "每页条数：", "1至200"),
        ("get", "/api/cases", {"params": {"kind": "foo"}}, "kind", "案件类型：", "hazard（一般安全隐患）"),
        ("get", "/api/cases", {"params": {"state": "foo"}}, "state", "状态：", "rectifying（整改中"),
        ("get", "/api/cases", {"params": {"light": "blue"}}, "light", "红黄绿灯：", "red（红灯）"),
        ("get", "/api/cases", {"params": {"sort": "password"}}, "sort", "排序：", "created_at（登记时间）"),
        ("get", "/api/cases", {"params": {"q": "长" * 101}}, "q", "搜索关键词：", "100个字符"),
        ("get", "/api/cases", {"params": {"open_only": "maybe"}}, "open_only", "仅看未结案件：", "true/false"),
        ("get", "/api/cases", {"params": {"assignee": "bob"}}, "assignee", "承办人：", "me"),
        ("get", "/api/cases", {"params": {"enterprise_id": "e1"}}, "enterprise_id", "企业编号：", "整数"),
        ("get", "/api/calendar/deadline", {"params": {"amount": 5, "unit": "week"}}, "unit", "期限单位：", "working_day（工作日）"),
        ("get", "/api/calendar/deadline", {"params": {"unit": "hour"}}, "amount", "期限数值：必填", "必填"),
        ("get", "/api/calendar/deadline", {"params": {"amount": 9999, "unit": "hour"}}, "amount", "期限数值：", "0至3650"),
        ("post", f"/api/cases/{case_id}/actions/register", {"json": {"version": "x"}}, "version", "版本号：", "整数"),
        ("post", f"/api/cases/{case_id}/actions/register", {"json": {"version": 1, "colour": "red"}}, "colour",
         "字段“colour”：不是此操作可填写的字段", "可填写：责任单位"),
        ("post", f"/api/cases/{case_id}/actions/register", {"json": {"version": 1, "severity": "huge"}}, "severity",
         "隐患等级：", "general（一般隐患）"),
        ("post", "/api/supervisions/1/extension", {}, "body", "请求体：必填", "JSON对象"),
        ("post", "/api/supervisions/1/extension", {"json": {"days": 0, "reason": "x"}}, "days", "延期天数：", "1至60"),
        ("get", "/api/documents/abc", {}, "doc_id", "文书编号：", "整数"),
        ("get", "/api/inbox", {"params": {"page_size": 0}}, "page_size", "每页条数：", "1至200"),
        ("post", "/api/projects", {"json": {"name": "x", "jurisdiction_code": "320508", "address": "a",
                                            "parties": [{"enterprise_id": 1, "role": "boss"}]}},
         "role", "参建单位第1项的角色：", "contractor（施工单位）"),
        ("post", "/api/enterprises", {"json": {"credit_code": "91320508MA1PXXXXX0", "name": "",
                                               "jurisdiction_code": "320508"}}, "name", "名称：", "不能为空"),
    ]


def test_every_error_names_the_field_by_its_chinese_label_and_what_is_allowed(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    officer = drv.client(world.officer)
    for method, path, kw, field, label, allowed in _bad_requests(case["id"]):
        r = getattr(officer.http, method)(path, **kw)
        assert r.status_code == 422, (path, kw, r.text)
        message = r.json()["message"]
        assert label in message and allowed in message, (path, kw, message)
        # no API field name leaks into what a person reads (quoting an unknown field as typed aside)
        ascii_words = set(re.findall(r"[A-Za-z_]+", message.replace(f"“{field}”", "")))
        assert field not in ascii_words, (path, kw, message)
        assert not re.match(r"^[\x00-\x7f]+：", message), message
        for e in r.json()["errors"]:
            assert e["label"] and not e["label"].isascii(), e
    # an administrator's form: several fields at once, each by its label
    r = drv.client(world.admin).post("/api/users", json={"username": "a b", "display_name": "x", "password": "short",
                                                         "role": "boss", "jurisdiction_code": "320508"})
    message = r.json()["message"]
    assert "用户名：" in message and "密码：长度不能少于10个字符" in message
    assert "角色：取值“boss”无效" in message and "enterprise（企业联系人）" in message
    assert not {"username", "password", "role"} & set(re.findall(r"[A-Za-z_]+", message))
