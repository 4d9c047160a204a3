"""Login and logout pages: the API's own authentication (cases/platform/sessions.py) behind a cookie."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from api.hashing import BUSY_MESSAGE, PasswordPoolBusy, password_pool
from api.pages.common import SESSION_COOKIE, PageUser, redirect, render, safe_next, verify_csrf
from api.deps import someone_is_working
from api.routes.auth import client_address
from cases.platform.security import issue_token
from cases.platform.sessions import LoginFailed, LoginLocked, LoginPolicy, authenticate, revoke_token

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", next=safe_next(next), username="")


@router.post("/login")
async def login(request: Request):
    form = await request.form()
    verify_csrf(request, form)  # login CSRF: the nonce cookie and the form's field agree
    username = str(form.get("username") or "").strip()[:150]
    password = str(form.get("password") or "")[:1024]
    next_url = safe_next(str(form.get("next") or "/"))
    state = request.app.state
    now = state.clock.now()

    def again(message: str, status: int):
        return render(request, "login.html", status_code=status, error=message, next=next_url, username=username)

    if not username or not password:
        return again("请输入用户名和密码", 422)
    try:
        result = await password_pool(request.app).run(
            authenticate, state.db, username, password, client_address(request), now,
            LoginPolicy.from_settings(state.settings))
    except PasswordPoolBusy:
        return again(BUSY_MESSAGE, 503)
    except LoginLocked as exc:
        return again(exc.message, 429)
    except LoginFailed:
        return again(LoginFailed.message, 401)
    request.state.security_logged = True
    someone_is_working(request)
    ttl = timedelta(minutes=state.settings.token_ttl_minutes)
    token = issue_token(result.user_id, state.signing_key, now, ttl, epoch=result.epoch)
    response = redirect(request, next_url)
    https = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=https, path="/",
                        max_age=int(ttl.total_seconds()))
    return response


@router.post("/logout")
async def logout(request: Request, user: PageUser):
    form = await request.form()
    verify_csrf(request, form)
    state = request.app.state
    with state.db.transaction() as s:
        revoke_token(s, request.state.token_claims, state.clock.now(), client_address(request))
    request.state.security_logged = True
    response = redirect(request, "/login", notice="已退出登录")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
