"""A major hazard is closed only after 摘牌, and a closed case never escalates again.

姑苏区 finds a major hazard on a Monday: it is registered with a stop-work order and listed at
once by 苏州市. The unit rectifies, the officer verifies on site. The city's supervisor wants to
close it (销号) — refused while it is still listed: the city first lifts the listing (摘牌),
then closes it. Forty-five days pass through the sweep: no 约谈, no 通报批评, no 提级, the case
is never red nor in any red list — but the 回头看 a month after closure still falls due.
"""
from datetime import timedelta


def _lights(story, user):
    c = story.client(user)
    red = {x["id"] for x in c.get("/api/cases", params={"light": "red", "page_size": 100}).json()["items"]}
    overdue = {x["id"] for x in c.get("/api/overdue").json()["items"]}
    totals = c.get("/api/stats/lights").json()["totals"]
    return red, overdue, totals


def test_major_hazard_is_closed_only_after_delisting_and_never_escalates_afterwards(story):
    w = story.world
    case = story.drv.create("major_hazard", title="深基坑支护变形", description="2号楼基坑东侧支护桩位移超预警值",
                            location="2号楼基坑东侧", hazard_item_code="7.2")
    case = story.act(case, "register", fields={
        "enterprise_id": w.e1.id, "hazard_item_code": "7.2", "stop_work_scope": "whole",
        "requirements": "立即停止基坑作业，加固支护并经专家论证", "rectification_days": 30})
    assert case["state"] == "registered"
    story.advance(hours=2)
    assert sorted(d.doc_type for d in story.document_rows(case) if d.doc_type in ("stop_work_order", "supervision_notice")) \
        == ["stop_work_order", "supervision_notice"]
    listing = story.get(case)["supervision"]
    assert listing["status"] == "listed"

    case = story.act(case, "start_rectification", fields={
        "measures": "增设钢支撑，回填反压", "funds": 85, "plan_deadline": "2026-12-15",
        "responsible_person": "王经理", "contingency_plan": "位移超限立即撤人"})
    story.advance(days=10)
    case = story.act(story.get(case), "apply_review", w.contact, fields={"completion_report": "支护已加固，监测数据稳定"})
    case = story.act(case, "verify", w.officer, fields={"opinion": "现场核查合格", "inspectors": "张三、李四",
                                                        "resume_work_approved": True})
    assert case["state"] == "verified"

    # 销号 while still listed: refused, and the refusal says what is missing (摘牌)
    r = story.try_act(case, "close", w.supervisor, fields={"publication": "已在市住建局网站公示"})
    assert r.status_code == 409, r.text
    assert "摘牌" in r.json()["message"] and "苏州市住房和城乡建设局" in r.json()["message"]
    assert "close" not in story.get(case, w.supervisor)["allowed_actions"]

    # the listing body (the city) lifts the listing, then the case closes
    r = story.client(w.supervisor).post(f"/api/supervisions/{listing['id']}/lift", json={"opinion": "现场核查合格，同意摘牌"})
    assert r.status_code == 200 and r.json()["status"] == "lifted", r.text
    case = story.act(story.get(case), "close", w.supervisor, fields={"publication": "已在市住建局网站公示"})
    assert case["state"] == "closed"
    seen = len(story.events(case))

    # no clock runs on the case any more but the 回头看 (a task, not a light)
    deadlines = story.client(w.officer).get(f"/api/cases/{case['id']}/deadlines").json()
    open_ones = [d for d in deadlines["items"] if d["status"] == "open"]
    assert [d["key"] for d in open_ones] == ["lookback"] and not open_ones[0]["affects_light"]
    assert deadlines["light"] == "none"

    letters_before = {d.number for d in story.document_rows(case)}
    story.advance(days=45, step=timedelta(hours=6))

    # the 销号确认书 says what the unit did, which notice it answers, and that the city agreed
    [stop_order] = [d.number for d in story.document_rows(case, "stop_work_order")]
    [confirmation] = [story.text_of(d) for d in story.document_rows(case, "closure_confirmation")]
    assert f"我局已于前期下达《责令停工通知书》（{stop_order}）" in confirmation  # its own title, not 隐患整改通知书
    assert "你单位报送的整改完成情况如下：支护已加固，监测数据稳定" in confirmation
    assert "并经挂牌督办单位苏州市住房和城乡建设局核查同意" in confirmation and "同时解除挂牌督办" in confirmation
    [opinion] = [story.text_of(d) for d in story.document_rows(case, "reinspection_opinion")]
    assert f"根据《责令停工通知书》（{stop_order}）" in opinion

    # nothing escalated after closure: no letter, no 提级, no rung but the 回头看's
    after = [d for d in story.document_rows(case) if d.number not in letters_before]
    assert [d.doc_type for d in after if d.doc_type in ("interview_notice", "public_criticism", "supervision_letter",
                                                         "warning_letter")] == []
    events = story.events(case)
    late = events[seen:]
    assert not [e for e in events if e["action"] == "escalated"]
    fired_after = [e["payload"]["deadline"] for e in late if e["action"] == "rung_fired"]
    assert fired_after == ["回头看"], fired_after
    assert story.get(case)["jurisdiction"]["code"] == "320508"
    # the 回头看 reminder reached the officer in charge
    reminders = [m for m in story.messages(case, "reminder") if (m.variables or {}).get("task") == "回头看"]
    assert reminders and "officer" in story.notified(case, "reminder")

    # the light and every list agree: not red anywhere
    assert story.get(case)["light"] == "none"
    for user in (w.officer, w.supervisor):
        red, overdue, totals = _lights(story, user)
        assert case["id"] not in red and case["id"] not in overdue
        assert totals["red"] == 0
    queue = story.client(w.officer).get("/api/queue").json()["items"]
    assert case["id"] not in {x["id"] for x in queue}
