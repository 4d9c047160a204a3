from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import func, select

from api.deps import AppClock, AppSettings, AppSigningKey, CurrentUser, Db
from cases.access import ROLE_LABELS
from cases.models import Jurisdiction, User
from cases.security import issue_token, verify_password

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/token", summary="登录（OAuth2 password），返回 bearer token")
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], db: Db, clock: AppClock, settings: AppSettings,
          signing_key: AppSigningKey):
    with db.session() as s:
        # Usernames are stored lower-case (cases/identity.py): 'Officer' logs in as 'officer'.
        user = s.scalar(select(User).where(func.lower(User.username) == form.username.strip().lower()))
        if user is None or not user.active or not verify_password(user.password_hash, form.password):
            raise HTTPException(status_code=401, detail="用户名或密码错误", headers={"WWW-Authenticate": "Bearer"})
        token = issue_token(user.id, signing_key, clock.now(), timedelta(minutes=settings.token_ttl_minutes))
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl_minutes * 60}


@router.get("/me", summary="当前用户")
def me(user: CurrentUser, db: Db):
    with db.session() as s:
        j = s.get(Jurisdiction, user.jurisdiction_code)
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
        "role_label": ROLE_LABELS.get(user.role), "enterprise_id": user.enterprise_id,
        "jurisdiction": {"code": j.code, "name": j.name, "level": j.level, "authority_name": j.authority_name},
    }
