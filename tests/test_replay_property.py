"""Property: whatever actions are tried, the case row always equals the replay of its event log.

Random walks through the services layer (fast, no HTTP): each step picks one of the actions the
machine allows now (for some user) or, now and then, one it forbids. After every step the state
must equal ``replay_state`` over the events, seqs must be 1..n, and refused attempts change nothing.
"""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cases.ledger import services
from cases.ledger.engine import get_registry
from cases.platform.errors import ActionNotAllowed, Forbidden
from cases.models import Case, CaseEvent, Enterprise
from tests.machine_paths import KINDS, ServiceDriver, action_payload, actor_for

# Variations a step may draw instead of the generated payload (exercise grading, grades, severities).
VARIANTS = {
    ("accident", "update_casualties"): st.fixed_dictionaries({
        "deaths": st.integers(0, 12), "serious_injuries": st.integers(0, 60), "direct_loss": st.sampled_from([0, 2e6, 6e7])}),
    ("accident", "register"): st.fixed_dictionaries({
        "deaths": st.integers(1, 4), "serious_injuries": st.integers(0, 12), "direct_loss": st.just(1e6)}),
    ("dangerous_building", "register"): st.sampled_from([
        {"appraisal_grade": "C", "handling": "treat"}, {"appraisal_grade": "C", "handling": "observe"},
        {"appraisal_grade": "D", "handling": "stop_use"}, {"appraisal_grade": "D", "handling": "demolish"}]),
    ("hazard", "register"): st.fixed_dictionaries({"severity": st.sampled_from(["general", "serious"])}),
    ("hazard", "decide_extension"): st.fixed_dictionaries({"approved": st.booleans()}),
}


def snapshot(session, case_id):
    case = session.get(Case, case_id)
    session.refresh(case)
    credit = session.scalar(select(Enterprise.credit_score).where(Enterprise.id == case.enterprise_id)) \
        if case.enterprise_id else None
    n_events = len(session.scalars(select(CaseEvent.id).where(CaseEvent.case_id == case_id)).all())
    return (case.kind, case.machine_version, case.state, case.version, case.event_seq, dict(case.details or {}),
            case.jurisdiction_code, case.assignee_id, case.rectification_rounds, case.reopen_count, credit, n_events)


def check_replay(session, case_id):
    case = session.get(Case, case_id)
    session.refresh(case)
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kind, state, last = services.replay_state(get_registry().get, events)
    assert (kind, state, last) == (case.kind, case.state, case.event_seq)
    assert all(e.from_state == prev.to_state for prev, e in zip(events, events[1:]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_random_walks_replay(db, world, clock, data):
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    drv = ServiceDriver(db, world, clock)
    case_id = drv.create(kind)
    users = (world.officer, world.supervisor, world.contact)
    steps = data.draw(st.integers(1, 10), label="steps")
    for _ in range(steps):
        clock.advance(data.draw(st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(days=12)]), label="wait"))
        with db.session() as s:
            case = services.get_case(s, world.officer, case_id)
            definition = services.definition_of(case)
            allowed = {}
            for u in users:
                for a in services.allowed_actions(s, u, case, now=clock.now()):
                    allowed.setdefault(a.name, (a, u))
            refused = [a for a in definition.actions
                       if a.name not in {x.name for x in services.allowed_actions(s, actor_for(a, world), case,
                                                                                  now=clock.now())}]
            before = snapshot(s, case_id)
        try_forbidden = refused and (not allowed or data.draw(st.integers(0, 4), label="forbid?") == 0)
        if try_forbidden:
            action = data.draw(st.sampled_from(refused), label="forbidden")
            user = actor_for(action, world)
            payload = action_payload(before[0], action, world, clock, version=before[1])
            try:
                drv.act(case_id, action.name, user, payload=payload, with_photo=False)  # refused means refused
            except (ActionNotAllowed, Forbidden):  # Forbidden: an accident the city took over (提级)
                pass
            else:
                raise AssertionError(f"{before[0]}.{before[2]}: forbidden {action.name} was performed")
            with db.session() as s:
                assert snapshot(s, case_id) == before
        else:
            name = data.draw(st.sampled_from(sorted(allowed)), label="action")
            action, user = allowed[name]
            payload = action_payload(before[0], action, world, clock, version=before[1])
            variant = VARIANTS.get((before[0], name))
            if variant is not None:
                payload.update(data.draw(variant, label="variant"))
            drv.act(case_id, name, user, payload=payload)
            with db.session() as s:
                after = snapshot(s, case_id)
                # a note (comment) adds an event but not a version; every other action bumps it
                assert after[3] == before[3] + (0 if action.is_note else 1) and after[4] >= before[4] + 1
                assert after[2] == (action.dest or before[2]) or name == "reclassify"
                check_replay(s, case_id)
                continue
        with db.session() as s:
            check_replay(s, case_id)
