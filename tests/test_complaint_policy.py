"""The reply clock is policy data of a new version (deadlines-v2.yaml): v2 only adds it, so no clock
opened under v1 is computed differently, and new clocks record the version that opened them."""
from __future__ import annotations

from sqlalchemy import select

from cases.clocks import deadlines
from cases.models import Deadline
from state_machines.policies import default_policy, latest_version, load_policy


def test_v2_adds_the_reply_rule_and_changes_nothing_of_v1():
    v1, v2 = load_policy(1), load_policy(2)
    assert latest_version() == default_policy().version >= 2
    from dataclasses import replace

    for kind, rules in v1.rules.items():
        for rule in rules:
            # The one change v2 makes to a v1 rule: an accident's clocks also start when a 重大险情 is
            # found to be an accident (docs/dangerous-occurrence.md).
            later = v2.rule(kind, rule.key)
            assert later == rule or (kind == "accident" and replace(later, start_on=rule.start_on) == rule
                                     and set(later.start_on) - set(rule.start_on) == {"reclassify"}), (kind, rule.key)
    assert all(v2.ladders[name] == ladder for name, ladder in v1.ladders.items())
    assert v1.near_due == v2.near_due and v1.supervision == v2.supervision
    added = {(k, r.key) for k, rules in v2.rules.items() for r in rules} - \
        {(k, r.key) for k, rules in v1.rules.items() for r in rules}
    assert {("hazard", "complaint_reply"), ("major_hazard", "complaint_reply")} <= added
    assert {k for k, _ in added} <= {"hazard", "major_hazard", "dangerous_occurrence", "self_hazard"}
    rule = v2.rule("hazard", "complaint_reply")
    assert (rule.amount, rule.unit, rule.party, rule.ladder, rule.survives_closure) == (15, "working_day", "officer", "officer", True)
    assert rule.start_on == ("receive_complaint",) and rule.met_on == ("reply_complainant",)


def test_a_clock_opened_under_v1_keeps_its_version_and_date(api, world, db):
    officer = api(world.officer)
    deadlines.set_policy(load_policy(1))
    try:
        case = officer.post("/api/cases", json={"kind": "hazard", "title": "v1时登记", "project_id": world.p1.id,
                                                "source": "inspection"}).json()
        case = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="整改").json()
    finally:
        deadlines.set_policy(None)
    [before] = case["deadlines"]
    case = officer.act(case, "start_rectification").json()  # an action under v2 touches no v1 clock
    [after] = case["deadlines"]
    assert after["due_at"] == before["due_at"]
    with db.session() as s:
        assert s.scalars(select(Deadline.policy_version)).all() == [1]
