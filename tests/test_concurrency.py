"""Conflicting actions fired at one case at the same instant: exactly one wins, the log stays whole."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.machine_paths import HttpDriver, action_payload, create_payload

N = 8


def fire_together(calls) -> list:
    """Run the callables in N threads released at once by a barrier; return their results in order."""
    barrier = threading.Barrier(len(calls))
    entered = []

    def run(call):
        barrier.wait(timeout=20)
        entered.append(threading.get_ident())
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(run, calls))
    assert len(set(entered)) == len(calls)  # really N threads at once, not one after the other
    return results


def check_one_winner(drv: HttpDriver, case: dict, responses, action_names: set[str], before: list[dict]) -> dict:
    """``before``: the event log before the burst."""
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (len(responses) - 1), [(r.status_code, r.text[:200]) for r in responses]
    for r in responses:
        if r.status_code == 409:
            body = r.json()
            assert body["error"] in ("stale_version", "action_not_allowed"), body
            assert body.get("current_version", body.get("version")) == case["version"] + 1
    events = drv.events(case)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # exactly one new action event, and it is one of the fired actions (system events may follow it)
    new = [e for e in events[len(before):] if e["actor"]["id"] is not None]
    assert events[:len(before)] == before
    assert len(new) == 1 and new[0]["action"] in action_names
    after = drv.get(case)
    assert after["version"] == case["version"] + 1
    return after


def test_concurrent_register(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    body = {"version": case["version"], **action_payload("hazard", "register", world, clock)}
    clients = [api(world.officer if i % 2 else world.supervisor) for i in range(N)]  # one HTTP client each
    before = drv.events(case)
    responses = fire_together([
        (lambda c=c: c.post(f"/api/cases/{case['id']}/actions/register", json=body)) for c in clients])
    after = check_one_winner(drv, case, responses, {"register"}, before)
    assert after["state"] == "registered"
    assert [e["action"] for e in drv.events(case)].count("register") == 1


def test_concurrent_mixed_actions_on_one_version(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "registered")
    calls = []
    for i in range(N):
        user = (world.officer, world.supervisor, world.contact)[i % 3]
        action = "start_rectification" if i % 2 == 0 else "comment"
        c = api(user)
        payload = {"version": case["version"], **({"comment": f"并发备注{i}"} if action == "comment" else {})}
        calls.append(lambda c=c, action=action, payload=payload:
                     c.post(f"/api/cases/{case['id']}/actions/{action}", json=payload))
    before = drv.events(case)
    responses = fire_together(calls)
    # comments never conflict: every one lands; of the actions on one version exactly one wins
    comments = [r for r, c in zip(responses, range(N)) if c % 2 == 1]
    actions = [r for r, c in zip(responses, range(N)) if c % 2 == 0]
    assert [r.status_code for r in comments] == [200] * len(comments), [r.text[:200] for r in comments]
    assert sorted(r.status_code for r in actions) == [200] + [409] * (len(actions) - 1)
    events = drv.events(case)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and events[:len(before)] == before
    new = [e["action"] for e in events[len(before):] if e["actor"]["id"] is not None]
    assert sorted(new) == sorted(["comment"] * len(comments) + ["start_rectification"])
    assert {e["comment"] for e in events if e["action"] == "comment"} == {f"并发备注{i}" for i in range(1, N, 2)}
    after = drv.get(case)
    assert after["state"] == "rectifying" and after["version"] == case["version"] + 1


def test_concurrent_start_rectification_then_a_second_round(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("dangerous_building", "registered")
    case = drv.act(case, "record_evacuation")
    body = {"version": case["version"], **action_payload("dangerous_building", "start_rectification", world, clock)}
    clients = [api(world.officer) for _ in range(N)]
    before = drv.events(case)
    responses = fire_together([
        (lambda c=c: c.post(f"/api/cases/{case['id']}/actions/start_rectification", json=body)) for c in clients])
    case = check_one_winner(drv, case, responses, {"start_rectification"}, before)
    assert case["state"] == "rectifying"
    # a second burst on the new version
    body = {"version": case["version"], **action_payload("dangerous_building", "reject", world, clock)}
    before = drv.events(case)
    responses = fire_together([
        (lambda c=c: c.post(f"/api/cases/{case['id']}/actions/reject", json=body)) for c in clients])
    case = check_one_winner(drv, case, responses, {"reject"}, before)
    assert case["rectification_rounds"] == 1


def test_concurrent_creation_numbers_are_unique_and_gap_free(api, world, clock):
    clients = [api(world.officer) for _ in range(N)]
    body = create_payload("hazard", world, clock)
    responses = fire_together([(lambda c=c: c.post("/api/cases", json=body)) for c in clients])
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == [f"320508-YH-2026-{i:06d}" for i in range(1, N + 1)]


def test_a_transition_does_not_wait_for_a_deriver_holding_rows_that_reference_the_case(api, world, clock, database):
    """The derive process inserts documents and messages that reference the case; for each such
    foreign key PostgreSQL takes FOR KEY SHARE on the case row until the deriver's transaction ends.
    The transition locks its case FOR NO KEY UPDATE (cases/ledger/transition_path.py), which that
    does not block: an action goes on while a niced derive process is mid-batch. With FOR UPDATE it
    waited for the whole batch (lock waits sampled under bench/transitions.py at 100/s,
    docs/performance.md session 24). Two transitions of one case still exclude each other (the tests
    above). On SQLite the holder is a reader: a reader never holds a transition up either."""
    from sqlalchemy import text

    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    body = {"version": case["version"], **action_payload("hazard", "register", world, clock)}
    client = api(world.officer)
    with database.engine.connect() as holder:
        if database.dialect == "postgresql":  # what an INSERT referencing the case takes
            holder.execute(text("SELECT id FROM cases WHERE id = :id FOR KEY SHARE"), {"id": case["id"]})
        else:
            holder.execute(text("SELECT id FROM cases WHERE id = :id"), {"id": case["id"]})
        with ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(client.post, f"/api/cases/{case['id']}/actions/register", json=body)
            try:
                # Generous: a loaded machine answers in well under a second; a blocked one never does.
                r = answer.result(timeout=60)
            finally:
                holder.rollback()  # lets a blocked request (the old lock) finish before the pool closes
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "registered"
