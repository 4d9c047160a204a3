"""Every action the machine forbids in a state is refused with 409 — generated from the machine data."""
from __future__ import annotations

import pytest

from tests.machine_paths import KINDS, PATHS, HttpDriver, actor_for, definition


def test_paths_cover_every_state():
    for kind in KINDS:
        assert set(PATHS[kind]) == set(definition(kind).state_names), kind


@pytest.mark.parametrize("kind", KINDS)
def test_forbidden_actions_are_refused_and_change_nothing(api, world, clock, kind):
    d = definition(kind)
    drv = HttpDriver(api, world, clock)
    checked = 0
    for state in d.state_names:
        case = drv.drive(kind, state)
        before = drv.get(case)
        n_events = len(drv.events(case))
        allowed_for = {}  # user id -> what GET says this user may do now
        forbidden = [a for a in d.actions if state not in a.sources]
        assert forbidden, f"{kind}.{state}: everything allowed?"
        for action in forbidden:
            user = actor_for(action, world)
            r = drv.try_act(case, action.name, user)
            assert r.status_code == 409, f"{kind}.{state} {action.name} by {user.username}: {r.status_code} {r.text}"
            body = r.json()
            assert body["error"] == "action_not_allowed"
            assert body["state"] == state
            assert action.name not in body["allowed_actions"]
            assert body["version"] == before["version"]
            if user.id not in allowed_for:
                allowed_for[user.id] = drv.get(case, user)["allowed_actions"]
            assert body["allowed_actions"] == allowed_for[user.id]
            assert action.label in body["message"] and d.state(state).label in body["message"]
            checked += 1
        after = drv.get(case)
        assert after == before, f"{kind}.{state}: case changed by refused actions"
        assert len(drv.events(case)) == n_events
    assert checked >= len(d.state_names)


def test_unknown_action_is_404(api, world, clock):
    drv = HttpDriver(api, world, clock)
    for kind in KINDS:
        case = drv.create(kind)
        r = drv.try_act(case, "fly_to_the_moon", fields={})
        assert r.status_code == 404, r.text
        body = r.json()
        assert "fly_to_the_moon" in body["message"]
        assert set(body["actions"]) == {a.name for a in definition(kind).actions}
        assert drv.get(case)["version"] == 1 and len(drv.events(case)) == 1
    # an unknown case is 404 too
    r = drv.client(world.officer).post("/api/cases/999999/actions/register", json={"version": 1})
    assert r.status_code == 404 and "不存在" in r.json()["message"]
