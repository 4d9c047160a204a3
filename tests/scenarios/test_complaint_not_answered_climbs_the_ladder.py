"""A complaint nobody answers, climbing the ladder.

On Monday 23 November 2026 at 09:00 a resident reports on the public page that a site on 平江路
works through the night. The 姑苏区 bureau must answer by Monday 14 December (15 working days). The
next day the city's supervisor assigns the case to a 姑苏区 officer, who does nothing.

The clock is the officer's, so nothing goes to any enterprise: the officer is reminded on Friday
11 December (one working day before) and on the due day at 09:00; when it passes, the officer and
the officer's supervisor (苏州市) are warned and the case turns red — on the overdue list and under
逾期未答复 in the complaints list; three working days later (Thursday 17 December) the supervisors
of the level above 姑苏区 (苏州市) get a 督办提醒 asking them to see it done. The complainant, asking with her code, reads only 已受理，待答复. On
Monday 21 December the officer finally answers: the clock is met (late), the light goes out, the
complainant reads the reply, and nothing fires again.
"""
from datetime import timedelta

from tests.scenarios.conftest import beijing

REPORT = {"jurisdiction_code": "320508", "content": "平江路某工地每天夜里十一点以后还在打桩，附近居民无法休息",
          "location": "平江路9号附近", "contact_name": "刘先生", "contact_phone": "13600002222"}


def _reply_rungs(story, case):
    return [(e["payload"]["rung"], e["at"][:10]) for e in story.events(case)
            if e["action"] == "rung_fired" and e["payload"].get("deadline") == "答复举报人期限"]


def test_a_complaint_not_answered_climbs_the_ladder(story):
    world = story.world
    anon = story.drv._api(None)
    r = anon.post("/api/public/complaints", json=REPORT)
    assert r.status_code == 201, r.text
    filed = r.json()
    assert filed["reply_due_date"] == "2026-12-14"
    city = story.client(world.supervisor)
    [item] = city.get("/api/complaints").json()["items"]
    case = story.get({"id": item["case_id"]})
    assert case["state"] == "found" and case["source"] == "public_report" and case["assignee"] is None

    story.advance(to=beijing(2026, 11, 24, 9, 30))
    case = story.act(case, "assign", world.supervisor, fields={"assignee_id": world.officer.id})
    since = story.clock.now()

    # Friday 11 December, 10:00: one working day left — the officer is reminded; yellow.
    story.advance(to=beijing(2026, 12, 11, 10), step=timedelta(hours=6))
    assert _reply_rungs(story, case) == [("remind_before", "2026-12-11")]
    assert story.get(case)["light"] == "yellow"
    # Monday 14 December, the due day: reminded again at 09:00.
    story.advance(to=beijing(2026, 12, 14, 10), step=timedelta(hours=6))
    assert [r for r, _ in _reply_rungs(story, case)] == ["remind_before", "remind_due_day"]
    assert story.get(case)["light"] == "yellow"

    # Past due: warned, with the officer's supervisor; red everywhere a regulator looks.
    story.advance(to=beijing(2026, 12, 15, 10), step=timedelta(hours=3))
    assert [r for r, _ in _reply_rungs(story, case)] == ["remind_before", "remind_due_day", "overdue"]
    case = story.get(case)
    assert case["light"] == "red"
    officer = story.client(world.officer)
    assert [c["id"] for c in officer.get("/api/overdue").json()["items"]] == [case["id"]]
    overdue = officer.get("/api/complaints", params={"status": "overdue"}).json()
    assert overdue["total"] == 1 and overdue["items"][0]["status_label"] == "逾期未答复"
    assert anon.get(f"/api/public/complaints/{filed['lookup_code']}").json()["status_label"] == "已受理，待答复"

    # Thursday 17 December, three working days after: the level above (苏州市) is told (督办提醒).
    story.advance(to=beijing(2026, 12, 17, 12), step=timedelta(hours=3))
    assert _reply_rungs(story, case) == [("remind_before", "2026-12-11"), ("remind_due_day", "2026-12-14"),
                                         ("overdue", "2026-12-14"), ("supervise", "2026-12-17")]
    sent = [m for m in story.messages(case) if m.created_at >= since and m.channel == "inbox"]
    by_template = {}
    for m in sent:
        by_template.setdefault((m.template, m.variables["rung"]), set()).add(m.recipient_user_id)
    assert by_template[("reminder", "remind_before")] == {world.officer.id}
    assert by_template[("reminder", "remind_due_day")] == {world.officer.id}
    assert by_template[("overdue_warning", "overdue")] == {world.officer.id, world.supervisor.id}
    assert by_template[("overdue_warning", "supervise")] == {world.supervisor.id}
    assert all(m.variables["task"] == "答复举报人期限" for m in sent)
    assert not [m for m in story.messages(case) if m.recipient_user_id == world.contact.id]  # no unit involved
    assert story.notified(case, "overdue_warning") == {"officer", "supervisor"}
    from notifications.rendering.render import render_message
    from notifications.rendering.variables import build_variables
    supervise = next(m for m in sent if m.variables["rung"] == "supervise")
    with story.db.session() as s:
        text = render_message(supervise.template, build_variables(s, supervise))
    assert text.subject.startswith("【督办提醒】") and "答复举报人期限" in text.short_text

    # Monday 21 December: the answer, late. The clock is met, the light goes out, nothing fires again.
    story.advance(to=beijing(2026, 12, 21, 10), step=timedelta(hours=6))
    r = officer.post(f"/api/cases/{case['id']}/complaints/reply",
                     json={"reply": "经核查，该工地夜间施工未办理许可，已责令停止夜间施工并予以处罚。"})
    assert r.status_code == 200, r.text
    case = story.get(case)
    assert case["deadlines"] == [] and case["light"] == "none"
    status = anon.get(f"/api/public/complaints/{filed['lookup_code']}").json()
    assert status["status_label"] == "已答复" and "已责令停止夜间施工" in status["reply"]
    assert "刘先生" not in str(status) and "13600002222" not in str(status)
    story.advance(days=20, step=timedelta(hours=12))
    assert len(_reply_rungs(story, case)) == 4
    assert officer.get("/api/complaints").json()["counts"] == {"pending": 0, "replied": 1, "overdue": 0}
