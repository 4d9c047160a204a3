"""Page fixtures: cookie sessions over real HTTP, and Debian's Chromium driven by Playwright.

``pages(user)`` → an ``httpx.Client`` holding that user's session cookie (minted with the app's key,
as ``/login`` would); ``csrf(html)`` reads a page's form token. ``browser_page(user)`` → a Playwright
page in a fresh Chromium context with that user's session; ``browser_page(None)`` is anonymous.
Playwright never downloads a browser here: it launches ``ANJIAN_TEST_CHROMIUM`` (default
/usr/bin/chromium, installed by scripts/system-deps.sh).
"""
from __future__ import annotations

import os
import re
from datetime import timedelta

import httpx
import pytest

from cases.platform.security import issue_token

CHROMIUM = os.environ.get("ANJIAN_TEST_CHROMIUM", "/usr/bin/chromium")
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a csrf_token"
    return match.group(1)


def session_token(live_server, user, clock, ttl=timedelta(hours=12)) -> str:
    return issue_token(user.id, live_server.signing_key, clock.now(), ttl)


@pytest.fixture
def pages(live_server, world, clock):
    """``pages(user)`` → an HTTP client with that user's page session (``None``: no session)."""
    clients = []

    def make(user, *, ttl=timedelta(hours=12)) -> httpx.Client:
        c = httpx.Client(base_url=live_server.url, timeout=30, follow_redirects=False)
        if user is not None:
            c.cookies.set("anjian_session", session_token(live_server, user, clock, ttl), domain="127.0.0.1")
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def post_form(client: httpx.Client, page_path: str, action: str, data: dict, files=None) -> httpx.Response:
    """GET ``page_path`` (for its csrf_token and cookie), then POST ``data`` with that token to ``action``."""
    page = client.get(page_path)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    return client.post(action, data={**data, "csrf_token": csrf(page.text)}, files=files)


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(_playwright):
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
    yield browser
    browser.close()


@pytest.fixture
def browser_page(chromium, live_server, world, clock):
    """``browser_page(user, width=1280)`` → a Playwright page logged in as ``user`` (phone: width=375)."""
    contexts = []

    def make(user, *, width: int = 1280, height: int = 900):
        context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                       base_url=live_server.url, accept_downloads=True)
        context.set_default_timeout(20_000)
        if user is not None:
            context.add_cookies([{"name": "anjian_session", "value": session_token(live_server, user, clock),
                                  "url": live_server.url, "httpOnly": True, "sameSite": "Lax"}])
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()
