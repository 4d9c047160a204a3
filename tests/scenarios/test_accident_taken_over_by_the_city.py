"""An accident graded 较大 is taken over by the city; its one-year evaluation outlives the closure.

A formwork collapse on a 姑苏区 site kills three workers early on a Monday. The county officer
sends the flash report and grades it: three deaths make it a 较大事故, which the city
investigates (国务院令493 Art. 19), so the case moves to 苏州市. The county still reads the
case but can no longer act on it, and its officer is no longer the 承办人: until the city assigns
one of its own, the 48-hour clock's reminder goes to the city's supervisor. The city's officer files the 48-hour detailed report in time,
investigates, submits the report and records the 批复 (a 批复日期 in the future is refused), then
closes the case. A year after the 批复 the 整改评估 (安全生产法 Art. 86) still falls due.
"""
from datetime import timedelta

import pytest
from cases.models import User
from tests.conftest import password_hash
from tests.scenarios.conftest import beijing


@pytest.fixture
def city_officer(story):
    """苏州市住建局's officer (the test world has the city's supervisor only)."""
    with story.db.transaction() as s:
        u = User(username="city_officer", display_name="市局承办人", password_hash=password_hash(), role="officer",
                 jurisdiction_code="320500", supervisor_id=story.world.supervisor.id, active=True,
                 created_at=story.clock.now(), email="city@example.gov.cn")
        s.add(u)
        s.flush()
        s.expunge(u)
    return u


def _deadline(story, case, key, user):
    items = story.client(user).get(f"/api/cases/{case['id']}/deadlines").json()["items"]
    return [d for d in items if d["key"] == key][-1]


def test_accident_graded_larger_is_taken_over_by_the_city(story, city_officer):
    w = story.world
    county = w.officer
    occurred = beijing(2026, 11, 23, 7, 30)
    case = story.drv.create("accident", title="3号楼模板支撑体系坍塌", location="3号楼4层",
                            occurred_at=occurred.isoformat(), accident_type="collapse",
                            brief="浇筑混凝土时模板支撑体系坍塌，3名作业人员被埋")
    case = story.act(case, "register", county, fields={
        "enterprise_id": w.e1.id, "deaths": 3, "serious_injuries": 0, "direct_loss": 4_000_000,
        "cause": "模板支撑体系搭设不符合专项方案"})
    assert case["accident_grade"] == "larger"
    assert case["jurisdiction"]["code"] == "320500"  # 较大事故: the city investigates
    event = [e for e in story.events(case) if e["action"] == "register"][-1]
    assert "苏州市" in event["payload"]["escalated"]["reason"]

    # the county reads the case, but every action is the city's
    seen = story.get(case, county)
    assert seen["state"] == "registered" and seen["allowed_actions"] == ["comment"]
    for action, fields in (("start_rectification", {"team_lead": "区住建局局长"}),
                           ("submit_detailed_report", {"detailed_report": "区局报送的详细情况"})):
        r = story.try_act(seen, action, county, fields=fields)
        assert r.status_code == 403, r.text
        assert "苏州市住房和城乡建设局负责调查处理" in r.json()["message"]
    assert story.get(case, county)["version"] == seen["version"]

    # taken over: the county officer is no longer its 承办人; until the city assigns one, the
    # 2-hour report-up clock's reminder goes to the city's supervisors, never to the county officer
    assert case["assignee"] is None or case["assignee"].get("id") is None, case["assignee"]
    assert event["payload"]["escalated"]["unassigned"] == county.id
    story.advance(to=beijing(2026, 11, 25, 7, 10), step=timedelta(minutes=30))  # 20 min before the 48 hours
    reminders = [m for m in story.messages(case, "reminder") if (m.variables or {}).get("deadline_key") == "detailed_report"]
    assert reminders, "the 48-hour clock's reminder must go to someone"
    assert story.notified(case, "reminder") == {"supervisor"}  # 苏州市's supervisor, not 姑苏区's officer

    # the city's officer takes the case and reports the details within 48 hours
    case = story.get(case, city_officer)
    assert "start_rectification" in case["allowed_actions"]
    case = story.act(case, "assign", city_officer, fields={"assignee_id": city_officer.id})
    case = story.act(story.get(case, city_officer), "submit_detailed_report", city_officer, fields={
        "detailed_report": "事故单位、时间、地点、经过、伤亡、损失、已采取措施、参建各方及原因初判"})
    detailed = _deadline(story, case, "detailed_report", city_officer)
    assert detailed["status"] == "met"
    case = story.act(case, "start_rectification", city_officer,
                     fields={"team_lead": "市住建局副局长", "team_members": "市应急局、市公安局、市总工会"})

    # the investigation: 40 days; the 48-hour clock, met, is never red
    story.advance(days=40, step=timedelta(hours=12))
    case = story.get(case, city_officer)
    assert case["light"] != "red"
    assert _deadline(story, case, "detailed_report", city_officer)["light"] is None
    case = story.act(case, "submit_report", city_officer, fields={
        "report_summary": "模板支撑体系未按专项方案搭设，项目部未组织验收即浇筑", "penalties": "对施工单位罚款100万元"})
    story.advance(days=10, step=timedelta(hours=12))
    case = story.get(case, city_officer)
    approval = {"approval_no": "苏府复〔2027〕3号", "penalties_executed": True,
                "four_nots": ["cause", "responsibility", "measures", "education"]}
    tomorrow = (story.clock.today() + timedelta(days=1)).isoformat()
    r = story.try_act(case, "verify", city_officer, fields={**approval, "approved_on": tomorrow})
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert err["field"] == "approved_on" and err["label"] == "批复日期" and "不能晚于今天" in err["message"]
    case = story.act(case, "verify", city_officer, fields={**approval, "approved_on": story.clock.today().isoformat()})
    assert case["state"] == "verified"
    assert case["light"] != "red"
    verified_at = story.clock.now()

    case = story.act(case, "close", city_officer)
    assert case["state"] == "closed" and case["light"] == "none"
    evaluation = _deadline(story, case, "evaluation", city_officer)
    assert evaluation["status"] == "open"  # survives closure

    # a year after the 批复: the evaluation falls due through the sweep, to the case's officer
    seen = len(story.events(case, city_officer))
    story.advance(to=verified_at + timedelta(days=366), step=timedelta(days=5))
    fired = [e for e in story.events(case, city_officer)[seen:] if e["action"] == "rung_fired"]
    assert [e["payload"]["deadline"] for e in fired] == ["整改评估（批复后1年内）"]
    assert [m for m in story.messages(case, "reminder") if (m.variables or {}).get("deadline_key") == "evaluation"]
    assert "city_officer" in story.notified(case, "reminder")
