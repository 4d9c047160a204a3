"""Idempotency-Key over real HTTP, on SQLite and PostgreSQL (api/idempotency.py, cases/platform/idempotency.py)."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select, update

from cases.platform import idempotency as store
from cases.models import Case, CaseEvent, IdempotencyKey
from tests.machine_paths import HttpDriver, action_payload, create_payload

N = 10


def fire_together(calls) -> list:
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=20)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def count_cases(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Case))


def keyed(key: str) -> dict:
    return {"Idempotency-Key": key}


def test_parallel_identical_creations_make_one_case(api, world, clock, db):
    payload = create_payload("hazard", world, clock)
    clients = [api(world.officer) for _ in range(N)]  # one connection each: really in parallel
    responses = fire_together([
        (lambda c=c: c.post("/api/cases", json=payload, headers=keyed("create-b3-001"))) for c in clients])
    assert [r.status_code for r in responses] == [201] * N, [(r.status_code, r.text[:300]) for r in responses if r.status_code != 201]
    assert len({r.content for r in responses}) == 1  # ten identical bodies
    assert count_cases(db) == 1
    replayed = [r.headers.get("idempotent-replayed") for r in responses]
    assert replayed.count(None) == 1 and replayed.count("true") == N - 1
    # a later retry is replayed too, with the same body, and still makes nothing
    again = clients[0].post("/api/cases", json=payload, headers=keyed("create-b3-002"))
    assert again.status_code == 201 and count_cases(db) == 2  # (another key: another case)
    retry = clients[1].post("/api/cases", json=payload, headers=keyed("create-b3-001"))
    assert retry.status_code == 201 and retry.content == responses[0].content
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["content-type"].startswith("application/json")
    assert count_cases(db) == 2


def test_same_key_other_body_or_path_is_refused(api, world, clock, db):
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    first = officer.post("/api/cases", json=payload, headers=keyed("k-1"))
    assert first.status_code == 201
    other = officer.post("/api/cases", json={**payload, "title": "另一处隐患"}, headers=keyed("k-1"))
    assert other.status_code == 422, other.text
    assert other.json()["error"] == "idempotency_key_reused"
    assert "幂等键" in other.json()["message"] and "请求内容不同" in other.json()["message"]
    # the body is compared as bytes: the same JSON spelled differently is another request
    spaced = officer.post("/api/cases", content=json.dumps(payload, indent=2).encode(),
                          headers={**keyed("k-1"), "Content-Type": "application/json"})
    assert spaced.status_code == 422
    case = first.json()
    elsewhere = officer.post(f"/api/cases/{case['id']}/actions/comment", json={"comment": "备注"}, headers=keyed("k-1"))
    assert elsewhere.status_code == 422 and "请求地址或方法不同" in elsewhere.json()["message"]
    assert count_cases(db) == 1


def test_bad_keys_are_refused(api, world, clock, db):
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    for bad in ("x" * 256, "键", "", "a\tb"):
        r = officer.post("/api/cases", json=payload, headers={"Idempotency-Key": bad.encode("utf-8")})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["label"] == "幂等键（Idempotency-Key）"
    two = officer.post("/api/cases", json=payload, headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert two.status_code == 422
    ok = officer.post("/api/cases", json=payload, headers=keyed("x" * 255))
    assert ok.status_code == 201
    assert count_cases(db) == 1


def test_keys_are_per_user(api, world, clock, db):
    payload = create_payload("hazard", world, clock)
    a = api(world.officer).post("/api/cases", json=payload, headers=keyed("shared"))
    b = api(world.supervisor).post("/api/cases", json=payload, headers=keyed("shared"))
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers and a.json()["id"] != b.json()["id"]
    # and another user's body under the same key is no mismatch either
    c = api(world.officer_wz).post("/api/cases", json={**payload, "title": "别的"}, headers=keyed("shared"))
    assert c.json().get("error") != "idempotency_key_reused"


def test_replayed_action_does_not_bump_version_twice(api, world, clock, db):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    body = {"version": case["version"], **action_payload("hazard", "register", world, clock)}
    officer = api(world.officer)
    url = f"/api/cases/{case['id']}/actions/register"
    first = officer.post(url, json=body, headers=keyed("register-1"))
    assert first.status_code == 200, first.text
    second = officer.post(url, json=body, headers=keyed("register-1"))
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    after = drv.get(case)
    assert after["version"] == case["version"] + 1
    assert [e["action"] for e in drv.events(case)].count("register") == 1
    # without the key the same body is a stale version: the replay above really did not run
    assert officer.post(url, json=body).status_code == 409
    # a comment (a note: no version) sent twice with one key is one event
    note = {"comment": "复核现场照片"}
    for _ in range(2):
        assert officer.post(f"/api/cases/{case['id']}/actions/comment", json=note, headers=keyed("note-1")).status_code == 200
    assert [e.get("comment") for e in drv.events(case)].count("复核现场照片") == 1


def test_a_decided_refusal_is_replayed_and_a_retry_after_5xx_runs(api, world, clock, db):
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    bad = officer.post("/api/cases", json={**payload, "project_id": 10**9}, headers=keyed("bad-1"))
    assert bad.status_code in (404, 422), bad.text
    assert officer.post("/api/cases", json={**payload, "project_id": 10**9}, headers=keyed("bad-1")).headers.get(
        "idempotent-replayed") == "true"
    # a 401 is never stored: the token did not pass, the key is not even looked up
    anonymous = api(None).post("/api/cases", json=payload, headers=keyed("anon"))
    assert anonymous.status_code == 401
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == "anon")) == 0


def test_keys_expire_by_the_app_clock(api, world, clock, db, live_server):
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    assert officer.post("/api/cases", json=payload, headers=keyed("daily")).status_code == 201
    clock.advance(timedelta(hours=23, minutes=59))
    replay = officer.post("/api/cases", json=payload, headers=keyed("daily"))
    assert replay.headers.get("idempotent-replayed") == "true" and count_cases(db) == 1
    assert officer.post("/api/cases", json={**payload, "title": "别的"}, headers=keyed("daily")).status_code == 422
    clock.advance(timedelta(minutes=2))  # 24 h after the first use: the key is new again
    fresh = officer.post("/api/cases", json={**payload, "title": "别的"}, headers=keyed("daily"))
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert count_cases(db) == 2
    # expired rows are purged (at most every PURGE_EVERY_SECONDS per process)
    state = live_server.server.config.app.state
    state.idempotency_purged_at = None
    clock.advance(timedelta(hours=25))
    assert officer.post("/api/cases", json=payload, headers=keyed("purge-trigger")).status_code == 201
    with db.session() as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["purge-trigger"]


def test_an_abandoned_key_is_taken_over_and_the_old_owner_cannot_commit(api, world, clock, db):
    """A request that died before its effect committed leaves its key locked; after LOCK_SECONDS a
    retry takes it over and runs. Should the old owner still be alive, its commit is refused."""
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    body = json.dumps(payload).encode()
    import hashlib

    lookup = dict(user_id=world.officer.id, key="crashed", method="POST", path="/api/cases",
                  body_sha256=hashlib.sha256(body).hexdigest(), ttl=timedelta(hours=24))
    dead = store.reserve(db, now=clock.now(), **lookup)  # as if a process reserved it and died
    assert dead.kind == "run"
    waiting = officer.post("/api/cases", content=body, headers={**keyed("crashed"), "Content-Type": "application/json"},
                           timeout=60)
    assert waiting.status_code == 409 and waiting.json()["error"] == "idempotency_in_progress"
    assert waiting.headers["retry-after"] == "1"
    clock.advance(timedelta(seconds=store.LOCK_SECONDS + 1))
    taken = officer.post("/api/cases", content=body, headers={**keyed("crashed"), "Content-Type": "application/json"})
    assert taken.status_code == 201, taken.text
    # the old owner wakes up and tries to commit an effect: refused, nothing written
    token = store.current.set(dead.reservation)
    try:
        with db.transaction() as s:
            s.execute(update(Case).values(title="不该写入"))
        raise AssertionError("the commit should have been refused")
    except store.IdempotencyKeyTakenOver:
        pass
    finally:
        store.current.reset(token)
    with db.session() as s:
        assert s.scalars(select(Case.title)).all() == [payload["title"]]


def test_effect_committed_without_a_stored_response_is_never_run_twice(api, world, clock, db):
    """The crash window: effect committed, the process died before storing the response."""
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    body = json.dumps(payload).encode()
    import hashlib

    lookup = dict(user_id=world.officer.id, key="lost", method="POST", path="/api/cases",
                  body_sha256=hashlib.sha256(body).hexdigest(), ttl=timedelta(hours=24))
    res = store.reserve(db, now=clock.now(), **lookup).reservation
    token = store.current.set(res)
    try:
        with db.transaction() as s:  # the effect's transaction carries the key's mark
            s.execute(update(Case).values(title="x"))  # (no rows: the mark alone is what matters)
    finally:
        store.current.reset(token)
    assert res.committed
    clock.advance(timedelta(hours=1))
    r = officer.post("/api/cases", content=body, headers={**keyed("lost"), "Content-Type": "application/json"})
    assert r.status_code == 409 and r.json()["error"] == "idempotency_outcome_unknown", r.text
    assert count_cases(db) == 0


def test_a_failed_transaction_leaves_no_mark(db, world, clock):
    import hashlib

    res = store.reserve(db, now=clock.now(), user_id=world.officer.id, key="rolled-back", method="POST",
                        path="/api/cases", body_sha256=hashlib.sha256(b"").hexdigest(),
                        ttl=timedelta(hours=24)).reservation
    token = store.current.set(res)
    try:
        with db.transaction() as s:
            s.execute(update(CaseEvent).values(action="x"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    finally:
        store.current.reset(token)
    assert not res.committed
    with db.session() as s:
        assert s.get(IdempotencyKey, res.id).committed_at is None
    store.release(db, res)
    with db.session() as s:
        assert s.get(IdempotencyKey, res.id) is None


def test_a_token_that_no_longer_passes_gets_no_replay(api, world, clock, db, live_server):
    """The middleware authenticates as the routes do before it looks a key up: a deactivated user's
    (or an expired, revoked token's) retry is a 401, never the stored response."""
    officer = api(world.officer)
    payload = create_payload("hazard", world, clock)
    assert officer.post("/api/cases", json=payload, headers=keyed("before-deactivation")).status_code == 201
    with db.session() as s:
        row = s.scalars(select(IdempotencyKey)).one()
        assert (row.user_id, row.response_status) == (world.officer.id, 201) and row.committed_at is not None
    with db.transaction() as s:
        from cases.models import User

        s.execute(update(User).where(User.id == world.officer.id).values(active=False))
    # No user cache since sessions (api/deps.py reads the user on every request): the next request sees it.
    again = officer.post("/api/cases", json=payload, headers=keyed("before-deactivation"))
    assert again.status_code == 401 and "idempotent-replayed" not in again.headers
    assert "id" not in again.json()


def test_a_5xx_before_commit_releases_the_key_and_after_commit_is_never_run_again(db, world, clock, tmp_path):
    """A route of a separate app that fails on purpose: before its transaction commits (the key is
    released, the retry runs), and after (the retry learns it was executed)."""

    from api.app import create_app
    from cases.platform.config import Settings
    from cases.platform.security import issue_token
    from tests.conftest import SECRET, Api, LiveServer

    app = create_app(database=db, clock=clock,
                     settings=Settings(secret_key=SECRET, database_url=db.url, data_dir=tmp_path / "data"))
    calls = {"before": 0, "after": 0}

    @app.post("/api/test-flaky/{when}")
    def flaky(when: str):
        calls[when] += 1
        with db.transaction() as s:
            s.execute(update(Case).values(title=f"{when}-{calls[when]}"))
            if when == "before" and calls[when] == 1:
                raise RuntimeError("fails before its commit")
        if when == "after":
            raise RuntimeError("fails after its commit")
        return {"calls": calls[when]}

    server = LiveServer(app)
    client = Api(server.url, issue_token(world.officer.id, app.state.signing_key, clock.now(), timedelta(days=1)))
    client.http.headers["Connection"] = "close"  # uvicorn drops a connection whose request raised
    try:
        first = client.post("/api/test-flaky/before", json={}, headers=keyed("flaky-1"))
        assert first.status_code == 500
        retry = client.post("/api/test-flaky/before", json={}, headers=keyed("flaky-1"))
        assert retry.status_code == 200 and retry.json() == {"calls": 2} and calls["before"] == 2
        assert client.post("/api/test-flaky/before", json={}, headers=keyed("flaky-1")).json() == {"calls": 2}
        assert calls["before"] == 2

        assert client.post("/api/test-flaky/after", json={}, headers=keyed("flaky-2")).status_code == 500
        again = client.post("/api/test-flaky/after", json={}, headers=keyed("flaky-2"))
        assert again.status_code == 500 and again.headers["idempotent-replayed"] == "true"
        assert "请求已经执行" in again.json()["message"]
        assert calls["after"] == 1
    finally:
        client.close()
        server.stop()


def test_a_keyed_body_is_read_within_a_bound(api, world, clock, db):
    from api.idempotency import MAX_BODY_BYTES

    big = b'{"kind": "hazard", "title": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    r = api(world.officer).post("/api/cases", content=big, headers={**keyed("big"), "Content-Type": "application/json"})
    assert r.status_code == 413 and "请求体过大" in r.json()["message"]
    assert count_cases(db) == 0
