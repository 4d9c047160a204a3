"""The full life of each kind of case over real HTTP, back-edges included, and its event log."""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.evidence_files import upload_photo
from tests.machine_paths import HttpDriver


def check_log(events: list[dict], expected: list[tuple[str, str | None, str, str]]) -> None:
    """``expected``: (action, from_state, to_state, actor display name) for every action event, in order.

    System events (a listing, a deadline recomputed...) may sit between them: they take a seq of
    their own, keep the state, and have no actor.
    """
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    state = None
    for e in events:
        assert e["from_state"] == state or e["action"] == "create", e
        if e["actor"]["id"] is None:
            assert e["from_state"] == e["to_state"] and e["actor"]["name"] == "系统", e
        state = e["to_state"]
    got = [(e["action"], e["from_state"], e["to_state"], e["actor"]["name"]) for e in events if e["actor"]["id"]]
    assert got == expected
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


def test_hazard_life_with_reject_reopen_and_dismiss(api, world, clock):
    drv = HttpDriver(api, world, clock)
    t_create = clock.now()
    case = drv.create("hazard")
    assert case["state"] == "found" and case["version"] == 1 and case["final"] is False
    assert case["allowed_actions"] == ["register", "reclassify", "dismiss", "assign", "comment"]
    # the enterprise may only comment while the case is being found
    assert drv.get(case, world.contact)["allowed_actions"] == ["comment"]

    clock.advance(timedelta(hours=1))
    case = drv.act(case, "register", severity="serious", rectification_days=10)
    assert case["state"] == "registered" and case["version"] == 2
    assert case["severity"] == "serious" and case["assignee"]["id"] == world.officer.id
    assert case["enterprise"]["id"] == world.e1.id
    assert set(drv.get(case, world.contact)["allowed_actions"]) == {"start_rectification", "comment"}

    clock.advance(timedelta(hours=1))
    case = drv.act(case, "start_rectification", world.contact)
    assert case["state"] == "rectifying"
    case = drv.act(case, "report_completion", world.contact, completion_report="已补设连墙件")
    assert case["details"]["completion"]["report"] == "已补设连墙件"

    clock.advance(timedelta(days=2))
    case = drv.act(case, "reject", opinion="仍有两处未整改")
    assert case["state"] == "rectifying" and case["rectification_rounds"] == 1
    assert case["details"]["last_verification"]["passed"] is False
    assert "completion" not in case["details"]
    case = drv.act(case, "reject", opinion="第二次复查仍不合格")
    assert case["rectification_rounds"] == 2
    case = drv.act(case, "verify")
    assert case["state"] == "verified"
    assert case["allowed_actions"] == ["close", "assign", "comment"]
    case = drv.act(case, "close")
    assert case["state"] == "closed" and case["final"] is True and case["closed_at"]
    assert case["allowed_actions"] == ["reopen", "comment"]

    clock.advance(timedelta(days=30))
    case = drv.act(case, "reopen", reason="回头看发现隐患反弹")
    assert case["state"] == "rectifying" and case["reopen_count"] == 1 and case["closed_at"] is None
    assert "last_verification" not in case["details"]
    case = drv.act(case, "verify")
    case = drv.act(case, "close")
    assert case["state"] == "closed" and case["version"] == 11

    events = drv.events(case)
    check_log(events, [
        ("create", None, "found", "officer"),
        ("register", "found", "registered", "officer"),
        ("start_rectification", "registered", "rectifying", "contact"),
        ("report_completion", "rectifying", "rectifying", "contact"),
        ("reject", "rectifying", "rectifying", "officer"),
        ("reject", "rectifying", "rectifying", "officer"),
        ("verify", "rectifying", "verified", "officer"),
        ("close", "verified", "closed", "officer"),
        ("reopen", "closed", "rectifying", "officer"),
        ("verify", "rectifying", "verified", "officer"),
        ("close", "verified", "closed", "officer"),
    ])
    acts = [e for e in events if e["actor"]["id"]]
    assert datetime.fromisoformat(acts[0]["at"]) == t_create
    assert datetime.fromisoformat(acts[1]["at"]) == t_create + timedelta(hours=1)
    assert datetime.fromisoformat(acts[4]["at"]) == t_create + timedelta(days=2, hours=2)
    assert acts[4]["payload"]["rectification_round"] == 1
    assert acts[1]["payload"]["values"]["severity"] == "serious"
    assert acts[2]["actor"]["id"] == world.contact.id

    # dismiss: a final state where only a comment remains possible
    other = drv.create("hazard", title="重复举报")
    other = drv.act(other, "dismiss", reason="经核实为重复举报")
    assert other["state"] == "dismissed" and other["final"] is True and other["closed_at"]
    assert other["allowed_actions"] == ["comment"]
    other = drv.act(other, "comment", comment="已答复举报人")
    check_log(drv.events(other), [("create", None, "found", "officer"), ("dismiss", "found", "dismissed", "officer"),
                                  ("comment", "dismissed", "dismissed", "officer")])


def test_hazard_reclassified_as_major(api, world, clock):
    drv = HttpDriver(api, world, clock)
    sup = api(world.supervisor)
    assert sup.get(f"/api/enterprises/{world.e1.id}").json()["credit_score"] == 100
    case = drv.drive("hazard", "rectifying")
    number = case["number"]
    case = drv.act(case, "reclassify", hazard_item_code="8.5", stop_work_scope="partial")
    assert case["kind"] == "major_hazard" and case["kind_label"] == "重大事故隐患"
    assert case["machine_version"] == 2 and case["state"] == "registered"
    assert case["hazard_item_code"] == "8.5"
    assert case["number"] == "320508-ZD-2026-000001" and case["previous_numbers"] == [number]  # 原编号 kept
    assert sup.get(f"/api/enterprises/{world.e1.id}").json()["credit_score"] == 90
    # now it follows the major-hazard machine
    assert "apply_review" not in case["allowed_actions"] and "start_rectification" in case["allowed_actions"]
    assert "reclassify" not in case["allowed_actions"]
    r = drv.try_act(case, "reclassify")
    assert r.status_code == 404  # major_hazard has no such action
    case = drv.act(case, "start_rectification")
    assert case["state"] == "rectifying"
    events = drv.events(case)
    check_log(events, [
        ("create", None, "found", "officer"),
        ("register", "found", "registered", "officer"),
        ("start_rectification", "registered", "rectifying", "officer"),
        ("reclassify", "rectifying", "registered", "officer"),
        ("start_rectification", "registered", "rectifying", "officer"),
    ])
    rec = next(e for e in events if e["action"] == "reclassify")
    assert rec["payload"]["reclassified"] == {"from": "hazard", "to": "major_hazard", "machine_version": 2,
                                              "number": case["number"], "previous_number": number}
    assert rec["payload"]["credit_deduction"] == {"enterprise_id": world.e1.id, "points": 10}
    # a major hazard is always listed for supervision (挂牌督办), by the system, right after
    listed = events[events.index(rec) + 1]
    assert listed["action"] == "listed" and listed["actor"]["name"] == "系统"


def test_major_hazard_life(api, world, clock):
    drv = HttpDriver(api, world, clock)
    sup = api(world.supervisor)
    case = drv.create("major_hazard")
    # only the supervisor may refuse to recognise a major hazard
    assert "dismiss" not in case["allowed_actions"]
    assert "dismiss" in drv.get(case, world.supervisor)["allowed_actions"]
    case = drv.act(case, "register")
    assert case["state"] == "registered"
    assert sup.get(f"/api/enterprises/{world.e1.id}").json()["credit_score"] == 90
    case = drv.act(case, "start_rectification", funds=12.5)
    assert case["details"]["funds"] == 12.5
    # verification needs the enterprise's application first
    assert set(case["allowed_actions"]) == {"apply_review", "request_extension", "assign", "comment"}
    r = drv.try_act(case, "verify", with_photo=False)
    assert r.status_code == 409 and "尚未报告整改完成" in r.json()["message"]
    case = drv.act(case, "apply_review", world.contact, completion_report="已整改完成，申请核查")
    assert "apply_review" not in drv.get(case, world.contact)["allowed_actions"]
    case = drv.act(case, "reject", world.supervisor, opinion="核查不合格")
    assert case["rectification_rounds"] == 1 and case["state"] == "rectifying"
    upload_photo(api(world.contact), case["id"])  # the enterprise reports completion with a 整改后 photo
    case = drv.act(case, "apply_review", world.contact, completion_report="再次申请核查")
    case = drv.act(case, "verify", world.supervisor)
    assert case["state"] == "verified"
    assert "close" not in drv.get(case, world.officer)["allowed_actions"]
    r = drv.try_act(case, "close", world.officer)
    assert r.status_code == 403 and "无权" in r.json()["message"]
    # still listed (挂牌督办): the listing body lifts it first
    r = drv.try_act(case, "close", world.supervisor, publication="已在市住建局网站公示")
    assert r.status_code == 409 and "摘牌" in r.json()["message"]
    assert "close" not in drv.get(case, world.supervisor)["allowed_actions"]
    drv.lift_supervision(case)
    case = drv.act(case, "close", world.supervisor, publication="已在市住建局网站公示")
    assert case["state"] == "closed"
    r = drv.try_act(case, "reopen", world.officer, reason="回头看")
    assert r.status_code == 403
    check_log(drv.events(case), [
        ("create", None, "found", "officer"),
        ("register", "found", "registered", "officer"),
        ("start_rectification", "registered", "rectifying", "officer"),
        ("apply_review", "rectifying", "rectifying", "contact"),
        ("reject", "rectifying", "rectifying", "supervisor"),
        ("evidence_added", "rectifying", "rectifying", "contact"),
        ("apply_review", "rectifying", "rectifying", "contact"),
        ("verify", "rectifying", "verified", "supervisor"),
        ("supervision_lifted", "verified", "verified", "supervisor"),
        ("close", "verified", "closed", "supervisor"),
    ])
    # dismissed by the supervisor
    other = drv.create("major_hazard")
    other = drv.act(other, "dismiss", world.supervisor)
    assert other["state"] == "dismissed"
    assert sup.get(f"/api/enterprises/{world.e1.id}").json()["credit_score"] == 90


def test_accident_life_grading_and_escalation(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("accident")
    assert case["accident_grade"] is None and case["jurisdiction"]["code"] == "320508"
    # below the threshold: not a 房屋市政 accident
    r = drv.try_act(case, "register", deaths=0, serious_injuries=0, direct_loss=500_000)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "direct_loss"
    case = drv.act(case, "register", deaths=1, serious_injuries=2, direct_loss=800_000)
    assert case["accident_grade"] == "ordinary" and case["accident_grade_label"] == "一般事故"
    assert case["jurisdiction"]["code"] == "320508"

    clock.advance(timedelta(days=3))
    case = drv.act(case, "update_casualties", deaths=2, serious_injuries=2, direct_loss=800_000)
    assert case["accident_grade"] == "ordinary" and case["jurisdiction"]["code"] == "320508"
    case = drv.act(case, "update_casualties", deaths=3, serious_injuries=2, direct_loss=800_000)
    assert case["accident_grade"] == "larger"
    assert case["jurisdiction"]["code"] == "320500"  # 较大: the city investigates
    assert case["origin_jurisdiction"]["code"] == "320508"
    last = [e for e in drv.events(case) if e["actor"]["id"]][-1]
    assert last["action"] == "update_casualties"
    assert last["payload"]["grade"] == {"from": "ordinary", "to": "larger", "label": "较大事故"}
    assert last["payload"]["escalated"]["from"] == "320508"
    assert last["payload"]["escalated"]["to"] == "320500"
    # the city sees it under its own jurisdiction and acts; the county still reads it
    sup = api(world.supervisor)
    listed = sup.get("/api/cases", params={"jurisdiction": "320500", "kind": "accident"}).json()
    assert [c["id"] for c in listed["items"]] == [case["id"]]
    assert drv.get(case, world.officer)["state"] == "registered"
    assert drv.get(case, world.officer)["allowed_actions"] == ["comment"]
    r = drv.try_act(case, "update_casualties", world.officer, deaths=4)
    assert r.status_code == 403 and "苏州市住房和城乡建设局负责调查处理" in r.json()["message"]

    # more than 30 days after the accident: no more re-grading
    clock.advance(timedelta(days=28))
    assert "update_casualties" not in drv.get(case, world.supervisor)["allowed_actions"]
    before = drv.get(case)
    r = drv.try_act(case, "update_casualties", world.supervisor, deaths=12)
    assert r.status_code == 409, r.text
    assert "30日" in r.json()["message"] and r.json()["state"] == "registered"
    assert drv.get(case)["version"] == before["version"] and drv.get(case)["accident_grade"] == "larger"

    case = drv.act(case, "start_rectification", world.supervisor, team_lead="市住建局副局长")
    r = drv.try_act(case, "verify", world.supervisor)
    assert r.status_code == 409 and "调查报告" in r.json()["message"]
    case = drv.act(case, "submit_report", world.supervisor)
    case = drv.act(case, "extend_investigation", world.supervisor, extension_days=30)
    r = drv.try_act(case, "extend_investigation", world.supervisor, extension_days=30)
    assert r.status_code == 409 and "已延长" in r.json()["message"]
    # 四不放过: every item must be ticked, and the error names what is missing
    r = drv.try_act(case, "verify", world.supervisor, four_nots=["cause", "responsibility"])
    assert r.status_code == 422
    err = r.json()["errors"]
    assert [e["field"] for e in err] == ["four_nots"]
    assert "整改措施未落实不放过" in err[0]["message"] and "有关人员未受到教育不放过" in err[0]["message"]
    assert "事故原因未查清不放过" not in err[0]["message"]
    case = drv.act(case, "reject", world.supervisor, opinion="补充调查")
    assert case["rectification_rounds"] == 1
    # 退回补充调查: approval needs the supplementary report first
    assert "verify" not in case["allowed_actions"] and "submit_report" in case["allowed_actions"]
    r = drv.try_act(case, "verify", world.supervisor)
    assert r.status_code == 409 and "调查报告" in r.json()["message"]
    case = drv.act(case, "submit_report", world.supervisor, report_summary="补充调查报告")
    case = drv.act(case, "verify", world.supervisor)
    assert case["state"] == "verified" and case["details"]["four_nots"] == sorted(
        ["cause", "responsibility", "measures", "education"])
    case = drv.act(case, "close", world.supervisor)
    assert case["state"] == "closed"
    check_log(drv.events(case), [
        ("create", None, "found", "officer"),
        ("register", "found", "registered", "officer"),
        ("update_casualties", "registered", "registered", "officer"),
        ("update_casualties", "registered", "registered", "officer"),
        ("start_rectification", "registered", "rectifying", "supervisor"),
        ("submit_report", "rectifying", "rectifying", "supervisor"),
        ("extend_investigation", "rectifying", "rectifying", "supervisor"),
        ("reject", "rectifying", "rectifying", "supervisor"),
        ("submit_report", "rectifying", "rectifying", "supervisor"),
        ("verify", "rectifying", "verified", "supervisor"),
        ("close", "verified", "closed", "supervisor"),
    ])


def test_accident_graded_larger_at_flash_report_moves_to_city_at_registration(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("accident", deaths=3, serious_injuries=0, direct_loss=0)
    assert case["accident_grade"] == "larger" and case["jurisdiction"]["code"] == "320508"
    case = drv.act(case, "register", deaths=3, serious_injuries=0, direct_loss=2_000_000)
    assert case["accident_grade"] == "larger"
    assert case["jurisdiction"]["code"] == "320500"


def test_dangerous_building_life(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("dangerous_building")
    # A/B are not dangerous: registering them is refused, naming the field
    for grade in ("A", "B"):
        r = drv.try_act(case, "register", appraisal_grade=grade, handling="observe")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "appraisal_grade"
        assert "非危房" in r.json()["message"]
    r = drv.try_act(case, "register", appraisal_grade="D", handling="observe")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "handling"
    assert len(drv.events(case)) == 1

    case = drv.act(case, "register", appraisal_grade="D", handling="stop_use")
    assert case["appraisal_grade"] == "D" and case["state"] == "registered"
    assert "start_rectification" not in case["allowed_actions"]
    assert "record_evacuation" in case["allowed_actions"]
    r = drv.try_act(case, "start_rectification")
    assert r.status_code == 409
    body = r.json()
    assert body["message"] == "D级危房须先登记“已停止使用、人员已撤离”，方可开始治理"
    assert body["state"] == "registered" and "record_evacuation" in body["allowed_actions"]
    r = drv.try_act(case, "record_evacuation", use_stopped=False)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "use_stopped"
    case = drv.act(case, "record_evacuation", world.contact, evacuated_count=6)
    assert case["details"]["evacuation"]["evacuated_count"] == 6
    case = drv.act(case, "start_rectification")
    assert case["state"] == "rectifying"
    case = drv.act(case, "reject", opinion="加固未完成")
    assert case["rectification_rounds"] == 1
    case = drv.act(case, "verify", new_grade="B")
    assert case["state"] == "verified" and case["appraisal_grade"] == "B"
    case = drv.act(case, "close")
    assert case["state"] == "closed"
    check_log(drv.events(case), [
        ("create", None, "found", "officer"),
        ("register", "found", "registered", "officer"),
        ("record_evacuation", "registered", "registered", "contact"),
        ("start_rectification", "registered", "rectifying", "officer"),
        ("reject", "rectifying", "rectifying", "officer"),
        ("verify", "rectifying", "verified", "officer"),
        ("close", "verified", "closed", "officer"),
    ])

    # grade C may start at once
    c = drv.create("dangerous_building")
    c = drv.act(c, "register", appraisal_grade="C", handling="treat")
    assert "start_rectification" in c["allowed_actions"]
    c = drv.act(c, "start_rectification")
    assert c["state"] == "rectifying"

    # A: concluded safe, closed at once with a re-appraisal date
    safe = drv.create("dangerous_building")
    r = drv.try_act(safe, "conclude_safe", appraisal_grade="C")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "appraisal_grade"
    safe = drv.act(safe, "conclude_safe", appraisal_grade="A", valid_until="2027-11-22")
    assert safe["state"] == "closed" and safe["final"] and safe["appraisal_grade"] == "A"
    assert safe["details"]["safe_verdict"] == {"grade": "A", "valid_until": "2027-11-22"}
    check_log(drv.events(safe), [("create", None, "found", "officer"), ("conclude_safe", "found", "closed", "officer")])


def test_reclassified_case_starts_the_major_hazard_cycle_afresh(api, world, clock):
    """What the enterprise reported for the ordinary hazard does not count as a major-hazard review application."""
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "rectifying")
    case = drv.act(case, "request_extension", world.contact, extension_days=5, reason="材料未到")
    case = drv.act(case, "report_completion", world.contact, completion_report="已整改")
    case = drv.act(case, "reclassify")
    case = drv.act(case, "start_rectification")
    assert case["kind"] == "major_hazard" and case["state"] == "rectifying"
    assert "verify" not in case["allowed_actions"] and "reject" not in case["allowed_actions"]
    assert "decide_extension" not in drv.get(case, world.supervisor)["allowed_actions"]
    assert set(drv.get(case, world.contact)["allowed_actions"]) == {"apply_review", "request_extension", "comment"}
    r = drv.try_act(case, "verify")
    assert r.status_code == 409 and "尚未报告整改完成" in r.json()["message"]
    # the ordinary-hazard history is kept on the events, not lost
    events = drv.events(case)
    assert [e["action"] for e in events if e["actor"]["id"]][3:5] == ["request_extension", "report_completion"]


def test_reopened_hazard_forgets_an_undecided_extension_request(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "rectifying")
    case = drv.act(case, "request_extension", world.contact, extension_days=5, reason="材料未到")
    assert "request_extension" not in drv.get(case, world.contact)["allowed_actions"]
    case = drv.act(case, "verify")  # passed before anyone decided the request: it is moot
    case = drv.act(case, "close")
    case = drv.act(case, "reopen", reason="回头看发现反弹")
    assert "request_extension" in drv.get(case, world.contact)["allowed_actions"]
    assert "decide_extension" not in drv.get(case, world.supervisor)["allowed_actions"]
    case = drv.act(case, "request_extension", world.contact, extension_days=3, reason="新的整改需要时间")
    case = drv.act(case, "decide_extension", world.supervisor, approved=True, approved_days=None)
    assert case["details"]["extensions"][-1]["approved_days"] == 3  # as requested
