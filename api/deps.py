"""Request dependencies: the database, the clock, and the authenticated user."""
from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached

from cases.clock import Clock
from cases.config import Settings
from cases.db import Database
from cases.models import User
from cases.security import SigningKey, read_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_signing_key(request: Request) -> SigningKey:
    return request.app.state.signing_key


def current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    unauthorised = HTTPException(status_code=401, detail="未登录或登录已过期，请重新登录",
                                 headers={"WWW-Authenticate": "Bearer"})
    if not token:
        raise unauthorised
    state = request.app.state
    user_id = read_token(token, state.signing_key, state.clock.now())
    if user_id is None:
        raise unauthorised
    user = _cached_user(state, user_id)
    if user is None or not user.active:
        raise unauthorised
    return user


# ---------------------------------------------------------------- the user cache
#
# Every request used to read its user (a connection checkout, BEGIN, SELECT, ROLLBACK: four
# round trips, ~10% of a transition's cost). A user row is now re-read at most once every
# USER_CACHE_SECONDS per worker process. Staleness bound: a user deactivated, or whose role,
# jurisdiction or enterprise changes, keeps the old rights for at most that long in each
# process (a token stays valid until it expires either way). The cache lives on the app
# (app.state.user_cache), keyed by user id; an app may set app.state.user_cache_seconds (0 turns it
# off) and clear_user_cache(app) drops it, e.g. after changing users behind the app's back.
# Every request still gets its own detached User, as before, never a shared instance.

USER_CACHE_SECONDS = 5.0
_USER_COLUMNS = tuple(attr.key for attr in sa_inspect(User).column_attrs)


def _cached_user(state: Any, user_id: int) -> User | None:
    ttl = getattr(state, "user_cache_seconds", USER_CACHE_SECONDS)
    cache: dict[int, tuple[float, dict[str, Any]]] | None = getattr(state, "user_cache", None)
    if cache is None:
        cache = state.user_cache = {}
    now = time.monotonic()
    hit = cache.get(user_id) if ttl > 0 else None
    if hit is not None and hit[0] > now:
        values = hit[1]
    else:
        with state.db.session() as s:
            row = s.get(User, user_id)
            values = None if row is None else {k: getattr(row, k) for k in _USER_COLUMNS}
        if ttl > 0 and values is not None:  # an unknown id is asked again next time
            if len(cache) > 10_000:
                cache.clear()
            cache[user_id] = (now + ttl, values)
    if values is None:
        return None
    user = User(**values)
    make_transient_to_detached(user)  # as if loaded and expunged: persistent identity, no session
    return user


def clear_user_cache(app: Any) -> None:
    getattr(app.state, "user_cache", {}).clear()


CurrentUser = Annotated[User, Depends(current_user)]
Db = Annotated[Database, Depends(get_db)]
AppClock = Annotated[Clock, Depends(get_clock)]
AppSettings = Annotated[Settings, Depends(get_settings)]
AppSigningKey = Annotated[SigningKey, Depends(get_signing_key)]
