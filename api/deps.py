"""Request dependencies: the database, the clock, and the authenticated user."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from cases.clock import Clock
from cases.config import Settings
from cases.db import Database
from cases.models import User
from cases.security import read_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    unauthorised = HTTPException(status_code=401, detail="未登录或登录已过期，请重新登录",
                                 headers={"WWW-Authenticate": "Bearer"})
    if not token:
        raise unauthorised
    state = request.app.state
    user_id = read_token(token, state.settings.secret_key, state.clock.now())
    if user_id is None:
        raise unauthorised
    with state.db.session() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            raise unauthorised
        s.expunge(user)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
Db = Annotated[Database, Depends(get_db)]
AppClock = Annotated[Clock, Depends(get_clock)]
AppSettings = Annotated[Settings, Depends(get_settings)]
