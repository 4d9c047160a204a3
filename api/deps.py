"""Request dependencies: the database, the clock, and the authenticated user."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from cases.platform.clock import Clock
from cases.platform.config import Settings
from cases.platform.db import Database
from cases.models import User
from cases.platform.security import SigningKey, TokenClaims, read_token_claims
from cases.platform.sessions import token_user

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)

# The dependencies that only read ``app.state`` are ``async def``: FastAPI runs a plain ``def``
# dependency on its thread pool, ~0.06–0.09 ms of CPU per hop here (docs/performance.md, session 19).
# Those that touch the database stay plain.


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_signing_key(request: Request) -> SigningKey:
    return request.app.state.signing_key


def current_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenClaims:
    """The bearer token's claims, signature and expiry checked — not yet the user behind them: a
    route that opens a transaction anyway checks that with :func:`signed_in_user` as its first
    statement (one connection checkout per request instead of two); every other route takes
    :data:`CurrentUser`."""
    state = request.app.state
    claims = read_token_claims(token, state.signing_key, state.clock.now()) if token else None
    if claims is None:
        raise _unauthorised()
    request.state.token_claims = claims
    return claims


def signed_in_user(request: Request, s: Session, claims: TokenClaims) -> User:
    """The claims' user, checked in ``s`` (cases.platform.sessions.token_user: active, same token
    epoch, token not revoked), or 401. The user comes back detached with every column loaded, so a
    rollback of ``s`` leaves it usable (the 409 answer, the security log)."""
    user = token_user(s, claims)
    if user is None:
        raise _unauthorised()
    s.expunge(user)
    # For the security log (api/audit.py): who made this request, with which token.
    request.state.user = user
    someone_is_working(request)
    return user


def current_user(request: Request, claims: Annotated[TokenClaims, Depends(current_claims)]) -> User:
    """The token's user, checked against the database on every request (cases.platform.sessions.token_user):
    a logout, password change or deactivation takes effect on the next request, in every worker
    process. Cost: one SELECT by primary key (users, and revoked_tokens by primary key) per request,
    in a session of its own; there is deliberately no per-process user cache (it would let a
    revoked token live on)."""
    with request.app.state.db.session() as s:
        return signed_in_user(request, s, claims)


def _unauthorised() -> HTTPException:
    return HTTPException(status_code=401, detail="未登录或登录已过期，请重新登录",
                         headers={"WWW-Authenticate": "Bearer"})


def someone_is_working(request: Request) -> None:
    """A signed-in request, or a sign-in: ready the derive process (workflows/derive_launcher.py
    ``warm``), so the documents of this person's next commit do not wait for one to start."""
    warm = getattr(request.app.state, "derive_warmer", None)
    if warm is not None:
        warm()


CurrentUser = Annotated[User, Depends(current_user)]
CurrentClaims = Annotated[TokenClaims, Depends(current_claims)]
Db = Annotated[Database, Depends(get_db)]
AppClock = Annotated[Clock, Depends(get_clock)]
AppSettings = Annotated[Settings, Depends(get_settings)]
AppSigningKey = Annotated[SigningKey, Depends(get_signing_key)]
