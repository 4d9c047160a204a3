"""屡查屡犯: 苏州测试建设有限公司 (e1) is found with a 重大事故隐患 on its site in 姑苏区 three times in
120 days, and leaves each 整改期限 (30 days) run over. Everything goes through the API as the officer
uses it; time passes through the real sweep (a day a step).

- The third registration (day 120) reaches 《安全生产法》第一百一十三条's first window (180日内3次):
  at the next sweep the supervisor of the jurisdiction (苏州市's — 姑苏区 has none) receives exactly
  one 屡查屡犯提示 naming the three cases, however often the sweep runs after it.
- The third 整改期限 run over within 180 days (day 150) flags the second pattern, 逾期整改反复发生.
- A fourth (day 220) is the fourth within a year: the 365-day window's own flag, naming four cases;
  no second 180-day flag (only one event there that no 180-day flag has counted — docs/patterns.md).
- The supervisor decides the first flag (依法从重处罚, with a note): it leaves the cockpit's open
  flags, its trail reads 系统标记 → 已处理."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.models import OutboxMessage

DAY = timedelta(days=1)


def _flag_messages(story):
    with story.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == "repeat_offender_flag",
                                                          OutboxMessage.channel == "inbox").order_by(OutboxMessage.id)))
        s.expunge_all()
        return rows


def _major(story, title):
    w = story.world
    officer = story.client(w.officer)
    r = officer.post("/api/cases", json={"kind": "major_hazard", "title": title, "project_id": w.p1.id})
    assert r.status_code == 201, r.text
    return story.act(r.json(), "register", fields={
        "enterprise_id": w.e1.id, "hazard_item_code": "7.2", "stop_work_scope": "whole",
        "requirements": "立即停工整改", "rectification_days": 30})


def test_three_major_hazards_in_180_days_reach_the_supervisor_once(story):
    w = story.world
    sup = story.client(w.supervisor)
    first = _major(story, "连墙件整层缺失")
    story.advance(days=60, step=DAY)
    second = _major(story, "深基坑未按方案开挖")
    story.advance(days=59, step=DAY)
    assert [m.variables["pattern_label"] for m in _flag_messages(story)] == []  # two: nothing yet
    story.advance(days=1, step=DAY)
    third = _major(story, "高支模未验收即浇筑")
    story.sweep()
    story.sweep()  # a second run finds the flag recorded and sends nothing more

    [msg] = [m for m in _flag_messages(story) if m.variables["pattern_label"] == "重大事故隐患屡查屡犯"]
    assert msg.recipient_user_id == w.supervisor.id
    numbers = [c["case_number"] for c in msg.variables["flagged_cases"]]
    assert numbers == [first["number"], second["number"], third["number"]]
    # what the supervisor reads in the inbox
    inbox = sup.get("/api/inbox").json()["items"]
    [item] = [m for m in inbox if m["template"] == "repeat_offender_flag"]
    body = item["subject"] + item["text"]
    for n in numbers:
        assert n in body
    assert "苏州测试建设有限公司" in body and "第一百一十三条" in body and "/cockpit/repeat-offenders#flag-" in body

    flags = sup.get("/api/repeat-offender-flags").json()["items"]
    [mh] = [f for f in flags if f["pattern"] == "major_hazards"]
    assert (mh["window_days"], mh["found"], mh["policy_version"], mh["status"]) == (180, 3, 1, "open")
    assert [c["number"] for c in mh["cases"]] == numbers

    # day 150: the third 整改期限 run over within 180 days → 逾期整改反复发生, once
    story.advance(days=35, step=DAY)
    overdue = [m for m in _flag_messages(story) if m.variables["pattern_label"] == "逾期整改反复发生"]
    assert len(overdue) == 1
    assert [c["case_number"] for c in overdue[0].variables["flagged_cases"]] == numbers

    # day 220: a fourth within the year → the 365-day window's own flag (four cases); no second 180-day one
    story.advance(days=65, step=DAY)
    fourth = _major(story, "塔吊附着装置未验收")
    story.sweep()
    major = [m for m in _flag_messages(story) if m.variables["pattern_label"] == "重大事故隐患屡查屡犯"]
    assert len(major) == 2
    assert major[1].variables["window_text"].startswith("365日内4次")
    assert [c["case_number"] for c in major[1].variables["flagged_cases"]] == numbers + [fourth["number"]]
    flags = sup.get("/api/repeat-offender-flags").json()["items"]
    assert sorted((f["pattern"], f["window_days"]) for f in flags) == [
        ("major_hazards", 180), ("major_hazards", 365), ("overdue_rectifications", 180)]

    # the supervisor decides the first flag; it leaves the open list, its trail tells the story
    r = sup.post(f"/api/repeat-offender-flags/{mh['id']}/decision", json={"decision": "heavier_penalty"})
    assert r.status_code == 422 and "处理说明" in r.text
    r = sup.post(f"/api/repeat-offender-flags/{mh['id']}/decision",
                 json={"decision": "heavier_penalty", "note": "三次重大事故隐患均顶格处罚，报请市局研究停业整顿"})
    assert r.status_code == 200, r.text
    assert [t["action_label"] for t in r.json()["trail"]] == ["系统标记", "已处理"]
    assert r.json()["decision_label"] == "依法从重处罚"
    assert mh["id"] not in {f["id"] for f in sup.get("/api/repeat-offender-flags").json()["items"]}
    assert story.client(w.officer).post(f"/api/repeat-offender-flags/{mh['id']}/acknowledge").status_code == 403
