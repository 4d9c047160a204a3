"""Security headers on every response, the sandboxed document HTML, and API docs that load with no request
leaving the machine (issue 8, item 9). Real HTTP against the live server."""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from api.security import DEFAULT_CSP, DOCUMENT_CSP
from cases.platform.config import Settings
from notifications.documents.store import render_pending_documents
from tests.conftest import SECRET, LiveServer, complete_project
from tests.machine_paths import HttpDriver


def csp_directives(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_secure(r: httpx.Response, *, https: bool = False) -> None:
    h = r.headers
    assert h["x-content-type-options"] == "nosniff", r.request.url
    assert h["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin"), r.request.url
    assert h["x-frame-options"] == "DENY", r.request.url
    csp = csp_directives(h["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"], r.request.url
    # Only this origin (or nothing): no external host anywhere in the policy.
    for name, sources in csp.items():
        assert not [s for s in sources if "//" in s or s in ("*", "http:", "https:")], (name, sources)
        assert "'unsafe-eval'" not in sources and (name != "script-src" or "'unsafe-inline'" not in sources)
    assert csp.get("default-src") in (["'self'"], ["'none'"])
    assert ("strict-transport-security" in h) == https, r.request.url


@pytest.fixture
def anon(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        yield c


def test_json_and_error_responses_carry_the_headers(api, world, anon):
    officer = api(world.officer)
    ok = officer.get("/api/cases")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/json")
    assert_secure(ok)
    assert_secure(anon.get("/healthz"))
    unauth = anon.get("/api/cases")
    assert unauth.status_code == 401
    assert_secure(unauth)
    missing = officer.get("/api/cases/987654")
    assert missing.status_code == 404 and "message" in missing.json()
    assert_secure(missing)
    no_route = anon.get("/no/such/path")
    assert no_route.status_code == 404
    assert_secure(no_route)
    invalid = officer.get("/api/cases/abc")
    assert invalid.status_code == 422
    assert_secure(invalid)
    redirect = anon.get("/", follow_redirects=False)
    assert redirect.status_code in (302, 303, 307)
    assert_secure(redirect)
    assert_secure(anon.get("/openapi.json"))


def test_hsts_only_over_https(anon):
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a TLS-terminating proxy on the same machine).
    assert "strict-transport-security" not in anon.get("/healthz").headers
    r = anon.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert_secure(r, https=True)
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_an_unexpected_error_500_carries_the_headers(database, test_clock):
    from api.app import create_app

    app = create_app(database=database, clock=test_clock,
                     settings=Settings(secret_key=SECRET, database_url=database.url))

    @app.get("/boom", include_in_schema=False)
    def boom():
        raise RuntimeError("unexpected")

    server = LiveServer(app)
    try:
        r = httpx.get(f"{server.url}/boom", timeout=30)
        assert r.status_code == 500
        assert_secure(r)
    finally:
        server.stop()


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.links: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"])
            else:
                self._in_script = True
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])
            if a.get("rel") == "stylesheet":
                self.styles.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_only_same_origin_assets(anon, page):
    r = anon.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert_secure(r)
    assets = _Assets()
    assets.feed(r.text)
    assert assets.scripts, "the page loads its scripts"
    assert assets.inline_scripts == 0  # the CSP allows no inline script
    assert "cdn" not in r.text.lower() and "fonts.googleapis" not in r.text
    for url in assets.scripts + assets.links:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
    for url in assets.scripts:
        a = anon.get(url)
        assert a.status_code == 200, url
        assert "javascript" in a.headers["content-type"], (url, a.headers["content-type"])
        assert_secure(a)
    for url in assets.styles:
        a = anon.get(url)
        assert a.status_code == 200 and a.headers["content-type"].startswith("text/css"), url
    for url in set(assets.links) - set(assets.styles):
        assert anon.get(url).status_code == 200, url


def test_swagger_ui_is_started_without_external_validator(anon):
    r = anon.get("/docs")
    assets = _Assets()
    assets.feed(r.text)
    [init] = [u for u in assets.scripts if "init" in u]
    js = anon.get(init).text
    assert "SwaggerUIBundle(" in js and "validatorUrl: null" in js
    # The OpenAPI document it reads is served here.
    assert 'data-openapi-url="/openapi.json"' in r.text and anon.get("/openapi.json").status_code == 200


def test_document_html_is_sandboxed(api, db, world, clock, fresh_data_settings):
    drv = HttpDriver(api, world, clock)
    officer = api(world.officer)
    case = drv.create("hazard", title="<script>alert(1)</script>临边防护缺失",
                      description="<img src=x onerror=alert(1)>3号楼5层临边未设置防护栏杆", location="3号楼5层")
    drv.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "general",
                                      "requirements": "立即设置临边防护栏杆"})
    complete_project(db, world, clock)
    render_pending_documents(db, clock.now(), settings=fresh_data_settings)
    items = officer.get(f"/api/cases/{case['id']}/documents").json()["items"]
    [doc] = [d for d in items if d["title"] == "隐患整改通知书"]
    r = officer.get(f"/api/documents/{doc['id']}.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == DOCUMENT_CSP
    csp = csp_directives(r.headers["content-security-policy"])
    assert "sandbox" in csp and csp["sandbox"] == []  # no allow-scripts, no allow-same-origin
    assert csp["default-src"] == ["'none'"] and "script-src" not in csp
    assert_secure(r)
    assert "<script>alert(1)</script>" not in r.text  # escaped by the template as well
    # The print layout needs only inline styles: no external stylesheet, font or image.
    assets = _Assets()
    assets.feed(r.text)
    assert not assets.scripts and not assets.styles and "@font-face" not in r.text
    # A revalidation (304) carries the same policy.
    again = officer.get(f"/api/documents/{doc['id']}.html", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.headers["content-security-policy"] == DOCUMENT_CSP
    # The PDF keeps the default policy (browsers' PDF viewers refuse a sandboxed PDF).
    pdf = officer.get(f"/api/documents/{doc['id']}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-security-policy"] == DEFAULT_CSP
    assert_secure(pdf)
