"""Completion reported early, the officer late.

姑苏区住建局 finds a serious hazard on Monday 23 November 2026 and gives 苏州测试建设有限公司 fifteen
days (to 8 December). On Wednesday the 25th — thirteen days early — the unit reports the work done.
Nobody goes to re-inspect. A month passes.

The unit did its part: its rectification clock is met, it gets no 警示函, the case is not listed, and
after its report it hears nothing more. The late party is the officer: the 复查期限 (three working days,
to Monday 30 November) is theirs — reminders go to them, the overdue warning to them and their
supervisor, and three working days later a 督办 reminder goes to the city's supervisors. The case's
light follows the officer's clock.
"""
from datetime import datetime, timedelta

from tests.scenarios.conftest import beijing


def _rungs(story, case):
    return [e["payload"]["rung"] for e in story.events(case) if e["action"] == "rung_fired"]


def _sent_after(story, case, username, at: datetime):
    user_id = {"contact": story.world.contact.id, "officer": story.world.officer.id,
               "supervisor": story.world.supervisor.id, "province": story.world.province.id}[username]
    return [m for m in story.messages(case) if m.recipient_user_id == user_id and m.created_at >= at]


def test_the_unit_reports_early_and_the_officer_never_comes(story):
    world = story.world
    case = story.drv.create("hazard", title="2号楼外脚手架连墙件缺失", description="2号楼外脚手架第5至7步未设置连墙件",
                            location="2号楼北侧")
    case = story.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "serious",
                                               "rectification_days": 15, "requirements": "按规范补设连墙件",
                                               "assignee_id": world.officer.id})
    [rect] = case["deadlines"]
    assert rect["label"] == "整改期限" and rect["party"] == "enterprise" and rect["due_date"] == "2026-12-08"
    case = story.act(case, "start_rectification", world.contact, fields={})

    # Wednesday 25 November: the unit reports the work done, thirteen days before its deadline.
    story.advance(to=beijing(2026, 11, 25, 10))
    reported_at = story.clock.now()
    case = story.act(case, "report_completion", world.contact, fields={"completion_report": "已按要求补设全部连墙件"})
    [report] = [e for e in story.events(case) if e["action"] == "report_completion"]
    assert {"deadline": "整改期限", "change": "met"} in report["payload"]["deadlines"]
    # What the case shows now: one clock, the officer's, due Monday 30 November; green.
    [clock] = case["deadlines"]
    assert (clock["label"], clock["party"], clock["party_label"], clock["due_date"]) == \
        ("复查期限", "officer", "承办人", "2026-11-30")
    assert case["light"] == "green"
    # Reporting again would restart the officer's clock: refused, the 复查期限 stands.
    again = story.try_act(case, "report_completion", world.contact, fields={"completion_report": "补充整改照片"})
    assert again.status_code == 409 and again.json()["message"].startswith("已于2026年11月25日报告整改完成"), again.text
    assert story.get(case)["deadlines"][0]["due_date"] == "2026-11-30"

    # Friday 27 November, 09:00: one working day left — the officer is reminded, the light is yellow.
    story.advance(to=beijing(2026, 11, 27, 10))
    assert story.get(case)["light"] == "yellow"
    reminders = [m for m in _sent_after(story, case, "officer", reported_at) if m.template == "reminder"]
    assert reminders and {m.variables["task"] for m in reminders} == {"复查期限"}

    # A month passes through the sweep; nobody re-inspects.
    story.advance(days=30, step=timedelta(hours=3))
    case = story.get(case)

    # The unit is not punished for the officer's delay.
    assert story.document_rows(case, "warning_letter") == []
    assert story.messages(case, "warning_letter") == []
    assert case["supervision"] is None
    assert story.document_rows(case, "supervision_notice") == [] and story.document_rows(case, "supervision_letter") == []
    assert not [e for e in story.events(case) if e["action"] == "listed"]
    assert _sent_after(story, case, "contact", reported_at) == []  # told nothing after its report

    # The officer's ladder: reminders and the overdue warning to the officer, the warning to the
    # officer's supervisor, then the 督办 reminder to the city's supervisors (苏州市).
    assert _rungs(story, case) == ["remind_before", "remind_due_day", "overdue", "supervise"]
    officer_msgs = _sent_after(story, case, "officer", reported_at)
    assert {m.template for m in officer_msgs} == {"reminder", "overdue_warning"}
    assert all(m.variables["task"] == "复查期限" for m in officer_msgs)
    warning = next(m for m in officer_msgs if m.template == "overdue_warning")
    assert warning.variables["next_measure"] == "报上级主管部门督办"  # not 挂牌督办 of the unit
    supervisor_msgs = [m for m in _sent_after(story, case, "supervisor", reported_at) if m.channel == "inbox"]
    assert [(m.template, m.variables["rung"]) for m in supervisor_msgs] == \
        [("overdue_warning", "overdue"), ("overdue_warning", "supervise")]
    # what the supervisor reads: first the warning, then a 督办提醒 asking them to see it done
    from notifications.rendering.render import render_message
    from notifications.rendering.variables import build_variables
    with story.db.session() as s:
        warning, supervise = (render_message(m.template, build_variables(s, m)) for m in supervisor_msgs)
    assert warning.subject.startswith("【逾期预警】") and "督促" not in warning.short_text
    assert supervise.subject.startswith("【督办提醒】") and "请督促责任人员立即办理" in supervise.short_text
    assert story.notified(case, "overdue_warning") == {"officer", "supervisor"}

    # The light is the officer's clock: red, on the 复查期限, and the case counts as overdue.
    assert case["light"] == "red"
    [clock] = case["deadlines"]
    assert (clock["label"], clock["party"], clock["light"]) == ("复查期限", "officer", "red")
    overdue = story.client(world.officer).get("/api/overdue").json()
    assert [c["id"] for c in overdue["items"]] == [case["id"]]

    # The officer finally goes: the check passes, no clock is left running.
    case = story.act(case, "verify", fields={"opinion": "连墙件已按规范补设，整改到位", "inspectors": "张三、李四"})
    assert case["deadlines"] == [] and case["light"] == "none"


def test_a_failed_reinspection_gives_the_unit_a_new_clock(story):
    """复查不合格: the officer's clock is met and the unit's rectification clock starts afresh."""
    world = story.world
    case = story.drv.create("hazard", title="基坑临边防护缺失", description="基坑东侧临边未设防护", location="基坑东侧")
    case = story.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "serious",
                                               "rectification_days": 15, "requirements": "设置临边防护"})
    case = story.act(case, "start_rectification", world.contact, fields={})
    case = story.act(case, "report_completion", world.contact, fields={"completion_report": "已设置"})
    assert [(d["label"], d["party"]) for d in case["deadlines"]] == [("复查期限", "officer")]
    story.advance(to=beijing(2026, 11, 24, 10))
    case = story.act(case, "reject", fields={"opinion": "防护栏杆高度不足1.2米", "inspectors": "张三",
                                             "rectification_days": 15})
    [rect] = case["deadlines"]
    assert (rect["label"], rect["party"], rect["due_date"]) == ("整改期限", "enterprise", "2026-12-09")
