"""Login, logout, session expiry and CSRF on the pages: real HTTP, and Chromium for the login form."""
from __future__ import annotations

from datetime import timedelta

from tests.pages.conftest import csrf, post_form


def test_a_person_logs_in_through_the_form_and_sees_who_they_are(browser_page, world, live_server):
    page = browser_page(None)
    page.goto("/")
    assert "/login" in page.url  # no session: the login page, back to / afterwards
    page.fill("input[name=username]", "officer")
    page.fill("input[name=password]", "secret-pw")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    header = page.inner_text("header")
    assert "officer" in header and "监管人员" in header and "姑苏区" in header
    assert "我的待办" in page.inner_text("h1")
    cookie = next(c for c in page.context.cookies() if c["name"] == "anjian_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    # Logging out through the header's form ends the session: the next page asks to log in again.
    page.click("header button:has-text('退出')")
    page.wait_for_url("**/login")
    assert "已退出登录" in page.inner_text("main")
    page.goto("/")
    assert "/login" in page.url


def test_a_wrong_password_says_so_in_chinese_and_keeps_the_username(pages, world):
    client = pages(None)
    r = post_form(client, "/login", "/login", {"username": "officer", "password": "wrong", "next": "/"})
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text and 'value="officer"' in r.text
    assert "anjian_session" not in r.headers.get("set-cookie", "")


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(pages, world):
    client = pages(None)
    r = client.get("/?page=2")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F%3Fpage%3D2"
    r = post_form(client, "/login?next=/?page=2", "/login",
                  {"username": "officer", "password": "secret-pw", "next": "/?page=2"})
    assert r.status_code == 303 and r.headers["location"] == "/?page=2"
    set_cookie = r.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    other = pages(None)
    for evil in ("//evil.example.com/x", "https://evil.example.com/", "/\\evil.example.com"):
        r = post_form(other, "/login", "/login", {"username": "officer", "password": "secret-pw", "next": evil})
        assert r.status_code == 303 and r.headers["location"] == "/", evil


def test_a_form_post_without_its_csrf_field_is_refused(pages, world):
    client = pages(world.officer)
    assert client.get("/").status_code == 200  # has the session and the nonce cookie now
    for data in ({}, {"csrf_token": "0" * 64}):
        r = client.post("/logout", data=data)
        assert r.status_code == 403 and "安全校验码" in r.text
    assert client.get("/").status_code == 200  # still logged in: nothing happened
    # A token from another session does not pass either.
    other = pages(world.supervisor)
    foreign = csrf(other.get("/").text)
    assert client.post("/logout", data={"csrf_token": foreign}).status_code == 403
    # Login is protected too (login CSRF): no nonce cookie, no login.
    anon = pages(None)
    r = anon.post("/login", data={"username": "officer", "password": "secret-pw"})
    assert r.status_code == 403
    # With the right token the logout works, and the old cookie is dead on the server side.
    token = client.cookies.get("anjian_session")
    r = client.post("/logout", data={"csrf_token": csrf(client.get("/").text)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    again = pages(None)
    again.cookies.set("anjian_session", token, domain="127.0.0.1")
    assert again.get("/").status_code == 303


def test_an_expired_session_asks_to_log_in_again(pages, world, clock):
    client = pages(world.officer, ttl=timedelta(hours=1))
    assert client.get("/").status_code == 200
    clock.advance(timedelta(hours=2))
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    login = client.get(r.headers["location"])
    assert "登录已过期" in login.text


def test_user_text_is_escaped_on_the_pages(pages, api, world):
    officer = api(world.officer)
    created = officer.post("/api/cases", json={"kind": "hazard", "title": "<script>alert(1)</script>脚手架",
                                               "project_id": world.p1.id})
    assert created.status_code == 201, created.text
    registered = officer.act(created.json(), "register", enterprise_id=world.e1.id, severity="general",
                             requirements="立即整改")
    assert registered.status_code == 200, registered.text
    html = pages(world.officer).get("/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;脚手架" in html


def test_a_missing_page_is_a_page_and_the_api_stays_json(pages, world):
    r = pages(world.officer).get("/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html") and "不存在" in r.text
    r = pages(world.officer).get("/api/no-such-thing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


def test_the_session_cookie_is_secure_when_served_over_https(pages, world):
    client = pages(None)
    https = {"X-Forwarded-Proto": "https"}  # a TLS-terminating proxy on this machine (uvicorn trusts loopback)
    page = client.get("/login", headers=https)
    nonce = page.cookies.get("anjian_csrf")  # Secure itself: the client would not send it over plain http
    assert "secure" in page.headers["set-cookie"].lower()
    r = client.post("/login", headers={**https, "Cookie": f"anjian_csrf={nonce}"}, data={"username": "officer", "password": "secret-pw", "next": "/",
                                                   "csrf_token": csrf(page.text)})
    assert r.status_code == 303
    session = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("anjian_session="))
    assert "secure" in session.lower() and "httponly" in session.lower()
