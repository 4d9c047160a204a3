"""Sessions (issue 8, item 6): logout, password change, deactivation (API and CLI), revocation on the
next request in every server on the database, and the security log admins read. Real HTTP, both
databases."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cases.platform.config import Settings
from cases.models import User
from cases.models.security import SecurityEvent
from cases.platform.security import verify_password
from tests.conftest import SECRET, LiveServer

REPO = Path(__file__).resolve().parents[1]
NEW_PW = "Quiet-harbour-42"


def _login(url: str, username: str, password: str = "secret-pw") -> httpx.Response:
    return httpx.post(f"{url}/api/auth/token", data={"username": username, "password": password}, timeout=60)


def _token(url: str, username: str, password: str = "secret-pw") -> str:
    r = _login(url, username, password)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _me(url: str, token: str) -> int:
    return httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def _post(url: str, token: str, path: str, **kw) -> httpx.Response:
    return httpx.post(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60, **kw)


@pytest.fixture
def second_server(live_server, database, clock, tmp_path):
    """Another API server on the same database (as another worker process would be)."""
    from api.app import create_app

    app = create_app(database=database, clock=clock,
                     settings=Settings(secret_key=SECRET, database_url=database.url, data_dir=tmp_path / "second"))
    # The same installation: the second server accepts the first one's tokens.
    app.state.signing_key = live_server.signing_key
    server = LiveServer(app)
    yield server
    server.stop()


def test_logout_ends_this_token_on_the_next_request_in_every_server(live_server, second_server, world):
    token, other = _token(live_server.url, "officer"), _token(live_server.url, "officer")
    assert token != other
    assert _me(second_server.url, token) == 200  # seen (and once cached, before) in the second server
    r = _post(live_server.url, token, "/api/auth/logout")
    assert r.status_code == 200 and r.json()["message"] == "已退出登录"
    assert _me(live_server.url, token) == 401
    assert _me(second_server.url, token) == 401
    assert _me(second_server.url, other) == 200  # another session of the same user goes on
    assert _post(live_server.url, token, "/api/auth/logout").status_code == 401


def test_a_logged_out_token_minted_like_the_suite_does_is_refused_too(live_server, api, world):
    client = api(world.officer)  # issue_token(user_id, key, now, ttl), as tests/conftest.py mints
    assert client.get("/api/me").status_code == 200
    assert client.post("/api/auth/logout").status_code == 200
    assert client.get("/api/me").status_code == 401


def test_password_change_checks_the_old_one_and_the_rules_and_ends_every_other_token(
        live_server, second_server, world, db):
    first, second = _token(live_server.url, "officer"), _token(live_server.url, "officer")
    r = _post(live_server.url, first, "/api/me/password", json={"old_password": "not-it-at-all", "new_password": NEW_PW})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "原密码"
    for weak, why in (("12345678", "长度不能少于"), ("1234567890123", "不能全是数字"), ("officer", "长度不能少于"),
                      ("password123", "过于常见")):
        r = _post(live_server.url, first, "/api/me/password", json={"old_password": "secret-pw", "new_password": weak})
        assert r.status_code == 422 and why in r.json()["message"] and "新密码" in r.json()["message"], r.text
    r = _post(live_server.url, first, "/api/me/password", json={"old_password": "secret-pw"})
    assert r.status_code == 422 and "新密码" in r.json()["message"]
    assert _me(second_server.url, second) == 200

    r = _post(live_server.url, first, "/api/me/password", json={"old_password": "secret-pw", "new_password": NEW_PW})
    assert r.status_code == 200, r.text
    renewed = r.json()["access_token"]
    assert _me(live_server.url, renewed) == 200  # this session goes on with its new token
    for token in (first, second):  # every token issued before: refused, in every server
        assert _me(live_server.url, token) == 401 and _me(second_server.url, token) == 401
    assert _login(live_server.url, "officer").status_code == 401
    assert _login(live_server.url, "officer", NEW_PW).status_code == 200
    with db.session() as s:
        assert verify_password(s.get(User, world.officer.id).password_hash, NEW_PW)


def test_wrong_old_passwords_count_towards_the_lockout(live_server, world):
    token = _token(live_server.url, "officer")
    for _ in range(5):
        r = _post(live_server.url, token, "/api/me/password", json={"old_password": "guess-guess", "new_password": NEW_PW})
        assert r.status_code == 422
    r = _post(live_server.url, token, "/api/me/password", json={"old_password": "secret-pw", "new_password": NEW_PW})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert _login(live_server.url, "officer").status_code == 429


def _admin_in(db, world, code: str, username: str) -> User:
    from tests.conftest import password_hash

    with db.transaction() as s:
        u = User(username=username, display_name=username, password_hash=password_hash(), role="admin",
                 jurisdiction_code=code, active=True, created_at=world.officer.created_at)
        s.add(u)
        s.flush()
        s.expunge(u)
    return u


def test_an_admin_deactivates_and_reactivates_a_user_of_their_jurisdiction(live_server, second_server, api, world, db):
    officer_token = _token(live_server.url, "officer")
    assert _me(second_server.url, officer_token) == 200
    admin = api(world.admin)
    r = admin.post(f"/api/users/{world.officer.id}/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False and "已停用" in r.json()["message"]
    assert _me(live_server.url, officer_token) == 401 and _me(second_server.url, officer_token) == 401
    assert _login(live_server.url, "officer").status_code == 401
    r = admin.post(f"/api/users/{world.officer.id}/activate")
    assert r.status_code == 200 and r.json()["active"] is True
    assert _me(live_server.url, officer_token) == 401  # reactivation does not revive old tokens
    assert _me(live_server.url, _token(live_server.url, "officer")) == 200
    assert admin.post(f"/api/users/{world.admin.id}/deactivate").status_code == 422  # not oneself
    assert admin.post("/api/users/999999/deactivate").status_code == 404


def test_deactivation_is_for_admins_of_the_users_jurisdiction_only(live_server, api, world, db):
    wuzhong_admin = _admin_in(db, world, "320506", "admin_wz")
    r = api(wuzhong_admin).post(f"/api/users/{world.officer.id}/deactivate")  # 姑苏区: not theirs
    assert r.status_code == 404
    assert api(wuzhong_admin).post(f"/api/users/{world.officer_wz.id}/deactivate").status_code == 200
    for user in (world.officer, world.supervisor, world.contact):
        r = api(user).post(f"/api/users/{world.officer.id}/deactivate")
        assert r.status_code == 403 and "系统管理员" in r.json()["message"]
    assert api(world.officer).get("/api/me").status_code == 200


def _log(client, **params) -> dict:
    r = client.get("/api/admin/security-log", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_security_log_records_sessions_denials_and_admin_acts(live_server, api, world, db, clock):
    assert _login(live_server.url, "officer", "wrong-password").status_code == 401
    assert _login(live_server.url, "ghost", "wrong-password").status_code == 401
    token = _token(live_server.url, "officer")
    _post(live_server.url, token, "/api/auth/logout")
    for _ in range(5):
        _login(live_server.url, "supervisor", "wrong-password")
    clock.advance(timedelta(minutes=1))
    r = api(world.contact).get("/api/admin/security-log")  # an enterprise user: 403, and logged
    assert r.status_code == 403
    assert api(world.officer).post(f"/api/users/{world.officer.id}/deactivate").status_code == 403
    admin = api(world.admin)
    r = admin.post("/api/users", json={"username": "newbie", "display_name": "新同事", "password": NEW_PW,
                                        "role": "officer", "jurisdiction_code": "320508"})
    assert r.status_code == 201, r.text
    assert admin.post(f"/api/users/{world.officer_wz.id}/deactivate").status_code == 200

    log = _log(admin, page_size=200)
    kinds = [e["kind"] for e in log["items"]]
    for kind in ("login", "login_failed", "logout", "lockout", "permission_denied", "admin_act", "deactivated"):
        assert kind in kinds, kind
    labels = {e["kind"]: e["kind_label"] for e in log["items"]}
    assert labels["lockout"] == "账号锁定" and labels["permission_denied"] == "权限拒绝"
    ghost = [e for e in log["items"] if e["username_typed"] == "ghost"]
    assert ghost and ghost[0]["user_id"] is None and ghost[0]["client"] == "127.0.0.1"
    denial = [e for e in log["items"] if e["kind"] == "permission_denied" and e["user_id"] == world.contact.id][0]
    assert denial["path"] == "/api/admin/security-log" and denial["method"] == "GET" and denial["reason"]
    act = [e for e in log["items"] if e["kind"] == "admin_act"]
    assert [(a["method"], a["path"], a["user_id"]) for a in act] == [("POST", "/api/users", world.admin.id)]
    deact = [e for e in log["items"] if e["kind"] == "deactivated"][0]
    assert deact["user_id"] == world.officer_wz.id and deact["actor_id"] == world.admin.id
    assert kinds.count("deactivated") == 1 and not any(a["path"].endswith("/deactivate") for a in act)

    # filters: kind, user, time range; pages
    assert {e["kind"] for e in _log(admin, kind="login_failed")["items"]} == {"login_failed"}
    assert {e["user_id"] for e in _log(admin, user_id=world.officer.id)["items"]} == {world.officer.id}
    later = _log(admin, since=(clock.now() - timedelta(seconds=30)).isoformat())["items"]
    assert later and all(e["kind"] in ("permission_denied", "admin_act", "deactivated") for e in later)
    earlier = _log(admin, until=(clock.now() - timedelta(seconds=30)).isoformat())["items"]
    assert earlier and not {e["id"] for e in earlier} & {e["id"] for e in later}
    page1, page2 = _log(admin, page_size=3), _log(admin, page_size=3, page=2)
    assert page1["total"] == log["total"] and len(page1["items"]) == 3
    assert not {e["id"] for e in page1["items"]} & {e["id"] for e in page2["items"]}
    r = admin.get("/api/admin/security-log", params={"kind": "nonsense"})
    assert r.status_code == 422 and "类型" in r.json()["message"]

    # the officer and the supervisor may not read it
    for user in (world.officer, world.supervisor, world.province):
        assert api(user).get("/api/admin/security-log").status_code == 403

    # a county admin sees entries of users of their county only (not the unknown name, nor 姑苏区)
    wuzhong = _log(api(_admin_in(db, world, "320506", "admin_wz")), page_size=200)["items"]
    assert wuzhong and {e["user_id"] for e in wuzhong} <= {world.officer_wz.id}


def _cli(db, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANJIAN_")}
    env.update(ANJIAN_DATABASE_URL=db.url, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "anjian.cli", *args], env=env, cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_deactivate_activate_and_password(live_server, api, world, db):
    token = _token(live_server.url, "officer")
    p = _cli(db, "user", "deactivate", "Officer")
    assert p.returncode == 0 and "已停用用户 officer" in p.stdout, p.stderr
    assert _me(live_server.url, token) == 401
    assert _login(live_server.url, "officer").status_code == 401
    p = _cli(db, "user", "activate", "officer")
    assert p.returncode == 0 and "已启用用户 officer" in p.stdout, p.stderr
    token = _token(live_server.url, "officer")

    p = _cli(db, "user", "password", "officer", stdin="12345678\n")
    assert p.returncode == 2 and "新密码" in p.stderr and "长度不能少于" in p.stderr
    assert _me(live_server.url, token) == 200  # refused: nothing changed
    p = _cli(db, "user", "password", "officer", stdin=NEW_PW + "\n")
    assert p.returncode == 0 and "已重置用户 officer 的密码" in p.stdout, p.stderr
    assert _me(live_server.url, token) == 401
    assert _login(live_server.url, "officer", NEW_PW).status_code == 200
    p = _cli(db, "user", "deactivate", "nobody")
    assert p.returncode == 2 and "不存在" in p.stderr
    with db.session() as s:
        kinds = set(s.scalars(select(SecurityEvent.kind)))
    assert {"deactivated", "activated", "password_changed"} <= kinds


def test_a_replayed_admin_act_is_logged_once(api, world):
    """An admin's request retried with the same Idempotency-Key is answered from the stored response
    (api/idempotency.py) and did nothing the second time: one admin_act entry, not two."""
    admin = api(world.admin)
    body = {"username": "twice", "display_name": "重试同事", "password": NEW_PW, "role": "officer",
            "jurisdiction_code": "320508"}
    first = admin.post("/api/users", json=body, headers={"Idempotency-Key": "create-twice"})
    again = admin.post("/api/users", json=body, headers={"Idempotency-Key": "create-twice"})
    assert first.status_code == again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    acts = [e for e in _log(admin, kind="admin_act")["items"] if e["path"] == "/api/users"]
    assert len(acts) == 1
