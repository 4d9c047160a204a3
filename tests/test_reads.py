"""Reads stay lean: the number of SQL statements of a list does not grow with what it lists, and
the shortcuts taken for it (prefetching a page's variables) give the same answers as the long way.
Also: argon2 parameters of older hashes are upgraded at login, and the structured request log."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import event, select, update

from cases.platform.config import Settings
from cases.models import OutboxMessage, Supervision, User
from cases.platform.security import PASSWORD_MEMORY_KIB, PASSWORD_TIME_COST, verify_password
from notifications.rendering.variables import build_variables, prefetch

REMINDER_VARS = {"task": "完成隐患整改", "days_left": 2, "light": "yellow", "deadline_at": "2026-11-30T16:00:00+00:00",
                 "due_date": "2026-11-30", "deadline_provisional": False}


@contextmanager
def statements(db):
    """The SQL statements the database receives meanwhile (from any thread: the live server's too)."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _cases(api, world, n: int) -> list[dict]:
    officer = api(world.officer)
    out = []
    for i in range(n):
        r = officer.post("/api/cases", json={"kind": "hazard", "title": f"{i}号楼临边防护缺失", "project_id": world.p1.id,
                                             "description": "临边未设置防护栏杆", "location": f"{i}号楼"})
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def _inbox_messages(db, clock, cases: list[dict], user: User, tag: str) -> None:
    with db.transaction() as s:
        for i, c in enumerate(cases):
            s.add(OutboxMessage(dedupe_key=f"reads:{tag}:{c['id']}:{i}", case_id=c["id"], template="reminder",
                                recipient_user_id=user.id, channel="inbox", variables=REMINDER_VARS,
                                status="sent", attempts=1, next_attempt_at=clock.now(), created_at=clock.now()))


def _inbox_statements(db, client) -> tuple[int, dict]:
    with statements(db) as seen:
        r = client.get("/api/inbox")
    assert r.status_code == 200, r.text
    return len(seen), r.json()


def test_inbox_statements_do_not_grow_with_messages(db, api, world, clock):
    cases = _cases(api, world, 9)
    officer = api(world.officer)
    _inbox_messages(db, clock, cases[:2], world.officer, "a")  # two messages of two cases
    few, body = _inbox_statements(db, officer)
    assert body["total"] == 2
    _inbox_messages(db, clock, cases[2:], world.officer, "b")  # nine messages of nine cases
    many, body = _inbox_statements(db, officer)
    assert body["total"] == 9 and len(body["items"]) == 9
    assert all(i["subject"] and "无法显示" not in i["text"] for i in body["items"]), body["items"]
    assert many == few, f"/api/inbox: {few} statements for 2 messages, {many} for 9"


def test_prefetched_variables_equal_the_long_way(db, api, world, clock):
    cases = _cases(api, world, 3)
    _inbox_messages(db, clock, cases, world.officer, "c")
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        one_by_one = [build_variables(s, m) for m in rows]
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        prefetch(s, rows)
        with statements(db) as seen:
            batched = [build_variables(s, m) for m in rows]
    assert batched == one_by_one
    assert seen == []  # every read was prefetched


def _supervise(db, clock, cases: list[dict], tag: str) -> None:
    with db.transaction() as s:
        for c in cases:
            s.add(Supervision(case_id=c["id"], listing_jurisdiction_code="320500", supervised_jurisdiction_code="320508",
                              level="city", notice_no=f"督-{tag}-{c['id']}", reason="major_hazard", requirements="限期整改",
                              status="listed", listed_at=clock.now(), history=[]))


def test_supervision_list_statements_do_not_grow(db, api, world, clock):
    cases = _cases(api, world, 8)
    supervisor = api(world.supervisor)
    _supervise(db, clock, cases[:1], "a")
    with statements(db) as few:
        r = supervisor.get("/api/supervisions")
    assert r.status_code == 200 and r.json()["total"] == 1
    _supervise(db, clock, cases[1:], "b")
    with statements(db) as many:
        r = supervisor.get("/api/supervisions")
    body = r.json()
    assert r.status_code == 200 and body["total"] == 8
    assert {i["listing_authority"]["code"] for i in body["items"]} == {"320500"}
    assert {i["case"]["id"] for i in body["items"]} == {c["id"] for c in cases}
    assert len(many) == len(few), f"/api/supervisions: {len(few)} statements for 1, {len(many)} for 8"


def test_old_argon2_hash_is_upgraded_at_login(db, api, world, live_server):
    import httpx

    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("old-params-pw")
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(password_hash=old))
        epoch = s.get(User, world.officer.id).token_epoch
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        bad = http.post("/api/auth/token", data={"username": "officer", "password": "wrong-pw"})
        assert bad.status_code == 401
        with db.session() as s:
            assert s.get(User, world.officer.id).password_hash == old  # a failed login changes nothing
        r = http.post("/api/auth/token", data={"username": "officer", "password": "old-params-pw"})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        with db.session() as s:
            user = s.get(User, world.officer.id)
            new, new_epoch = user.password_hash, user.token_epoch
        assert new != old and f"m={PASSWORD_MEMORY_KIB},t={PASSWORD_TIME_COST},p=1" in new
        assert verify_password(new, "old-params-pw") and not verify_password(new, "wrong-pw")
        assert new_epoch == epoch  # same password: the tokens already issued stay good
        assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        again = http.post("/api/auth/token", data={"username": "officer", "password": "old-params-pw"})
        assert again.status_code == 200
        with db.session() as s:
            assert s.get(User, world.officer.id).password_hash == new  # already current: not rehashed again


def test_access_log_off_and_request_log_on_in_production(tmp_path):
    prod = Settings(env="production", secret_key="x" * 40, data_dir=tmp_path)
    dev = Settings(env="development", data_dir=tmp_path)
    assert (prod.effective_access_log, prod.effective_request_log) == (False, True)
    assert (dev.effective_access_log, dev.effective_request_log) == (True, False)
    forced = Settings(env="production", secret_key="x" * 40, data_dir=tmp_path, access_log=True, request_log=False)
    assert (forced.effective_access_log, forced.effective_request_log) == (True, False)


def test_request_log_writes_one_json_line_per_request(database, test_clock, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.request_log import log

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    settings = Settings(env="production", secret_key="y" * 40, database_url=database.url, data_dir=tmp_path)
    app = create_app(database=database, clock=test_clock, settings=settings)
    keep = Keep()
    log.addHandler(keep)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/me?q=secret-search").status_code == 401
    finally:
        log.removeHandler(keep)
    lines = [json.loads(r.getMessage()) for r in records]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [("GET", "/healthz", 200), ("GET", "/api/me", 401)]
    assert all(isinstance(x["ms"], float) and "ts" in x for x in lines)
    assert "secret-search" not in json.dumps(lines)  # the query string is not logged


def test_default_json_response_is_the_same_json(api, world, live_server):
    """orjson renders the API's JSON (api/responses.py): the same bytes as Starlette's JSONResponse."""
    from starlette.responses import JSONResponse

    from api.responses import OrjsonResponse

    body = {"名称": "姑苏区", "n": 1, "x": [1.5, None, True, -0.25], "nested": {"a": "b\"c"}, "e": "", "big": 2**53}
    assert OrjsonResponse(body).body == JSONResponse(body).body
    assert live_server.server.config.app.router.default_response_class is OrjsonResponse
    r = api(world.officer).get("/api/me")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["username"] == "officer"
