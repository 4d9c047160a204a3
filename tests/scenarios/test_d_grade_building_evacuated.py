"""A D-grade dangerous building: use stopped and residents evacuated within 24 hours, once.

On a Monday morning the appraisal of 平江路5号老公房 comes back D (整幢危房). The officer
registers it: the notice goes out and the 24-hour clock to stop use and evacuate runs. By the
afternoon the six residents are out; the officer records it (a time in the future is refused,
and so is a second record). The clock is met and never turns red. The building is treated,
accepted and closed (动态销号); months later nothing about it fires any more.
"""
from datetime import timedelta

from sqlalchemy import select, update

from cases.models import Building, Timer
from tests.scenarios.conftest import beijing, cn


def _deadlines(story, case):
    return story.client(story.world.officer).get(f"/api/cases/{case['id']}/deadlines").json()


def test_d_grade_building_is_evacuated_once_and_its_clock_never_turns_red(story):
    w = story.world
    with story.db.transaction() as s:  # the notice is addressed to the owner
        s.execute(update(Building).where(Building.id == w.b1.id).values(owner_name="苏州市姑苏区房产管理所"))
    case = story.drv.create("dangerous_building", title="平江路5号老公房D级危房", building_id=w.b1.id,
                            building_use="residential", occupants=6)
    case = story.act(case, "register", w.officer, fields={
        "appraisal_grade": "D", "appraisal_org": "苏州市房屋安全鉴定中心", "appraisal_report_no": "苏房鉴〔2026〕118号",
        "appraised_on": "2026-11-20", "handling": "stop_use"})
    [stop_use] = [d for d in case["deadlines"] if d["key"] == "stop_use"]
    assert stop_use["due_at"].startswith("2026-11-24T01:00:00")  # 24 hours: Tuesday 09:00 Beijing
    story.advance(hours=2)
    [notice] = story.document_rows(case, "dangerous_building_notice")
    text = story.text_of(notice)
    assert "D级" in text and cn(beijing(2026, 11, 24)) in text

    # the afternoon: residents out. A time still to come is refused, naming the field.
    story.advance(to=beijing(2026, 11, 23, 16))
    case = story.get(case)
    r = story.try_act(case, "record_evacuation", w.officer, fields={
        "use_stopped": True, "evacuated_count": 6, "evacuated_at": beijing(2026, 11, 23, 18).isoformat()})
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert err["field"] == "evacuated_at" and err["label"] == "撤离完成时间" and "不能晚于当前时间" in err["message"]
    case = story.act(case, "record_evacuation", w.officer, fields={
        "use_stopped": True, "evacuated_count": 6, "evacuated_at": beijing(2026, 11, 23, 15, 30).isoformat()})
    assert case["details"]["evacuation"]["evacuated_count"] == 6
    # recorded once: a second record is refused
    r = story.try_act(case, "record_evacuation", w.officer, fields={
        "use_stopped": True, "evacuated_count": 7, "evacuated_at": beijing(2026, 11, 23, 15, 45).isoformat()})
    assert r.status_code == 409, r.text
    assert "不能重复登记" in r.json()["message"] and "2026年11月23日 15:30" in r.json()["message"]
    assert "record_evacuation" not in story.get(case)["allowed_actions"]

    # the 24-hour clock is met, and stays green-or-none past its due moment
    [stop_use] = [d for d in _deadlines(story, case)["items"] if d["key"] == "stop_use"]
    assert stop_use["status"] == "met" and stop_use["light"] is None
    story.advance(to=beijing(2026, 11, 25, 9), step=timedelta(hours=2))
    assert story.get(case)["light"] != "red"
    assert case["id"] not in {c["id"] for c in story.client(w.officer).get(
        "/api/cases", params={"light": "red"}).json()["items"]}
    assert not [e for e in story.events(case) if e["action"] == "rung_fired"]
    assert not story.messages(case, "overdue_warning")

    # treatment, acceptance, 动态销号
    case = story.act(story.get(case), "start_rectification", w.officer, fields={
        "plan": "拆除重建前落实围挡、断水断电，设置警示标志", "responsible_person": "平江街道城建科科长"})
    story.advance(days=20, step=timedelta(hours=12))
    case = story.act(story.get(case), "verify", w.officer, fields={"opinion": "加固治理完成，复鉴定为B级", "new_grade": "B"})
    case = story.act(case, "close", w.officer)
    assert case["state"] == "closed" and case["light"] == "none"
    with story.db.session() as s:
        assert list(s.scalars(select(Timer).where(Timer.case_id == case["id"], Timer.status == "pending"))) == []

    # half a year later: nothing fired after the closure
    seen = len(story.events(case))
    story.advance(days=180, step=timedelta(days=1))
    assert [e["action"] for e in story.events(case)[seen:]] == []
    assert story.get(case)["light"] == "none"
