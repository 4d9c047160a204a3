"""What every page shares: the session cookie, CSRF, templates and their filters, render and redirect.

**Session.** Logging in on ``/login`` issues the same signed token the API issues (same users, roles,
jurisdictions, lifetime ``ANJIAN_TOKEN_TTL_MINUTES``) and keeps it in the ``anjian_session`` cookie:
HttpOnly, SameSite=Lax, Secure when the request came over https. Each page request checks it as the
API checks a bearer token (signature, expiry by the app clock, revocation, user active), so a logout,
a password change or a deactivation ends the page session too. A page without a good session
redirects to ``/login?next=…``.

**CSRF.** Every form carries ``csrf_token``: an HMAC, under the installation's signing key, of a
random nonce kept in the ``anjian_csrf`` cookie and of the session token. A POST whose field does not
match is refused (403) before anything reads the rest of the form; SameSite=Lax is a second fence,
not the only one. The login form is protected the same way (nonce only).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from starlette.datastructures import FormData

from api.deps import someone_is_working
from cases.clocks.deadlines import LIGHT_LABELS as DEADLINE_LIGHT_LABELS
from cases.ledger.access import ROLE_LABELS
from cases.models import Jurisdiction, OutboxMessage, User
from cases.platform.security import read_token_claims
from cases.platform.sessions import token_user

SESSION_COOKIE = "anjian_session"
CSRF_COOKIE = "anjian_csrf"
NOTICE_COOKIE = "anjian_notice"
CSRF_FIELD = "csrf_token"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent.parent / "static"
# Paths that are not pages: their errors stay JSON (api/errors.py).
NOT_PAGES = ("/api/", "/api", "/docs", "/redoc", "/openapi.json", "/static/", "/healthz", "/readyz")

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


# ---------------------------------------------------------------- filters (what a person reads)


def local(value: datetime | date | None) -> datetime | date | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI) if value.tzinfo else value
    return value


def cn_date(value) -> str:
    """2026年11月30日 (legal dates; an instant in Beijing time)."""
    d = local(value)
    if d is None:
        return ""
    return f"{d.year}年{d.month}月{d.day}日"


def cn_datetime(value) -> str:
    """2026年11月30日 14:05 (Beijing time)."""
    d = local(value)
    if d is None:
        return ""
    if not isinstance(d, datetime):
        return cn_date(d)
    return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"


# The domain's labels (cases.clocks.deadlines), plus a paused clock as the pages show it.
LIGHT_LABELS = {**DEADLINE_LIGHT_LABELS, "paused": "已暂停", None: DEADLINE_LIGHT_LABELS["none"]}


def light_label(value: str | None) -> str:
    return LIGHT_LABELS.get(value, value or "")


def query(request: Request, **changes) -> str:
    """The current query string with ``changes`` applied (None removes a key): pagination links."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


env = templates.env
env.filters.update(cn_date=cn_date, cn_datetime=cn_datetime, light_label=light_label)
env.globals.update(ROLE_LABELS=ROLE_LABELS, LIGHT_LABELS=LIGHT_LABELS, query=query)


# ---------------------------------------------------------------- session


class LoginRequired(Exception):
    """No good session: the handler redirects to the login page, back to ``next`` afterwards."""

    def __init__(self, next_url: str, message: str | None = None) -> None:
        self.next_url = next_url
        self.message = message


def _next_of(request: Request) -> str:
    path = request.url.path
    if request.method != "GET":  # after logging in, go back to the page the form was on
        referer = request.headers.get("referer") or ""
        origin = f"{request.url.scheme}://{request.url.netloc}"
        path = referer[len(origin):] if referer.startswith(origin + "/") else "/"
        return path
    return path + (f"?{request.url.query}" if request.url.query else "")


def page_user(request: Request) -> User:
    """The session's user, checked against the database on every request (as the API's bearer token)."""
    token = request.cookies.get(SESSION_COOKIE)
    state = request.app.state
    if not token:
        raise LoginRequired(_next_of(request))
    claims = read_token_claims(token, state.signing_key, state.clock.now())
    user = None
    if claims is not None:
        with state.db.session() as s:
            user = token_user(s, claims)
            if user is not None:
                s.expunge(user)
    if user is None:
        raise LoginRequired(_next_of(request), "登录已过期或已在别处退出，请重新登录")
    request.state.user = user
    request.state.token_claims = claims
    someone_is_working(request)
    return user


PageUser = Annotated[User, Depends(page_user)]


def safe_next(url: str | None) -> str:
    """Only a path on this site (no scheme, no //host): an open redirect is not a login feature."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


# ---------------------------------------------------------------- CSRF


def _nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
        request.state.csrf_nonce_new = nonce
    request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    key = request.app.state.signing_key.secret.encode()
    session = request.cookies.get(SESSION_COOKIE) or ""
    if getattr(request.state, "session_token", None) is not None:  # just logged in: the new session
        session = request.state.session_token
    message = f"{_nonce(request)}|{hashlib.sha256(session.encode()).hexdigest()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class CsrfFailed(Exception):
    pass


def verify_csrf(request: Request, form: FormData) -> None:
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not request.cookies.get(CSRF_COOKIE) \
            or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfFailed()


async def checked_form(request: Request, user: PageUser) -> FormData:
    """The posted form of a logged-in user, after its CSRF field was checked (403 otherwise)."""
    form = await request.form()
    verify_csrf(request, form)
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


# ---------------------------------------------------------------- render and redirect


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookies(request: Request, response) -> None:
    nonce = getattr(request.state, "csrf_nonce_new", None)
    if nonce:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=_is_https(request), path="/")
    if request.cookies.get(NOTICE_COOKIE) and not getattr(request.state, "notice_set", False):
        response.delete_cookie(NOTICE_COOKIE, path="/")


def header_context(request: Request, user: User | None) -> dict[str, Any]:
    """Who I am, my jurisdiction, my unread inbox count: one short session."""
    if user is None:
        return {"user": None}
    with request.app.state.db.session() as s:
        jurisdiction = s.scalar(select(Jurisdiction.name).where(Jurisdiction.code == user.jurisdiction_code))
        unread = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.recipient_user_id == user.id, OutboxMessage.channel == "inbox",
            OutboxMessage.status == "sent", OutboxMessage.read_at.is_(None))) or 0
    return {"user": user, "jurisdiction_name": jurisdiction or user.jurisdiction_code, "unread": unread,
            "role_label": ROLE_LABELS.get(user.role, user.role), "nav": navigation(user)}


NavItem = tuple[str, Any]  # (href, label) or (label, [(href, label), ...]): a link or a menu


def navigation(user: User) -> list[NavItem]:
    """The header for this role (the pages check access themselves): a few links and two menus —
    检查 (the work on sites) and 惩戒与报表 (what follows a case: 约谈, 移送, credit, periodic
    reports) — so the header stays one line on a laptop and two on a phone. The supervisor's
    cockpit stays a link of its own: it is where a supervisor starts."""
    if user.role == "enterprise":
        return [("/", "本单位案件"), ("/self-inspection", "自查台账"), ("/inbox", "站内信")] + (
            [(f"/enterprises/{user.enterprise_id}/credit", "本单位信用")] if user.enterprise_id else [])
    items: list[NavItem] = [("/", "工作台")]
    if user.role in ("officer", "supervisor"):
        items.append(("/cases/new", "新建案件"))
    items.append(("/ledger", "台账"))
    items.append(("检查", [("/inspections", "检查记录"), ("/campaigns", "专项行动"), ("/analog-tasks", "类比排查"),
                           ("/self-inspection", "企业自查")]))
    if user.role in ("supervisor", "admin"):
        items.append(("/cockpit", "督办驾驶舱"))
    items.append(("惩戒与报表", [("/interviews", "约谈"), ("/referrals", "移送"), ("/credit/blacklist", "信用惩戒"),
                                ("/reports/periodic", "定期报表")]))
    if user.role in ("officer", "supervisor"):
        items.append(("/complaints", "群众举报"))
    items.append(("/inbox", "站内信"))
    if user.role == "admin":
        items.append(("/admin", "系统管理"))
    return items


def render(request: Request, template: str, *, user: User | None = None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    notice = request.cookies.get(NOTICE_COOKIE)
    ctx = {"request": request, "csrf_token": csrf_token(request), "notice": unquote(notice) if notice else None,
           "now": request.app.state.clock.now(), **header_context(request, user), **context}
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # pages hold personal and case data
    _set_cookies(request, response)
    return response


def redirect(request: Request, url: str, notice: str | None = None) -> RedirectResponse:
    """303 to ``url`` (after a POST), with a one-time notice shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        request.state.notice_set = True
        response.set_cookie(NOTICE_COOKIE, quote(notice), httponly=True, samesite="lax",
                            secure=_is_https(request), path="/", max_age=60)
    _set_cookies(request, response)
    return response


def error_page(request: Request, status: int, message: str,
               links: list[tuple[str, str]] | None = None) -> HTMLResponse:
    titles = {400: "请求有误", 403: "无权访问", 404: "页面或案件不存在", 409: "操作冲突", 413: "文件过大",
              422: "填写有误", 429: "请求过多", 503: "服务暂时不可用"}
    user = getattr(request.state, "user", None)
    return render(request, "error.html", user=user, status_code=status,
                  title=titles.get(status, "出错了"), message=message, status=status, links=links or [])


def is_page(request: Request) -> bool:
    path = request.url.path
    return not any(path == p.rstrip("/") or path.startswith(p) for p in NOT_PAGES)


def install(app: FastAPI) -> None:
    """Static files, and the page answers to a missing session and a failed CSRF check."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        response = RedirectResponse("/login?" + urlencode({"next": safe_next(exc.next_url)}), status_code=303)
        if request.cookies.get(SESSION_COOKIE):
            response.delete_cookie(SESSION_COOKIE, path="/")
        if exc.message:
            response.set_cookie(NOTICE_COOKIE, quote(exc.message), httponly=True, samesite="lax",
                                secure=_is_https(request), path="/", max_age=60)
        return response

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, exc: CsrfFailed):
        return error_page(request, 403, "表单已过期或来源不明（缺少或错误的安全校验码），请刷新页面后重新提交。")

