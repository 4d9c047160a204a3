"""An enterprise reaches the blacklist and leaves it.

苏州测试建设有限公司 (e1) works in 姑苏区. Monday 23 November 2026 the district registers a major
hazard on its site (不良行为记录 XY-01, −10: 90) and an ordinary hazard with three days to rectify.
The hazard is not rectified: when its clock runs out the sweep sends the 警示函 and records XY-03
(−5: 85) — the score reaches the exposure threshold (85) and the unit is on the public exposure page.
On the Monday after, the officer finds work going on under the stop-work order and records a refusal
(XY-05, −20: 65): the blacklist (70). The unit rectifies the major hazard and it is closed; the
hazard's listing runs out, the city's 约谈通知书 goes out, XY-04 (−5: 60) is recorded by the city.
The unit appeals that record (rectified before the interview); the city withdraws it: 65 again.

Months pass through the sweep. The exposure period (90 days) ends while the score still reaches its
threshold: the unit stays exposed. XY-03 expires after 90 days (70), XY-01 after 180 (80: above the
blacklist's threshold, but its period runs on); on 29 May XY-05 expires (100) and the blacklist period
ends: both listings are lifted, the public page no longer shows the unit, and the history keeps both
listings with their reasons."""
from __future__ import annotations

from datetime import date, timedelta

from tests.scenarios.conftest import beijing


def _credit(story):
    r = story.client(story.world.officer).get(f"/api/enterprises/{story.world.e1.id}/credit")
    assert r.status_code == 200, r.text
    return r.json()


def _on(credit, lst):
    return any(x["list"] == lst and x["active"] for x in credit["listings"])


def _public(story):
    """The enterprises on the public exposure page's API, read without logging in."""
    return [i["enterprise_name"] for i in story.drv._api(None).get("/api/public/exposure").json()["items"]]


def _told(story) -> list[str]:
    """The 信用惩戒告知 in the contact's inbox, oldest first, as read (subject and text)."""
    items = story.client(story.world.contact).get("/api/inbox").json()["items"]
    return [m["subject"] + "\n" + m["text"] for m in reversed(items) if m["template"] == "credit_listing"]


def test_an_enterprise_reaches_the_blacklist_and_leaves_it(story):
    w = story.world
    name = "苏州测试建设有限公司"
    mh = story.drv.create("major_hazard", title="外架连墙件整层缺失", location="1号楼外架", hazard_item_code="7.2")
    mh = story.act(mh, "register", fields={"enterprise_id": w.e1.id, "hazard_item_code": "7.2", "stop_work_scope": "whole",
                                           "requirements": "立即停止外架作业，补设连墙件", "rectification_days": 30})
    hz = story.drv.create("hazard", title="临边防护缺失", location="2号楼三层")
    hz = story.act(hz, "register", fields={"enterprise_id": w.e1.id, "severity": "general", "rectification_days": 3,
                                           "requirements": "三日内补设临边防护栏杆"})
    c = _credit(story)
    assert c["score"] == 90 and [r["item_code"] for r in c["records"]] == ["XY-01"]
    assert not c["listings"] and _public(story) == []

    # the hazard's clock runs out: 警示函 and XY-03 (85) → exposure
    story.advance(to=beijing(2026, 11, 27, 12), step=timedelta(hours=3))
    c = _credit(story)
    overdue = next(r for r in c["records"] if r["item_code"] == "XY-03")
    assert c["score"] == 85 and overdue["case"]["id"] == hz["id"]
    letter = story.document_rows(hz, "warning_letter")[0]
    assert overdue["document"]["number"] == letter.number
    text = story.text_of(letter)  # the 警示函 as the unit reads it
    assert hz["number"] in text and "苏州测试建设有限公司" in text
    assert _on(c, "exposure") and not _on(c, "blacklist")
    assert _public(story) == [name]
    page = story.drv._api(None).get("/public/exposure")
    assert name in page.text and "未按期完成隐患整改" in page.text and "苏州市姑苏区住房和城乡建设局" in page.text
    assert "钱工" not in page.text and "13900000000" not in page.text  # no person on the public page
    # the unit is told (信用惩戒告知), once, by the authority of its registration
    [told] = _told(story)
    assert "已列入曝光名单" in told and "信用分85分" in told and "未按期完成隐患整改" in told and "申诉" in told
    assert "苏州市姑苏区住房和城乡建设局" in told

    # Monday 30 November: work goes on under the stop-work order → XY-05 (65) → blacklist
    story.advance(to=beijing(2026, 11, 30, 10), step=timedelta(hours=6))
    r = story.client(w.officer).post("/api/credit-records", json={
        "case_id": mh["id"], "cause": "refused_stop_work", "facts": "复查发现1号楼外架仍在作业，拒不执行停工指令"})
    assert r.status_code == 201, r.text
    c = _credit(story)
    assert c["score"] == 65 and _on(c, "blacklist") and _on(c, "exposure")
    black = next(x for x in c["listings"] if x["list"] == "blacklist")
    assert black["listed_on"] == "2026-11-30" and black["until"] == "2027-05-29" and "拒不执行停工指令" in black["reason"]
    story.sweep()  # the outbox delivered
    told = _told(story)
    assert len(told) == 2 and "已列入黑名单" in told[1] and "2026年11月30日至2027年5月29日" in told[1]
    assert [x["enterprise"]["name"] for x in story.client(w.officer).get("/api/credit-listings?list=blacklist").json()["items"]] \
        == [name]

    # the major hazard is rectified, verified, delisted and closed: its clocks record nothing more
    mh = story.act(story.get(mh), "start_rectification", fields={
        "measures": "补设连墙件", "funds": 5, "plan_deadline": "2026-12-10", "responsible_person": "王经理",
        "contingency_plan": "大风停止作业"})
    mh = story.act(story.get(mh), "apply_review", w.contact, fields={"completion_report": "连墙件已按方案补设"})
    mh = story.act(mh, "verify", w.officer, fields={"opinion": "现场核查合格", "inspectors": "张三、李四",
                                                   "resume_work_approved": True})
    story.drv.lift_supervision(mh)
    mh = story.act(story.get(mh), "close", w.supervisor, fields={"publication": "已在市住建局网站公示"})
    assert mh["state"] == "closed"

    # the hazard, listed by the city when it stayed overdue, runs past its listing too: the city's 约谈通知书
    story.advance(to=beijing(2027, 1, 8, 12), step=timedelta(days=1))
    c = _credit(story)
    interview = next(r for r in c["records"] if r["item_code"] == "XY-04")
    assert interview["authority_name"] == "苏州市住房和城乡建设局" and interview["document"]["title"]
    assert c["score"] == 60

    # the unit appeals; the city (which recorded it) withdraws it: the score is restored
    r = story.client(w.contact).post(f"/api/credit-records/{interview['id']}/appeal",
                                     json={"reason": "约谈前已完成整改并书面报告，请予撤销"})
    assert r.status_code == 200, r.text
    assert story.client(w.officer).post(f"/api/credit-records/{interview['id']}/decision",
                                        json={"outcome": "withdrawn", "reason": "x"}).status_code == 403
    r = story.client(w.supervisor).post(f"/api/credit-records/{interview['id']}/decision",
                                        json={"outcome": "withdrawn", "reason": "经核实，约谈前已完成整改"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    assert [e["action"] for e in r.json()["events"]] == ["recorded", "appealed", "withdrawn"]
    c = _credit(story)
    assert c["score"] == 65 and _on(c, "blacklist")  # 65 still reaches the blacklist

    # the hazard is finally put right and closed (its ladder stops)
    hz = story.get(hz)
    for action in ("start_rectification", "report_completion", "verify"):
        if action in hz["allowed_actions"]:
            hz = story.act(hz, action)
    story.drv.lift_supervision(hz)
    hz = story.act(story.get(hz), "close", w.supervisor)

    # XY-03 expires after 90 days (70); the exposure period ended, but 70 still reaches it: stays
    story.advance(to=beijing(2027, 3, 1, 12), step=timedelta(days=1))
    c = _credit(story)
    assert c["score"] == 70 and next(r for r in c["records"] if r["item_code"] == "XY-03")["status"] == "expired"
    assert _on(c, "exposure") and _on(c, "blacklist") and _public(story) == [name]
    # a listing past its period that still applies is no work for the sweep lane (it would wake every tick)
    from cases.credit import sweep as credit_sweep

    assert credit_sweep.due_check(story.db, story.clock.now()) is False

    # XY-01 expires (180 days, 22 May): 80 — above the blacklist's 70, but its period runs to 29 May;
    # 80 still reaches the exposure threshold: both stay
    story.advance(to=beijing(2027, 5, 28, 12), step=timedelta(days=1))
    c = _credit(story)
    assert c["score"] == 80 and _on(c, "blacklist") and _on(c, "exposure") and _public(story) == [name]
    # 29 May: XY-05 expires (100) and the blacklist period ends: the sweep lifts both, once
    story.advance(to=beijing(2027, 5, 29, 12), step=timedelta(days=1))
    c = _credit(story)
    assert c["score"] == 100 and not _on(c, "blacklist") and not _on(c, "exposure")
    lifted = {x["list"]: x for x in c["listings"]}
    assert len(c["listings"]) == 2
    for lst in ("blacklist", "exposure"):
        assert "列入期限届满" in lifted[lst]["lifted_reason"] and lifted[lst]["lifted_at"][:10] == "2027-05-29"
    assert _public(story) == []
    told = _told(story)  # and told of both liftings, once each
    assert len(told) == 4
    assert any("已移出黑名单" in x for x in told[2:]) and any("已移出曝光名单" in x for x in told[2:])
    assert all("信用分100分" in x and "列入期限届满" in x for x in told[2:])
    page = story.drv._api(None).get("/public/exposure")
    assert name not in page.text and "当前没有曝光的企业" in page.text
    # and of each record as it was made: item, points, validity and the right to appeal, once each
    items = story.client(story.world.contact).get("/api/inbox").json()["items"]
    records = [m["subject"] + "\n" + m["text"] for m in reversed(items) if m["template"] == "credit_record"]
    assert [x.split("：", 1)[1].split("，")[0] for x in records][:4] == \
        ["XY-01 存在重大事故隐患被责令停工、挂牌督办", "XY-03 未按期完成隐患整改", "XY-05 拒不执行停工指令",
         "XY-04 挂牌督办事项逾期被约谈"], records
    assert len(records) == 4 and all("申诉" in x for x in records) and "扣5分" in records[1] and "现信用分85分" in records[1]
    history = story.client(w.officer).get("/api/credit-listings?active=false").json()["items"]
    assert {x["list"] for x in history} == {"blacklist", "exposure"}
