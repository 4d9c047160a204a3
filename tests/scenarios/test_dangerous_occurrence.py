"""A 脚手架险情 reported up late; verified, handled and closed.

Monday 23 November 2026, 09:40: on the 姑苏区 test project the outer scaffold of building 5 leans
outwards between steps 8 and 11. Nobody is hurt; the site evacuates 23 workers. 姑苏区住建局 learns
of it at 10:00 and its officer records the 险情快报 at 10:20. The 快报 must go up to the city within
two hours of the authority learning of it (deadlines-v2: flash_report, from 发现时间), so by 12:00.
The officer is busy on site and forgets.

The report clock climbs like the other officer clocks, through the real sweep: a reminder to the
officer at 11:30, the overdue warning to the officer and their supervisor at 12:00, and at 14:00 a
督办 reminder to the supervisors of the level above (苏州市). The case is red and in /api/overdue
while the 快报 is late. The officer reports up at 14:30; the written report goes in the next morning
within its 24 hours (the 险情快报 itself is a numbered document to the city); the site is verified on Wednesday, the unit dismantles and re-erects the scaffold,
the officer re-inspects it and closes the case. The enterprise hears nothing about the officer's
clocks; it hears of its own 整改期限 only.
"""
from datetime import timedelta

from tests.scenarios.conftest import beijing


def _rungs(story, case):
    return [(e["payload"]["deadline"], e["payload"]["rung"]) for e in story.events(case) if e["action"] == "rung_fired"]


def test_scaffold_occurrence_reported_up_late(story):
    w = story.world
    occurred, learned = beijing(2026, 11, 23, 9, 40), beijing(2026, 11, 23, 10, 0)
    story.advance(to=beijing(2026, 11, 23, 10, 20))
    case = story.drv.create(
        "dangerous_occurrence", title="5号楼外脚手架局部外倾险情", location="5号楼北侧",
        occurred_at=occurred.isoformat(), found_at=learned.isoformat(), occurrence_type="scaffolding",
        brief="5号楼北侧外架第8至11步局部外倾约20厘米，现场立即停止作业", endangered=23, evacuated=23,
        deaths=0, serious_injuries=0, minor_injuries=0, direct_loss=60_000, measures_taken="设置警戒区，撤离作业人员",
        assignee_id=w.officer.id)
    assert case["number"] == "320508-XQ-2026-000001" and case["state_label"] == "已快报"
    clocks = {d["key"]: d for d in case["deadlines"]}
    # 快报 within 2 hours of learning of it; the written report within 24 hours of the occurrence
    assert clocks["flash_report"]["due_at"] == beijing(2026, 11, 23, 12, 0).isoformat()
    assert clocks["written_report"]["due_at"] == beijing(2026, 11, 24, 9, 40).isoformat()
    assert clocks["verification"]["due_date"] == "2026-11-30"  # 5 working days
    created_at = story.clock.now()

    # 11:30 — half an hour left: the officer is reminded; the light is yellow
    story.advance(to=beijing(2026, 11, 23, 11, 35), step=timedelta(minutes=15))
    assert story.get(case)["light"] == "yellow"
    assert _rungs(story, case) == [("险情快报上报（2小时）", "remind_before")]
    assert story.notified(case, "reminder") == {"officer"}

    # 12:00 — overdue: the officer and their supervisor are warned; the case is red and overdue
    story.advance(to=beijing(2026, 11, 23, 12, 5), step=timedelta(minutes=15))
    case = story.get(case)
    assert case["light"] == "red"
    assert [c["id"] for c in story.client(w.officer).get("/api/overdue").json()["items"]] == [case["id"]]
    assert story.notified(case, "overdue_warning") == {"officer", "supervisor"}
    warning = next(m for m in story.messages(case, "overdue_warning") if m.recipient_user_id == w.officer.id)
    assert warning.variables["task"] == "险情快报上报（2小时）"
    assert warning.variables["next_measure"] == "报上级主管部门督办"

    # 14:00 — two hours overdue: the 督办 reminder goes to the supervisors of the level above
    story.advance(to=beijing(2026, 11, 23, 14, 5), step=timedelta(minutes=30))
    assert _rungs(story, case) == [("险情快报上报（2小时）", "remind_before"), ("险情快报上报（2小时）", "overdue"),
                                   ("险情快报上报（2小时）", "supervise")]
    supervise = [m for m in story.messages(case, "overdue_warning")
                 if m.variables.get("rung") == "supervise" and m.channel == "inbox"]
    assert {m.recipient_user_id for m in supervise} == {w.supervisor.id}
    from notifications.rendering.render import render_message
    from notifications.rendering.variables import build_variables

    with story.db.session() as s:
        text = render_message(supervise[0].template, build_variables(s, supervise[0]))
    assert text.subject.startswith("【督办提醒】") and "险情快报上报" in text.short_text

    # 14:30 — the officer reports up, late; the 快报 clock is met, the light no longer red
    story.advance(to=beijing(2026, 11, 23, 14, 30), step=timedelta(minutes=30))
    case = story.act(case, "report_up", fields={"reported_to": "苏州市住房和城乡建设局"})
    event = [e for e in story.events(case) if e["action"] == "report_up"][-1]
    assert {"deadline": "险情快报上报（2小时）", "change": "met"} in event["payload"]["deadlines"]
    assert case["light"] in ("green", "yellow") and "flash_report" not in {d["key"] for d in case["deadlines"]}

    # Tuesday 08:00 — the written report, inside its 24 hours: nothing fires for it
    story.advance(to=beijing(2026, 11, 24, 8, 0), step=timedelta(hours=2))
    # the 险情快报 went to the city (its supervisors hear of it at once), numbered and printed
    [doc] = story.document_rows(case, "occurrence_flash_report")
    assert doc.number == "姑苏建质险〔2026〕1号"
    text = story.text_of(doc)
    for expected in ("险情快报", "姑苏建质险〔2026〕1号", "苏州市住房和城乡建设局：", "2026年11月23日09时40分",
                     "发生一起脚手架险情", "紧急撤离23人", "未造成人员死亡、重伤", "属于重大险情", "约6万元",
                     "5号楼北侧外架第8至11步局部外倾", "设置警戒区，撤离作业人员", w.e1.name):
        assert expected in text, expected
    assert story.notified(case, "occurrence_flash_report") == {"supervisor"}
    case = story.act(case, "submit_written_report", fields={
        "written_report": "险情经过：9时40分5号楼北侧外架局部外倾；原因初判：连墙件被违规拆除；已撤离23人，无人员伤亡。"})
    story.advance(to=beijing(2026, 11, 25, 9, 0), step=timedelta(hours=2))
    assert [r for d, r in _rungs(story, case) if d == "书面报告（24小时）"] == []

    # Wednesday: verified on site (核查), the unit is given 7 days; it reports completion on Monday
    case = story.act(case, "register", fields={
        "enterprise_id": w.e1.id, "deaths": 0, "serious_injuries": 0, "minor_injuries": 0, "direct_loss": 60_000,
        "endangered": 23, "evacuated": 23, "finding": "现场核查属实：北侧外架连墙件被违规拆除6处", "assignee_id": w.officer.id})
    assert case["state_label"] == "已核查"
    case = story.act(case, "start_rectification", fields={
        "measures_required": "拆除外倾架体，按方案重新搭设并补齐连墙件，经验收合格后方可使用", "rectification_days": 7})
    [rect] = case["deadlines"]
    assert (rect["label"], rect["party"], rect["due_date"]) == ("整改期限", "enterprise", "2026-12-04")
    story.advance(to=beijing(2026, 11, 30, 10, 0), step=timedelta(hours=3))
    case = story.act(case, "report_completion", w.contact, fields={"completion_report": "已重新搭设并补齐连墙件，自检合格"})
    case = story.act(case, "verify", fields={"opinion": "架体已按方案重新搭设，连墙件齐全，险情已排除", "inspectors": "张三、李四"})
    case = story.act(case, "close", fields={"lessons": "对全区在建项目外架连墙件开展专项检查"})
    assert case["state_label"] == "已销号" and case["deadlines"] == [] and case["light"] == "none"

    # the timeline, in order
    actions = [e["action"] for e in story.events(case) if e["action"] != "rung_fired"]
    assert actions == ["create", "report_up", "submit_written_report", "register", "start_rectification",
                       "report_completion", "verify", "close"]
    # who heard what: the officer's lateness went up the authority's chain, never to the enterprise
    contact_msgs = [m for m in story.messages(case) if m.recipient_user_id == w.contact.id]
    assert all(m.created_at >= created_at for m in contact_msgs)
    assert not [m for m in contact_msgs if m.template in ("overdue_warning", "reminder")]
    assert story.document_rows(case, "warning_letter") == [] and case["supervision"] is None

    # a week later nothing more fires
    before = _rungs(story, case)
    story.advance(days=7, step=timedelta(hours=12))
    assert _rungs(story, case) == before


def test_the_unit_that_never_rectifies_gets_the_hazards_ladder(story):
    """The 整改期限 of a 重大险情 is the unit's, on the hazards' ladder: 警示函 when it runs out, 挂牌督办
    five working days later — each letter rendered and naming the unit and the missed date."""
    w = story.world
    case = story.drv.create("dangerous_occurrence", title="基坑北侧支护局部坍塌险情", occurrence_type="excavation",
                            brief="基坑北侧支护桩间土体局部坍塌约3立方米，坑边道路出现裂缝", assignee_id=w.officer.id)
    case = story.act(case, "report_up", fields={"reported_to": "苏州市住房和城乡建设局"})
    case = story.act(case, "register", fields={
        "enterprise_id": w.e1.id, "deaths": 0, "serious_injuries": 0, "direct_loss": 30_000,
        "finding": "现场核查属实：桩间土未挂网喷护"})
    case = story.act(case, "start_rectification", fields={
        "measures_required": "立即回填反压，桩间土挂网喷护，加密基坑监测", "rectification_days": 5})
    [rect] = [d for d in case["deadlines"] if d["key"] == "rectification"]
    assert rect["due_date"] == "2026-11-30"  # 5 days → 5 working days
    story.advance(to=beijing(2026, 12, 8, 12), step=timedelta(hours=6))
    case = story.get(case)
    rungs = [(e["payload"]["deadline"], e["payload"]["rung"]) for e in story.events(case) if e["action"] == "rung_fired"]
    assert ("整改期限", "overdue") in rungs and ("整改期限", "listing") in rungs
    [letter] = story.document_rows(case, "warning_letter")
    text = story.text_of(letter)
    assert "警示函" in text and w.e1.name in text and "2026年11月30日" in text
    assert case["supervision"] is not None and case["light"] == "red"
    [notice] = story.document_rows(case, "supervision_notice")
    assert "挂牌督办通知书" in story.text_of(notice)
