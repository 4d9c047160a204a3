"""Login, logout, the current user and their password (cases/platform/sessions.py does the work).

Login and password change are async: their argon2 work runs on the password pool (api/hashing.py),
never on the thread pool that serves the other routes."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.deps import AppClock, CurrentUser, Db, someone_is_working
from api.hashing import PasswordPoolBusy, busy_response, password_pool
from cases.ledger.access import ROLE_LABELS
from cases.models import Jurisdiction
from cases.platform.security import issue_token
from cases.platform.sessions import LoginFailed, LoginLocked, LoginPolicy, authenticate, change_password, revoke_token

router = APIRouter(prefix="/api", tags=["auth"])


def client_address(request: Request) -> str | None:
    """The peer address (uvicorn applies X-Forwarded-For only from --forwarded-allow-ips)."""
    return request.client.host if request.client else None


def locked_response(exc: LoginLocked) -> JSONResponse:
    return JSONResponse({"error": "login_locked", "message": exc.message, "locked_until": exc.until.isoformat(),
                         "retry_after": exc.retry_after}, status_code=429,
                        headers={"Retry-After": str(exc.retry_after)})


def _token_response(request: Request, user_id: int, epoch: int, now) -> dict:
    settings = request.app.state.settings
    token = issue_token(user_id, request.app.state.signing_key, now, timedelta(minutes=settings.token_ttl_minutes),
                        epoch=epoch)
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl_minutes * 60}


@router.post("/auth/token", summary="登录（OAuth2 password），返回 bearer token",
             responses={401: {"description": "用户名或密码错误"},
                        429: {"description": "失败次数过多，账号或来源地址暂时锁定（Retry-After）"},
                        503: {"description": "登录请求过多，请稍后重试（Retry-After）"}})
async def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]):
    state = request.app.state
    now = state.clock.now()
    try:
        result = await password_pool(request.app).run(
            authenticate, state.db, form.username, form.password, client_address(request), now,
            LoginPolicy.from_settings(state.settings))
    except PasswordPoolBusy:
        return busy_response()
    except LoginLocked as exc:
        return locked_response(exc)
    except LoginFailed:
        raise HTTPException(status_code=401, detail=LoginFailed.message, headers={"WWW-Authenticate": "Bearer"})
    request.state.security_logged = True
    someone_is_working(request)
    return _token_response(request, result.user_id, result.epoch, now)


@router.post("/auth/logout", summary="退出登录：本令牌立即失效")
def logout(request: Request, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        revoke_token(s, request.state.token_claims, clock.now(), client_address(request))
    request.state.security_logged = True
    return {"message": "已退出登录"}


class PasswordChange(BaseModel):
    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


@router.post("/me/password", summary="修改本人密码：其他令牌全部失效，返回本会话的新令牌",
             responses={422: {"description": "原密码不正确或新密码不符合要求"},
                        429: {"description": "失败次数过多，账号暂时锁定（Retry-After）"}})
async def change_my_password(request: Request, body: PasswordChange, user: CurrentUser):
    state = request.app.state
    now = state.clock.now()
    try:
        epoch = await password_pool(request.app).run(
            change_password, state.db, user.id, body.old_password, body.new_password, client_address(request), now,
            LoginPolicy.from_settings(state.settings))
    except PasswordPoolBusy:
        return busy_response()
    except LoginLocked as exc:
        return locked_response(exc)
    request.state.security_logged = True
    return {"message": "密码已修改，其他登录已全部失效", **_token_response(request, user.id, epoch, now)}


@router.get("/me", summary="当前用户")
def me(user: CurrentUser, db: Db):
    with db.session() as s:
        j = s.get(Jurisdiction, user.jurisdiction_code)
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
        "role_label": ROLE_LABELS.get(user.role), "enterprise_id": user.enterprise_id,
        "jurisdiction": {"code": j.code, "name": j.name, "level": j.level, "authority_name": j.authority_name},
    }
