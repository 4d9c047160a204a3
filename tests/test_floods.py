"""Floods without a token (issue 8, item 2): request size limits enforced while the body streams,
login throttling with a lockout kept in the database, argon2 off the request threads, and the same
work for unknown and known users. Real HTTP against the live server, on both databases."""
from __future__ import annotations

import os
import select
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from api import limits
from cases.platform.config import Settings
from cases.platform.security import verification_count
from tests.conftest import LiveServer

MB = 1024 * 1024
BIG = 150 * MB


def _read_response(sock: socket.socket, deadline_s: float = 30) -> tuple[int, bytes]:
    sock.settimeout(deadline_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def _stream_until_answered(port: int, path: str, *, chunked: bool, total: int = BIG,
                           chunk_size: int = MB, content_type: str = "application/json") -> tuple[int, bytes, int]:
    """POST ``total`` bytes (no token) and stop sending as soon as the server answers.
    Returns (status, body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        framing = b"Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n".encode()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n".encode()
                     + framing + b"\r\n")
        payload = b"[" + b"1," * (chunk_size // 2)
        payload = payload[:chunk_size]
        sent = 0
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            piece = payload if not chunked else f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(payload)
        status, body = _read_response(sock)
        return status, body, sent
    finally:
        sock.close()


def _rss() -> int:
    """This process's resident set size now (Linux /proc; not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _assert_413(status: int, body: bytes) -> None:
    import json

    assert status == 413
    doc = json.loads(body)
    assert doc["error"] == "payload_too_large"
    assert "请求体过大" in doc["message"] and "1 MB" in doc["message"]


def test_a_declared_150mb_body_is_refused_before_a_byte_of_it_is_read(live_server):
    sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=30)
    try:  # headers only: the answer comes without the body ever being sent
        sock.sendall(f"POST /api/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {BIG}\r\n\r\n".encode())
        status, body = _read_response(sock)
    finally:
        sock.close()
    _assert_413(status, body)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_four_parallel_150mb_bodies_without_a_token_are_cut_off_and_memory_stays_flat(live_server, chunked):
    before = _rss()  # the live server runs in this process
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _stream_until_answered(live_server.port, "/api/cases", chunked=chunked),
                                range(4)))
    grown = _rss() - before
    for status, body, sent in results:
        _assert_413(status, body)
        if chunked:  # cut off soon after the 1 MB cap (socket buffers hold a few MB more), far from 150 MB
            assert sent < 40 * MB, sent
    assert grown < 100 * MB, f"RSS grew by {grown / MB:.0f} MB for 4 × 150 MB bodies"


def test_a_small_body_still_gets_through_and_the_login_form_is_capped_too(live_server, api, world):
    r = api(world.officer).post("/api/cases", content=b"{" + b" " * (MB // 2) + b"}",
                                headers={"Content-Type": "application/json"})
    assert r.status_code == 422  # read and validated: under the cap
    status, body, _ = _stream_until_answered(live_server.port, "/api/auth/token", chunked=True, total=8 * MB,
                                             content_type="application/x-www-form-urlencoded")
    _assert_413(status, body)


def test_a_route_with_its_own_cap_in_the_table(live_server, api, world):
    rule = limits.BodyLimit("POST", r"/api/cases/\d+/comments", 2048)
    limits.BODY_LIMITS.insert(0, rule)
    try:
        r = api(world.officer).post("/api/cases/1/comments", content=b"x" * 4096,
                                    headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "2 KB" in r.json()["message"]
        r = api(world.officer).post("/api/cases", content=b"x" * 4096,  # another route: the JSON cap
                                    headers={"Content-Type": "application/json"})
        assert r.status_code != 413
    finally:
        limits.BODY_LIMITS.remove(rule)


# ---------------------------------------------------------------- login throttling


def _login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/token", data={"username": username, "password": password}, timeout=60)


@pytest.fixture
def login_settings(live_server):
    """The live server's settings, restored after the test (a test may change them)."""
    state = live_server.server.config.app.state
    previous = state.settings
    yield state
    state.settings = previous
    _drop_pool(state)


def _drop_pool(state) -> None:
    """The password pool is sized from the settings at first use: make the next login build it anew."""
    if getattr(state, "password_pool", None) is not None:
        del state.password_pool


def test_fifty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_until_the_lockout_ends(
        live_server, world, clock):
    for _ in range(5):
        assert _login(live_server.url, "officer", "wrong-password").status_code == 401
    for _ in range(45):
        assert _login(live_server.url, "officer", "wrong-password").status_code == 429
    r = _login(live_server.url, "officer", "secret-pw")  # the right password, during the lockout
    assert r.status_code == 429, r.text
    assert "账号已被暂时锁定" in r.json()["message"] and "北京时间" in r.json()["message"]
    assert "2026-11-23 09:15" in r.json()["message"]  # T0 is 09:00 Beijing time; 15 minutes
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    # another account from the same address is not locked by it
    assert _login(live_server.url, "supervisor", "secret-pw").status_code == 200
    clock.advance(timedelta(minutes=14))
    assert _login(live_server.url, "officer", "secret-pw").status_code == 429
    clock.advance(timedelta(minutes=1, seconds=1))
    assert _login(live_server.url, "officer", "secret-pw").status_code == 200


def test_the_lockout_holds_in_another_server_on_the_same_database(live_server, database, world, clock, tmp_path):
    from api.app import create_app
    from tests.conftest import SECRET

    other = LiveServer(create_app(database=database, clock=clock, settings=Settings(
        secret_key=SECRET, database_url=database.url, data_dir=tmp_path / "other")))
    try:
        for _ in range(5):
            assert _login(live_server.url, "Officer", "wrong-password").status_code == 401
        assert _login(other.url, "officer", "secret-pw").status_code == 429
    finally:
        other.stop()


def test_failures_below_the_limit_expire_with_the_window_and_a_success_resets_them(live_server, world, clock):
    for _ in range(4):
        assert _login(live_server.url, "officer", "wrong-password").status_code == 401
    assert _login(live_server.url, "officer", "secret-pw").status_code == 200
    for _ in range(4):
        assert _login(live_server.url, "officer", "wrong-password").status_code == 401
    clock.advance(timedelta(minutes=16))
    for _ in range(4):
        assert _login(live_server.url, "officer", "wrong-password").status_code == 401
    assert _login(live_server.url, "officer", "secret-pw").status_code == 200


def test_an_address_is_locked_after_its_own_higher_limit_across_account_names(live_server, world, clock,
                                                                             login_settings):
    defaults = login_settings.settings
    assert defaults.login_max_failures_per_address > defaults.login_max_failures  # 30 > 5
    limit = 8  # (fewer argon2 runs than the default's 30; the same rule)
    login_settings.settings = Settings(**{**defaults.model_dump(), "login_max_failures_per_address": limit})
    for i in range(limit):  # one failure each: no account reaches its own limit
        assert _login(live_server.url, f"nobody{i}", "wrong-password").status_code == 401
    r = _login(live_server.url, "supervisor", "secret-pw")
    assert r.status_code == 429 and "网络地址" in r.json()["message"]
    assert int(r.headers["Retry-After"]) > 0
    clock.advance(timedelta(minutes=15, seconds=1))
    assert _login(live_server.url, "supervisor", "secret-pw").status_code == 200


# ---------------------------------------------------------------- argon2 off the request threads


def test_a_flood_of_bad_logins_does_not_starve_other_requests(live_server, api, world, login_settings):
    state = login_settings
    state.settings = Settings(**{**state.settings.model_dump(), "login_max_failures": 10_000,
                                 "login_max_failures_per_address": 10_000, "login_hash_threads": 2,
                                 "login_hash_queue": 1000})
    _drop_pool(state)
    client = api(world.officer)
    flood = 30

    def bad_login(i: int) -> int:
        return _login(live_server.url, f"user{i % 7}", "wrong-password").status_code

    overtaken = 0  # reads that completed while logins were still queued for the password pool
    with ThreadPoolExecutor(flood) as pool:
        futures = [pool.submit(bad_login, i) for i in range(flood)]
        while not all(f.done() for f in futures):
            assert client.get("/api/cases").status_code == 200
            assert client.get("/api/me").status_code == 200
            password_pool = getattr(state, "password_pool", None)
            if password_pool is not None and password_pool.pending > password_pool.threads:
                overtaken += 1
        statuses = [f.result() for f in futures]
    assert statuses == [401] * flood
    assert overtaken > 0, "no read completed while logins waited for the password pool"


def test_beyond_the_queue_a_login_is_answered_503_at_once(live_server, world, login_settings):
    state = login_settings
    state.settings = Settings(**{**state.settings.model_dump(), "login_max_failures": 10_000,
                                 "login_max_failures_per_address": 10_000, "login_hash_threads": 1,
                                 "login_hash_queue": 0})
    _drop_pool(state)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda i: _login(live_server.url, f"user{i}", "wrong-password"), range(20)))
    busy = [r for r in responses if r.status_code == 503]
    assert busy and all(r.status_code in (401, 503) for r in responses)
    assert busy[0].json()["message"] == "登录请求过多，请稍后重试" and busy[0].headers["Retry-After"] == "5"


# ---------------------------------------------------------------- unknown and known users alike


def test_unknown_deactivated_and_known_users_each_cost_one_argon2_verification(live_server, world, db):
    from sqlalchemy import update

    from cases.models import User

    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer_wz.id).values(active=False))
    for username, password in (("no-such-user", "wrong-password"), ("officer", "wrong-password"),
                               ("officer_wz", "secret-pw"), ("supervisor", "secret-pw")):
        before = verification_count()
        r = _login(live_server.url, username, password)
        assert verification_count() - before == 1, username
        assert r.status_code == (200 if username == "supervisor" else 401)
        if r.status_code == 401:  # and the same answer: nothing tells which names exist
            assert r.json()["message"] == "用户名或密码错误"
