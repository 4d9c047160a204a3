"""A complaint answered in time.

On Monday 23 November 2026 at 09:00 a passer-by reports on the public page that the scaffolding at
平江路1号 has no safety net and things fall on the pavement; she leaves her name and number. She is
shown a lookup code once and told the 姑苏区 bureau will answer by Monday 14 December (15 working
days). On Tuesday the 12345 hotline refers a call about the same site (工单号 GD2026112400017),
already matched to the project; the bureau's answer is due Tuesday 15 December.

The officer merges the first report into the referral's case (a duplicate, still 已发现): it ends as
不予立案 — 重复举报 — its own clock ends, and its complainant now waits on the referral's case. The
officer registers the hazard against 苏州测试建设有限公司, the unit rectifies, the case is re-inspected
and closed on 30 November. Closing does not answer the complainants: the reply clock still runs.
On 1 December the officer answers; both complainants read the same reply with their codes, and the
public page shows neither the names nor the unit. Nothing of the reply clock fires afterwards.
"""
from datetime import timedelta

from tests.scenarios.conftest import beijing

PUBLIC = {"jurisdiction_code": "320508", "content": "平江路1号工地脚手架外侧没有挂安全网，经常有东西掉到人行道上",
          "location": "平江路1号", "named_unit": "姑苏测试项目", "contact_name": "陈女士", "contact_phone": "13912340000"}
REPLY = "经现场核查，反映情况属实。已责令施工单位立即挂设密目安全网，现已整改完毕并经复查合格。感谢您的监督。"


def _reply_rungs(story, case):
    return [e["payload"]["rung"] for e in story.events(case)
            if e["action"] == "rung_fired" and e["payload"].get("deadline") == "答复举报人期限"]


def test_a_complaint_answered_in_time(story):
    world = story.world
    anon, officer = story.drv._api(None), story.client(world.officer)

    # Monday 09:00: the public page's JSON twin (what the form posts through).
    r = anon.post("/api/public/complaints", json=PUBLIC)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["reply_due_date"] == "2026-12-14" and first["authority"] == "苏州市姑苏区住房和城乡建设局"

    # Tuesday 10:00: the 12345 referral, matched to the project by the hotline.
    story.advance(to=beijing(2026, 11, 24, 10))
    r = officer.post("/api/complaints/referrals", json={
        "referral_no": "GD2026112400017", "content": "市民来电反映平江路1号工地脚手架无安全网，高空落物",
        "submitted_at": "2026-11-24T08:40:00+08:00", "project_id": world.p1.id, "location": "平江路1号",
        "contact_phone": "13800001111"})
    assert r.status_code == 201, r.text
    referral = r.json()
    case = story.get({"id": referral["case_id"]})
    [clock] = case["deadlines"]
    assert (clock["label"], clock["party"], clock["due_date"]) == ("答复举报人期限", "officer", "2026-12-15")
    # The hotline pushes the same 工单 again: the first answer, nothing new.
    again = officer.post("/api/complaints/referrals", json={"referral_no": "GD2026112400017", "content": "重复推送"})
    assert again.status_code == 200 and again.json()["id"] == referral["id"]

    # The first report is the same hazard: merged into the referral's case.
    first_case = officer.get("/api/complaints", params={"channel": "public_web"}).json()["items"][0]["case_id"]
    r = officer.post(f"/api/cases/{first_case}/complaints/merge", json={"into_case_id": case["id"]})
    assert r.status_code == 200, r.text
    duplicate = story.get({"id": first_case})
    assert duplicate["state"] == "dismissed" and duplicate["deadlines"] == []
    case = story.get(case)
    assert [d["label"] for d in case["deadlines"]] == ["答复举报人期限"]  # the surviving case's clock governs

    # The hazard is handled: registered, rectified, re-inspected, closed on Monday 30 November.
    case = story.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "general",
                                               "requirements": "立即挂设密目安全网", "assignee_id": world.officer.id})
    case = story.act(case, "start_rectification", world.contact, fields={})
    story.advance(to=beijing(2026, 11, 27, 15))
    case = story.act(case, "report_completion", world.contact, fields={"completion_report": "已挂设密目安全网"})
    story.advance(to=beijing(2026, 11, 30, 10))
    case = story.act(case, "verify", fields={"opinion": "安全网已挂设到位", "inspectors": "张三"})
    case = story.act(case, "close", fields={})
    assert case["state"] == "closed"
    # Closing is not answering: the reply clock is still running (a follow-up of the closed case).
    assert "答复举报人期限" in [d["label"] for d in case["deadlines"]]
    listed = officer.get("/api/complaints", params={"status": "pending"}).json()
    assert listed["total"] == 2

    # Tuesday 1 December: the answer, once for both complainants.
    story.advance(to=beijing(2026, 12, 1, 10))
    r = officer.post(f"/api/cases/{case['id']}/complaints/reply", json={"reply": REPLY})
    assert r.status_code == 200, r.text
    assert [i["status"] for i in r.json()["items"]] == ["replied", "replied"]
    event = story.events(case)[-1]
    assert event["action"] == "reply_complainant" and {"deadline": "答复举报人期限", "change": "met"} in event["payload"]["deadlines"]

    for code in (first["lookup_code"], referral["lookup_code"]):
        status = anon.get(f"/api/public/complaints/{code}").json()
        assert status["status_label"] == "已答复" and status["reply"] == REPLY
        assert status["stage_label"] == "已办结"
        text = str(status)
        for hidden in ("陈女士", "13912340000", "13800001111", "姑苏测试项目", "苏州测试建设有限公司", "officer"):
            assert hidden not in text

    # Well past both due dates: the reply clock never reminds or warns anyone.
    story.advance(to=beijing(2026, 12, 22, 10), step=timedelta(hours=6))
    assert _reply_rungs(story, case) == [] and _reply_rungs(story, {"id": first_case}) == []
    counts = officer.get("/api/complaints").json()["counts"]
    assert counts == {"pending": 0, "replied": 2, "overdue": 0}
