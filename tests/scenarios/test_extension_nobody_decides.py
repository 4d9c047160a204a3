"""An extension nobody decides.

姑苏区住建局 registers a serious hazard on Monday 23 November 2026: fifteen days, to 8 December.
On Wednesday the 25th the unit asks for ten more days (材料未到场). The request lands with the city
supervisor, who may decide it — and does not.

The unit's clock stops while its request waits, and the case says so (暂停, since 25 November),
instead of showing green with no date. The approver's clock runs: three working days, to Monday
30 November. The approver is reminded and finds the case in their queue with that date; when it runs
out the overdue warning goes to the approver and up their chain (江苏省), never to the unit. When
the extension is finally approved on Friday 4 December, the unit gets its ten days on top of the days
it had left.

Then a listed major hazard: the listing body (苏州市) approves a five-day extension of its 督办期限 —
and the case's own 整改期限 moves with it, with one event naming both new dates.
"""
from datetime import timedelta

from tests.scenarios.conftest import beijing


def _inbox(story, case, user):
    return [m for m in story.messages(case) if m.recipient_user_id == user.id and m.channel == "inbox"]


def _queue_entry(story, user, case):
    r = story.client(user).get("/api/queue")
    assert r.status_code == 200, r.text
    return next((item for item in r.json()["items"] if item["id"] == case["id"]), None)


def test_the_unit_asks_for_ten_days_and_nobody_decides(story):
    world = story.world
    case = story.drv.create("hazard", title="塔吊附着装置螺栓松动", description="1号塔吊第3道附着螺栓松动",
                            location="1号塔吊")
    case = story.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "serious",
                                               "rectification_days": 15, "requirements": "紧固并复核附着装置",
                                               "assignee_id": world.officer.id})
    case = story.act(case, "start_rectification", world.contact, fields={})

    story.advance(to=beijing(2026, 11, 25, 9))
    asked_at = story.clock.now()
    case = story.act(case, "request_extension", world.contact,
                     fields={"extension_days": 10, "reason": "附着螺栓需原厂供货，材料未到场"})

    # The case shows it is paused, since when, and whose decision it waits for — not green without a date.
    rect = next(d for d in case["deadlines"] if d["label"] == "整改期限")
    assert rect["paused"] is True and rect["light"] == "paused" and rect["due_date"] is None
    assert rect["status_label"] == "暂停（自2026年11月25日起，等待延期审批）"
    decision = next(d for d in case["deadlines"] if d["label"] == "延期审批期限")
    assert (decision["party"], decision["party_label"], decision["due_date"]) == ("approver", "审批人", "2026-11-30")
    assert case["light"] == "green"

    # The approver (苏州市 supervisor, who may 审批延期) finds it in their queue with the decision's date.
    entry = _queue_entry(story, world.supervisor, case)
    assert entry is not None and entry["next_due_at"] is not None
    assert [(d["label"], d["due_date"], d["light"]) for d in entry["deadlines"]] == \
        [("整改期限", None, "paused"), ("延期审批期限", "2026-11-30", "green")]
    assert _queue_entry(story, world.province, case) is None  # not the province's to decide

    # Friday 27 November: one working day left — the approver is reminded; the light is yellow.
    story.advance(to=beijing(2026, 11, 27, 10))
    assert story.get(case)["light"] == "yellow"
    reminders = [m for m in _inbox(story, case, world.supervisor) if m.template == "reminder"]
    assert [m.variables["task"] for m in reminders] == ["延期审批期限"]

    # It runs out on Monday 30 November; nobody decides. Three working days later (Thursday 3
    # December) the 督办 reminder climbs further up the approver's side.
    story.advance(to=beijing(2026, 12, 4, 10), step=timedelta(hours=3))
    case = story.get(case)
    assert case["light"] == "red"
    assert next(d for d in case["deadlines"] if d["label"] == "延期审批期限")["light"] == "red"
    warnings = [m for m in _inbox(story, case, world.supervisor) if m.template == "overdue_warning"]
    assert [(m.variables["task"], m.variables["rung"]) for m in warnings] == [("延期审批期限", "overdue")]
    above = [(m.variables["task"], m.variables["rung"]) for m in _inbox(story, case, world.province)]
    assert above == [("延期审批期限", "overdue"), ("延期审批期限", "supervise")]  # the approver's supervisor
    assert story.notified(case, "overdue_warning") == {"supervisor", "province"}

    # The unit is told nothing about the approver's clock and is not punished for it.
    assert [m for m in story.messages(case) if m.recipient_user_id == world.contact.id and m.created_at >= asked_at] == []
    assert story.document_rows(case, "warning_letter") == [] and case["supervision"] is None
    rect = next(d for d in case["deadlines"] if d["label"] == "整改期限")
    assert rect["paused"] is True

    # Friday 4 December, 10:00: the extension is finally approved. The clock stood still from 25
    # November 09:00 — nine days and an hour, counted as ten whole days (docs/legal-time.md) — and the
    # unit gets the 10 days granted: 15 + 10 + 10 days from 23 November → Monday 28 December.
    case = story.act(case, "decide_extension", world.supervisor,
                     fields={"approved": True, "approved_days": 10, "opinion": "同意延期10天"})
    [rect] = case["deadlines"]
    assert (rect["label"], rect["paused"], rect["due_date"]) == ("整改期限", False, "2026-12-28")
    assert case["light"] == "green"
    [decided] = [e for e in story.events(case) if e["action"] == "decide_extension"]
    assert {"deadline": "延期审批期限", "change": "met"} in decided["payload"]["deadlines"]
    assert _queue_entry(story, world.supervisor, case) is None  # nothing left for the approver to decide


def test_the_listing_body_extends_the_supervision_and_the_case_moves_with_it(story):
    world = story.world
    officer = story.client(world.officer)
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": "深基坑支护变形超限",
                                            "description": "基坑北侧支护桩水平位移超过报警值",
                                            "location": "基坑北侧", "project_id": world.p1.id}).json()
    case = story.act(case, "register", fields={"enterprise_id": world.e1.id, "hazard_item_code": "5.4",
                                               "stop_work_scope": "partial", "requirements": "停止基坑作业，加固支护",
                                               "rectification_days": 20, "assignee_id": world.officer.id})
    by_key = {d["key"]: d for d in case["deadlines"]}
    assert by_key["rectification"]["due_date"] == by_key["supervision"]["due_date"] == "2026-12-14"
    sid = case["supervision"]["id"]

    # The county asks the listing body (苏州市) for five more days.
    story.advance(to=beijing(2026, 11, 24, 9))
    r = officer.post(f"/api/supervisions/{sid}/extension", json={"days": 5, "reason": "需专家论证加固方案"})
    assert r.status_code == 200, r.text
    assert r.json()["decision_deadline"]["due_date"] == "2026-11-27"  # the listing body's 3 working days
    entry = _queue_entry(story, world.supervisor, case)
    assert entry is not None and ("督办延期审批期限", "2026-11-27") in [(d["label"], d["due_date"]) for d in entry["deadlines"]]

    # Nobody decides by Friday 27 November: the listing body is reminded, then warned — not the unit.
    story.advance(to=beijing(2026, 11, 30, 10), step=timedelta(hours=3))
    sup_msgs = [(m.template, m.variables["task"]) for m in _inbox(story, case, world.supervisor)
                if m.variables.get("task") == "督办延期审批期限"]
    assert ("reminder", "督办延期审批期限") in sup_msgs and ("overdue_warning", "督办延期审批期限") in sup_msgs
    assert not [m for m in story.messages(case) if m.recipient_user_id == world.contact.id
                and m.variables.get("task") == "督办延期审批期限"]

    # Monday 30 November, 10:00: approved. The 督办期限 stood still from 24 November 09:00 — six days
    # and an hour, counted as seven whole days (docs/legal-time.md) — and gets five more: 20 + 7 + 5
    # days from 23 November → Friday 25 December. The case's 整改期限 moves with it.
    r = story.client(world.supervisor).post(f"/api/supervisions/{sid}/extension/decision",
                                            json={"approved": True, "days": 5, "opinion": "同意延期5天"})
    assert r.status_code == 200, r.text
    assert r.json()["decision_deadline"] is None
    case = story.get(case)
    by_key = {d["key"]: d for d in case["deadlines"]}
    new_date = by_key["supervision"]["due_date"]
    assert new_date == "2026-12-25"
    assert by_key["rectification"]["due_date"] == new_date  # one extension moves both
    [event] = [e for e in story.events(case) if e["action"] == "supervision_extension_decided"]
    assert event["payload"]["supervision_due_date"] == event["payload"]["rectification_due_date"] == new_date
    assert event["comment"] == "督办延期已批准：督办期限延至2026年12月25日，整改期限同步延至2026年12月25日"
