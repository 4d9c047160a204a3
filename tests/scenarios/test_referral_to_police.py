"""Work went on under a stop-work order: a 危险作业罪 clue referred to the police, answered late.

On Monday 23 November 2026 姑苏区 finds a major hazard on the 平江路 site (formwork not built to
its plan) and orders the whole site to stop work (责令停工通知书). Two days later, on Wednesday
25 November, the officer comes back and finds the site working on. That is a clue of 危险作业罪
(刑法第一百三十四条之一: 因存在重大事故隐患被依法责令停产停业…而拒不执行): the officer refers it to
苏州市公安局姑苏分局. The 移送函 is numbered 姑苏建质移〔2026〕1号; the police read who sends it, to
whom, the facts (with the stop-work order's number), the legal basis, the attachments, who to call
and the date a written reply is asked by — 3 working days (国务院令第310号第八条): Monday 30
November. The enterprise reads nothing of it: not the referral, not the letter, not the clock,
not the events.

The police do not answer in time. The sweep reminds the officer on Friday 27 November (one working
day before) and on the due day; when 30 November ends the officer and their supervisor (苏州市)
are warned — once each, however many sweeps follow. The referral is 逾期未回复 in the list; the
case's own light does not turn red for it (the case's work is not late). On Wednesday 2 December
the police's reply arrives (已立案, 姑苏公（刑）立字〔2026〕118号): it is recorded, the clock is met
(late), and nothing of it fires again — no 督办提醒 to the level above.
"""
from datetime import timedelta

from tests.scenarios.conftest import beijing, cn, squash

FACTS = ("2026年11月23日，我局监督检查发现该项目地下车库顶板高支模架体未按专项施工方案搭设，属重大事故隐患，"
         "当即下达责令停工通知书（{stop_no}），责令全面停止施工。11月25日复查时发现，施工单位拒不执行停工指令，"
         "现场仍有23名作业人员在该高支模区域进行钢筋绑扎和混凝土浇筑准备作业。")


def _referral_rungs(story, case):
    return [(e["payload"]["rung"], e["at"][:10]) for e in story.events(case)
            if e["action"] == "rung_fired" and e["payload"].get("deadline", "").startswith("移送")]


def test_work_continued_under_stop_work_is_referred_to_the_police(story):
    w = story.world
    case = story.drv.create("major_hazard", title="地下车库高支模架体未按专项方案搭设",
                            description="地下车库顶板高支模立杆间距大于专项方案规定，水平剪刀撑缺失",
                            location="地下车库顶板后浇带区域", hazard_item_code="7.2")
    case = story.act(case, "register", fields={
        "enterprise_id": w.e1.id, "hazard_item_code": "7.2", "stop_work_scope": "whole",
        "requirements": "立即停止施工，按专项方案整改架体", "rectification_days": 30})
    story.advance(hours=2)
    [stop] = story.document_rows(case, "stop_work_order")
    case = story.get(case)
    assert case["assignee"] is not None  # the referring officer is the case's 承办人: the clock's ladder speaks to them

    # Wednesday 25 November, 10:00: work goes on under the order — referred to the police.
    story.advance(to=beijing(2026, 11, 25, 10), step=timedelta(hours=6))
    officer = story.client(w.officer)
    targets = officer.get("/api/referral-targets").json()
    police = next(t for t in targets["items"] if t["target"] == "public_security")
    assert police["label"] == "公安机关" and "第一百三十四条之一" in police["legal_basis"]
    assert (police["reply_amount"], police["reply_unit"]) == (3, "working_day")
    assert police["suggested_bodies"] == ["苏州市公安局姑苏分局"]  # offered by the form, typed or chosen
    r = officer.post(f"/api/cases/{case['id']}/referrals", json={
        "target": "public_security", "body_name": "苏州市公安局姑苏分局", "facts": FACTS.format(stop_no=stop.number),
        "attachments": ["责令停工通知书（复印件）", "11月25日复查现场照片及视频", "现场检查记录"]})
    assert r.status_code == 201, r.text
    referral = r.json()
    assert referral["letter_no"] == "姑苏建质移〔2026〕1号"
    assert referral["reply_due_date"] == "2026-11-30" and referral["state"] == "open"
    assert referral["policy_version"] == 1

    # The 移送函, rendered by the next sweep, read as the police read it.
    story.advance(hours=1)
    [letter] = story.document_rows(case, "referral_letter")
    assert letter.number == referral["letter_no"] and letter.status == "rendered"
    text = story.text_of(letter)
    assert squash("关于移送涉嫌危险作业罪案件线索的函") in text
    assert "苏州市公安局姑苏分局：" in text  # 主送
    assert "苏州市姑苏区住房和城乡建设局" in text and "姑苏建质移〔2026〕1号" in text
    assert stop.number in text and "拒不执行停工" in text and "23名作业人员" in text  # the facts (a page may break them)
    assert "刑法》第一百三十四条之一" in text and "国务院令第310号" in text  # the basis
    assert "请依法审查是否立案" in text and f"请于{cn(beijing(2026, 11, 30))}前将处理情况书面回复我局" in text
    assert "11月25日复查现场照片及视频" in text and "移送材料接收回执" in text  # attachments and the receipt
    assert "联系人" in text and "0512" in text  # who to call
    assert w.e1.name in text  # the unit concerned

    # The enterprise reads none of it.
    contact = story.client(w.contact)
    assert contact.get(f"/api/cases/{case['id']}/referrals").status_code == 403
    assert contact.get(f"/api/referrals/{referral['id']}").status_code == 403
    assert contact.get("/api/referrals").status_code == 403
    assert contact.get(f"/api/documents/{letter.id}.pdf").status_code == 404
    assert "referral_letter" not in {d["doc_type"] for d in story.documents(case, w.contact)}
    assert not [e for e in story.events(case, w.contact) if e["action"].startswith("referr")]
    assert "referral_reply" not in {d["key"] for d in contact.get(f"/api/cases/{case['id']}/deadlines").json()["items"]}
    assert "referral_reply" not in {d["key"] for d in story.get(case, w.contact)["deadlines"]}
    # … while the case history shows the officer the referral.
    [referred] = [e for e in story.events(case) if e["action"] == "referred"]
    assert "苏州市公安局姑苏分局" in referred["comment"] and "姑苏建质移〔2026〕1号" in referred["comment"]

    # No reply by Monday 30 November: reminded on Friday 27 and on the due day, then warned.
    since = story.clock.now()
    story.advance(to=beijing(2026, 12, 1, 12), step=timedelta(hours=3))
    assert _referral_rungs(story, case) == [("remind_before", "2026-11-27"), ("remind_due_day", "2026-11-30"),
                                            ("overdue", "2026-11-30")]
    warned = [m for m in story.messages(case, "overdue_warning") if m.created_at >= since and m.channel == "inbox"]
    assert sorted(m.recipient_user_id for m in warned) == sorted([w.officer.id, w.supervisor.id])  # once each
    assert all(m.variables["task"] == "移送公安机关回复期限" for m in warned)
    reminded = [m for m in story.messages(case, "reminder") if m.created_at >= since and m.channel == "inbox"
                and m.variables.get("task") == "移送公安机关回复期限"]
    assert {m.recipient_user_id for m in reminded} == {w.officer.id}
    assert not [m for m in story.messages(case) if m.created_at >= since and m.recipient_user_id == w.contact.id]
    overdue = officer.get("/api/referrals", params={"state": "overdue"}).json()
    assert [x["id"] for x in overdue["items"]] == [referral["id"]] and overdue["items"][0]["state_label"] == "逾期未回复"
    assert story.client(w.supervisor).get("/api/referrals", params={"state": "overdue"}).json()["count"] == 1
    assert story.get(case)["light"] != "red"  # the reply clock does not light the case

    # More sweeps: nobody is warned twice.
    story.advance(to=beijing(2026, 12, 2, 9), step=timedelta(hours=3))
    again = [m for m in story.messages(case, "overdue_warning") if m.created_at >= since and m.channel == "inbox"]
    assert len(again) == 2

    # Wednesday 2 December: the police answer — 已立案. The clock is met, late; nothing fires again.
    story.advance(to=beijing(2026, 12, 2, 15))
    r = officer.post(f"/api/referrals/{referral['id']}/reply", json={
        "received_at": "2026-12-02", "reply_no": "姑苏公（刑）立字〔2026〕118号", "result": "filed",
        "content": "经审查，认为有犯罪事实需要追究刑事责任，决定对该项目施工负责人涉嫌危险作业罪立案侦查。"})
    assert r.status_code == 200, r.text
    replied = r.json()
    assert replied["state"] == "replied" and replied["reply"]["result_label"] == "已立案" and replied["reply"]["late"]
    again = officer.post(f"/api/referrals/{referral['id']}/reply", json={
        "received_at": "2026-12-02", "result": "filed", "content": "重复登记"})
    assert again.status_code == 409
    deadlines = officer.get(f"/api/cases/{case['id']}/deadlines").json()["items"]
    [clock] = [d for d in deadlines if d["key"] == "referral_reply"]
    assert clock["status"] == "met" and not clock["affects_light"]
    story.advance(to=beijing(2026, 12, 10, 12), step=timedelta(hours=12))
    assert [r for r, _ in _referral_rungs(story, case)] == ["remind_before", "remind_due_day", "overdue"]  # no 督办提醒
    trail = [e["action"] for e in story.events(case) if e["action"].startswith("referr")]
    assert trail == ["referred", "referral_replied"]
    [reply_event] = [e for e in story.events(case) if e["action"] == "referral_replied"]
    assert "已立案" in reply_event["comment"] and "逾期回复" in reply_event["comment"]
