"""Public complaints through the API (cases/complaints/, docs/complaints.md): the public twins, the
12345 referral (idempotent on the 工单号), the staff list and detail within the jurisdiction, the
reply, merging duplicates, the per-address limit (429 in Chinese), and what the public never reads."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.models import Complaint, ComplaintHit, Deadline
from state_machines.policies import latest_version
from tests.machine_paths import create_payload

PUBLIC = {"jurisdiction_code": "320508", "content": "平江路1号工地脚手架没有挂安全网，材料往下掉",
          "location": "平江路1号", "named_unit": "姑苏测试项目", "contact_name": "王小明", "contact_phone": "13800001234"}


def file_public(api, **over):
    r = api(None).post("/api/public/complaints", json={**PUBLIC, **over})
    assert r.status_code == 201, r.text
    return r.json()


def refer(api, user, no="GD20261123001", **over):
    body = {"referral_no": no, "content": "市民来电：吴中路工地夜间施工", "jurisdiction_code": "320508",
            "contact_name": "李女士", "contact_phone": "13900005678", **over}
    return api(user).post("/api/complaints/referrals", json=body)


def test_a_public_complaint_becomes_a_found_hazard_with_a_reply_clock(api, world, db):
    out = file_public(api)
    code = out["lookup_code"]
    assert len(code) == 19 and code.count("-") == 3
    assert out["status_label"] == "已受理，待答复" and out["authority"] == "苏州市姑苏区住房和城乡建设局"
    assert out["reply_due_date"] == "2026-12-14"  # 15 working days from Mon 23 Nov 2026
    # The code itself is nowhere in the database, only its hash.
    with db.session() as s:
        c = s.scalars(select(Complaint)).one()
        assert code not in (c.code_hash or "") and len(c.code_hash) == 64
        [clock] = s.scalars(select(Deadline).where(Deadline.case_id == c.case_id)).all()
        assert (clock.key, clock.party, clock.unit, clock.amount, clock.policy_version) == \
            ("complaint_reply", "officer", "working_day", 15, latest_version())
    officer = api(world.officer)
    case = officer.get(f"/api/cases/{c.case_id}").json()
    assert (case["kind"], case["state"], case["source"]) == ("hazard", "found", "public_report")
    assert case["title"].startswith("群众举报：平江路1号工地")
    events = officer.get(f"/api/cases/{c.case_id}/events").json()["items"]
    assert [e["action"] for e in events] == ["create", "receive_complaint"]
    assert events[1]["comment"] == "网上举报"
    # The contact is personal data: in no event.
    assert "13800001234" not in str(events) and "王小明" not in str(events)
    # Staff who see the case read the complaint with the contact.
    [item] = officer.get(f"/api/cases/{c.case_id}/complaints").json()["items"]
    assert (item["contact_name"], item["contact_phone"], item["status"]) == ("王小明", "13800001234", "pending")
    assert item["reply_due"]["due_date"] == "2026-12-14"


def test_the_public_status_shows_status_and_reply_never_names(api, world):
    out = file_public(api)
    anon = api(None)
    status = anon.get(f"/api/public/complaints/{out['lookup_code'].lower().replace('-', ' ')}")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["status"] == "received" and body["reply"] is None and body["stage_label"] == "已受理，正在核查"
    officer = api(world.officer)
    case_id = officer.get("/api/complaints").json()["items"][0]["case_id"]
    r = officer.post(f"/api/cases/{case_id}/complaints/reply", json={"reply": "经现场核查，已责令施工单位挂设安全网。"})
    assert r.status_code == 200, r.text
    body = anon.get(f"/api/public/complaints/{out['lookup_code']}").json()
    assert body["status_label"] == "已答复" and body["reply"] == "经现场核查，已责令施工单位挂设安全网。"
    text = str(body)
    for secret in ("王小明", "13800001234", "姑苏测试项目", "officer", "YH-2026", "case"):
        assert secret not in text, secret
    assert set(body) == {"status", "status_label", "stage_label", "channel_label", "submitted_at", "authority",
                         "reply", "replied_at"}
    wrong = anon.get("/api/public/complaints/AAAA-BBBB-CCCC-DDDD")
    assert wrong.status_code == 404 and "查询码不正确" in wrong.json()["message"]


def test_validation_names_fields_in_chinese(api):
    r = api(None).post("/api/public/complaints", json={"jurisdiction_code": "320000", "content": "短"})
    assert r.status_code == 422
    fields = {e["field"]: (e["label"], e["message"]) for e in r.json()["errors"]}
    assert fields["content"] == ("举报内容", "请至少填写5个字")
    assert fields["jurisdiction_code"][0] == "所属辖区"
    r = api(None).post("/api/public/complaints", json={**PUBLIC, "contact_phone": "call me"})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "联系电话"
    r = api(None).post("/api/public/complaints", json={**PUBLIC, "content": "长" * 4001})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "举报内容"


def test_too_many_submissions_from_one_address_get_429_in_chinese(api, live_server, db, clock):
    settings = live_server.server.config.app.state.settings
    for _ in range(settings.complaint_submits_per_hour):
        file_public(api)
    r = api(None).post("/api/public/complaints", json=PUBLIC)
    assert r.status_code == 429
    assert r.json()["message"].startswith("提交举报过于频繁：同一网络地址每小时最多10次")
    assert int(r.headers["Retry-After"]) == 3600
    with db.session() as s:  # the address is not stored, only an HMAC of it
        keys = set(s.scalars(select(ComplaintHit.client_key)))
        assert len(keys) == 1 and "127.0.0.1" not in next(iter(keys))
    clock.set(clock.now() + timedelta(hours=1, seconds=1))
    assert api(None).post("/api/public/complaints", json=PUBLIC).status_code == 201


def test_guessing_codes_is_limited(api, live_server):
    settings = live_server.server.config.app.state.settings
    anon = api(None)
    for i in range(settings.complaint_bad_lookups_per_hour):
        assert anon.get(f"/api/public/complaints/AAAA-BBBB-CCCC-{i:04d}").status_code == 404
    r = anon.get("/api/public/complaints/AAAA-BBBB-CCCC-DDDD")
    assert r.status_code == 429 and "查询（查询码有误）过于频繁" in r.json()["message"]


def test_a_12345_referral_is_idempotent_on_its_number(api, world, db):
    first = refer(api, world.officer)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True and body["lookup_code"] and body["channel_label"] == "12345热线转办"
    again = refer(api, world.officer, content="重复推送的同一工单")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again.json()["created"] is False and again.json()["lookup_code"] is None
    assert again.json()["content"] == "市民来电：吴中路工地夜间施工"
    with db.session() as s:
        assert len(s.scalars(select(Complaint)).all()) == 1
    events = api(world.officer).get(f"/api/cases/{body['case_id']}/events").json()["items"]
    assert events[-1]["comment"] == "12345热线转办，工单号GD20261123001"
    # Another county's officer may not file into 姑苏区, and does not learn about its 工单.
    r = refer(api, world.officer_wz, no="GD20261123002")
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "所属辖区"
    r = refer(api, world.officer_wz, jurisdiction_code="320506")
    assert r.status_code == 409 and "已由其他辖区受理" in r.json()["message"]
    # An enterprise contact may not file referrals; a future 举报时间 is refused.
    assert refer(api, world.contact, no="GD3").status_code == 403
    r = refer(api, world.officer, no="GD4", submitted_at="2027-01-01T09:00:00+08:00")
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "举报时间"


def test_staff_list_follows_the_jurisdiction_and_filters_by_reply_status(api, world, clock):
    file_public(api)
    other = file_public(api, jurisdiction_code="320506", content="吴中区某工地塔吊无人值守")
    assert other["authority"].startswith("苏州市吴中区")
    officer, wz, city = api(world.officer), api(world.officer_wz), api(world.supervisor)
    assert officer.get("/api/complaints").json()["total"] == 1
    assert wz.get("/api/complaints").json()["total"] == 1
    listed = city.get("/api/complaints").json()
    assert listed["total"] == 2 and listed["counts"] == {"pending": 2, "replied": 0, "overdue": 0}
    mine = officer.get("/api/complaints").json()["items"][0]
    assert wz.get(f"/api/complaints/{mine['id']}").status_code == 404
    assert api(world.contact).get("/api/complaints").status_code == 403
    assert api(world.contact).get(f"/api/complaints/{mine['id']}").status_code == 403
    # 15 working days later the unanswered ones are overdue.
    clock.set(clock.now() + timedelta(days=22))
    assert city.get("/api/complaints", params={"status": "overdue"}).json()["total"] == 2
    officer.post(f"/api/cases/{mine['case_id']}/complaints/reply", json={"reply": "已核查处理，感谢监督。"})
    counts = city.get("/api/complaints").json()["counts"]
    assert counts == {"pending": 0, "replied": 1, "overdue": 1}
    r = city.get("/api/complaints", params={"status": "late"})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "状态"


def test_reply_meets_the_clock_once(api, world):
    file_public(api)
    officer = api(world.officer)
    [item] = officer.get("/api/complaints").json()["items"]
    case_id = item["case_id"]
    short = officer.post(f"/api/cases/{case_id}/complaints/reply", json={"reply": "好"})
    assert short.status_code == 422 and short.json()["errors"][0]["label"] == "答复内容"
    r = officer.post(f"/api/cases/{case_id}/complaints/reply", json={"reply": "已责令整改，感谢您的监督。"})
    assert r.status_code == 200
    [answered] = r.json()["items"]
    assert answered["status"] == "replied" and answered["replied_by"] == "officer"
    again = officer.post(f"/api/cases/{case_id}/complaints/reply", json={"reply": "再答复一次试试"})
    assert again.status_code == 409 and "已于2026年11月23日答复举报人" in again.json()["message"]
    case = officer.get(f"/api/cases/{case_id}").json()
    assert case["deadlines"] == []
    reply_event = officer.get(f"/api/cases/{case_id}/events").json()["items"][-1]
    assert reply_event["action"] == "reply_complainant"
    assert {"deadline": "答复举报人期限", "change": "met"} in reply_event["payload"]["deadlines"]
    assert api(world.contact).post(f"/api/cases/{case_id}/complaints/reply", json={"reply": "企业冒充答复"}).status_code == 403


def test_merging_a_duplicate_moves_its_complaint_and_one_reply_answers_both(api, world):
    a = file_public(api, content="平江路1号工地脚手架没有安全网")
    b = file_public(api, content="平江路一号工地脚手架外侧没有防护网，很危险", contact_name="赵先生")
    officer = api(world.officer)
    items = officer.get("/api/complaints").json()["items"]
    case_a = next(i["case_id"] for i in items if i["content"].startswith("平江路1号"))
    case_b = next(i["case_id"] for i in items if i["contact_name"] == "赵先生")
    r = officer.post(f"/api/cases/{case_b}/complaints/merge", json={"into_case_id": case_b})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "并入案件"
    r = officer.post(f"/api/cases/{case_b}/complaints/merge", json={"into_case_id": case_a})
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 2
    gone = officer.get(f"/api/cases/{case_b}").json()
    assert gone["state"] == "dismissed" and gone["deadlines"] == []
    b_events = officer.get(f"/api/cases/{case_b}/events").json()["items"]
    assert [e["action"] for e in b_events][-2:] == ["dismiss", "merge_complaint"]
    assert b_events[-2]["payload"]["values"]["reason"].startswith("重复举报，已并入案件320508-YH-2026-")
    a_events = officer.get(f"/api/cases/{case_a}/events").json()["items"]
    assert a_events[-1]["action"] == "complaint_merged_in" and "举报1件" in a_events[-1]["comment"]
    # B's complainant now follows A: one reply answers both.
    r = officer.post(f"/api/cases/{case_a}/complaints/reply", json={"reply": "两件举报反映同一问题，已责令整改到位。"})
    assert [i["status"] for i in r.json()["items"]] == ["replied", "replied"]
    for out in (a, b):
        body = api(None).get(f"/api/public/complaints/{out['lookup_code']}").json()
        assert body["reply"] == "两件举报反映同一问题，已责令整改到位。"
    # Merging again, or into a case the officer cannot see, is refused.
    r = officer.post(f"/api/cases/{case_b}/complaints/merge", json={"into_case_id": case_a})
    assert r.status_code == 409
    c = file_public(api, content="又一件同样的举报：脚手架安全网")
    case_c = officer.get("/api/complaints", params={"q": "又一件"}).json()["items"][0]["case_id"]
    wz_case = file_public(api, jurisdiction_code="320506", content="吴中区的另一件举报内容")
    wz_id = api(world.officer_wz).get("/api/complaints").json()["items"][0]["case_id"]
    r = officer.post(f"/api/cases/{case_c}/complaints/merge", json={"into_case_id": wz_id})
    assert r.status_code == 422 and "不在您的管辖范围内" in r.json()["errors"][0]["message"]
    # Merged into an already answered case: the newcomer gets that reply at once.
    r = officer.post(f"/api/cases/{case_c}/complaints/merge", json={"into_case_id": case_a})
    assert r.status_code == 200
    assert api(None).get(f"/api/public/complaints/{c['lookup_code']}").json()["status"] == "replied"
    assert wz_case["lookup_code"]


def test_only_an_early_case_is_merged(api, world, clock):
    file_public(api, content="第一件：塔吊司机无证")
    # a 12345 referral the hotline already matched to the project: it can be registered
    assert refer(api, world.officer, content="第二件：塔吊司机无证上岗", project_id=world.p1.id).status_code == 201
    officer = api(world.officer)
    items = officer.get("/api/complaints").json()["items"]
    first = next(i["case_id"] for i in items if i["content"].startswith("第一件"))
    second = next(i["case_id"] for i in items if i["content"].startswith("第二件"))
    case = officer.get(f"/api/cases/{second}").json()
    r = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="持证上岗")
    assert r.status_code == 200, r.text
    r = officer.post(f"/api/cases/{second}/complaints/merge", json={"into_case_id": first})
    assert r.status_code == 409 and "只有“已发现”状态的举报案件" in r.json()["message"]
    # A case that came from no complaint has nothing to merge.
    plain = officer.post("/api/cases", json={"kind": "hazard", "title": "检查发现", "source": "inspection"}).json()
    r = officer.post(f"/api/cases/{plain['id']}/complaints/merge", json={"into_case_id": first})
    assert r.status_code == 409 and "不是群众举报案件" in r.json()["message"]
    assert officer.get(f"/api/cases/{plain['id']}").json()["deadlines"] == []  # no reply clock without a complaint
    # Only into a kind whose policy answers complainants (an accident's does not).
    accident = officer.post("/api/cases", json=create_payload("accident", world, clock))
    assert accident.status_code == 201, accident.text
    r = officer.post(f"/api/cases/{first}/complaints/merge", json={"into_case_id": accident.json()["id"]})
    assert r.status_code == 409 and "不办理群众举报的答复" in r.json()["message"]


def test_openapi_documents_the_complaint_routes(api):
    paths = api(None).get("/openapi.json").json()["paths"]
    for path in ("/api/public/complaints", "/api/public/complaints/{lookup_code}", "/api/complaints/referrals",
                 "/api/complaints", "/api/complaints/{complaint_id}", "/api/cases/{case_id}/complaints/reply",
                 "/api/cases/{case_id}/complaints/merge"):
        assert path in paths, path
    assert "429" in paths["/api/public/complaints"]["post"]["responses"]


def test_a_large_body_is_refused_before_it_is_read(api):
    r = api(None).post("/api/public/complaints", content=b"{" + b" " * 40_000 + b"}",
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "32 KB" in r.json()["message"]


def test_the_district_hears_of_a_new_complaint_at_once_without_the_complainants_contact(api, world, db):
    from cases.models import OutboxMessage
    from notifications.rendering.render import render_message
    from notifications.rendering.variables import build_variables

    out = file_public(api)
    referral = refer(api, world.officer, no="GD20261123009")
    assert referral.status_code == 201
    with db.session() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.template == "complaint_received")
                         .order_by(OutboxMessage.id)).all()
        inbox = [m for m in rows if m.channel == "inbox"]
        # 姑苏区's officer and supervisor, once per complaint; nobody of another district
        by_complaint = {}
        for m in inbox:
            by_complaint.setdefault(m.case_id, set()).add(m.recipient_user_id)
        assert len(by_complaint) == 2
        staff = {u.id for u in (world.officer,)}
        assert all(staff <= ids and world.officer_wz.id not in ids and world.contact.id not in ids
                   for ids in by_complaint.values())
        texts = [render_message(m.template, build_variables(s, m)).short_text for m in inbox]
    assert any("网上举报" in t and "2026年12月14日" in t for t in texts)
    assert any("工单号GD20261123009" in t for t in texts)
    assert not any("13800001234" in t or "王小明" in t or "李女士" in t for t in texts)
    assert out["lookup_code"] and not any(out["lookup_code"] in t for t in texts)
