"""约谈 commitments are clocks of their own (cases/interviews/, docs/interviews.md): the case's own
transitions and its closure leave them running (``EXTERNAL_CLOCKS``), they never colour the case's
light, and a missed one still climbs on a closed case; bad input is refused naming the field."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.clocks.sweep import fire_due_batch
from cases.models import Case, Deadline, RungFiring
from tests.machine_paths import HttpDriver


def _interview(drv, world, case, clock, **commitment):
    officer = drv.client(world.officer)
    r = officer.post("/api/interviews", json={
        "case_id": case["id"], "measure": "reminder", "reason": "整改迟缓，约谈提醒",
        "scheduled_at": clock.now().isoformat(), "place": "姑苏区住建局", "summon_enterprise": True})
    assert r.status_code == 200, r.text
    iv = r.json()
    r = officer.post(f"/api/interviews/{iv['id']}/held", json={
        "held_at": clock.now().isoformat(), "hosts": "officer", "minutes": "企业承诺开展全员安全教育。",
        "attendees": [{"name": "周", "unit": world.e1.name, "position": "经理"}],
        "commitments": [{"content": "组织全体作业人员安全教育培训", "responsible_person": "周", **commitment}]})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_commitment_outlives_the_cases_transitions_and_closure(api, world, clock, db):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "registered", enterprise_id=world.e1.id)
    iv = _interview(drv, world, case, clock, within=5, unit="working_day")
    [c] = iv["commitments"]
    with db.session() as s:
        before = s.get(Case, case["id"])
        light_due = before.clock_due_at
    for action in ("start_rectification", "verify", "close"):
        case = drv.act(case, action)
    assert case["state"] == "closed"
    with db.session() as s:
        d = s.get(Deadline, c["deadline_id"])
        assert d.status == "open" and d.affects_light is False and d.key == "commitment" and d.policy_version == 3
        due_at = d.due_at
    assert light_due is not None and light_due != due_at, "the case's light follows its own clock"
    # The commitment runs out on the closed case: its overdue rung fires, once.
    clock.set(due_at + timedelta(minutes=5))
    fire_due_batch(db, clock.now())
    fire_due_batch(db, clock.now())
    with db.session() as s:
        rungs = list(s.scalars(select(RungFiring.rung).where(RungFiring.deadline_id == c["deadline_id"])))
    assert rungs.count("overdue") == 1
    again = drv.client(world.officer).get(f"/api/interviews/{iv['id']}").json()
    assert again["commitments"][0]["status"] == "overdue"


def test_bad_input_is_refused_naming_the_field(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "registered", enterprise_id=world.e1.id)
    officer = drv.client(world.officer)
    r = officer.post("/api/interviews", json={"case_id": case["id"], "reason": "x", "place": "",
                                              "scheduled_at": "明天"})
    assert r.status_code == 422
    assert [e["label"] for e in r.json()["errors"]] == ["约谈时间"], r.text
    r = officer.post("/api/interviews", json={"case_id": case["id"], "reason": "x", "place": "",
                                              "scheduled_at": clock.now().isoformat()})
    assert r.status_code == 422
    assert {"约谈地点", "被约谈单位"} <= {e["label"] for e in r.json()["errors"]}, r.text
    r = officer.post("/api/interviews", json={"case_id": case["id"], "reason": "x", "place": "会议室",
                                              "scheduled_at": clock.now().isoformat(), "summon_enterprise": True})
    iv = r.json()
    r = officer.post(f"/api/interviews/{iv['id']}/held", json={
        "held_at": clock.now().isoformat(), "hosts": "officer", "minutes": "记录",
        "attendees": [{"name": "周", "unit": "单位", "position": ""}],
        "commitments": [{"content": "整改", "responsible_person": "周",
                         "due_date": clock.now().date().isoformat()}]})
    assert r.status_code == 422
    labels = {e["label"] for e in r.json()["errors"]}
    assert labels == {"参加人员第1行职务", "承诺事项第1项完成时限"}, labels
    assert officer.get(f"/api/interviews/{iv['id']}").json()["status"] == "scheduled"
    # An enterprise contact may read it (its unit was summoned) but not record it.
    contact = drv.client(world.contact)
    assert contact.get(f"/api/interviews/{iv['id']}").status_code == 200
    assert contact.post(f"/api/interviews/{iv['id']}/held", json={
        "held_at": clock.now().isoformat(), "hosts": "x", "minutes": "x",
        "attendees": [{"name": "周", "unit": "单位", "position": "经理"}]}).status_code == 403
