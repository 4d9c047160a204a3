"""Admin acts on accounts: deactivate / activate a user, read the security log."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from fastapi import APIRouter, Query, Request

from api import responses
from api.deps import AppClock, CurrentUser, Db
from api.routes.auth import client_address
from cases.platform.security_log import KIND_LABELS, read_log
from cases.platform.sessions import admin_set_active

router = APIRouter(prefix="/api", tags=["admin"])

_ERRORS = {403: {"description": "仅限系统管理员"}, 404: {"description": "用户不存在（或不在本辖区）"}}


def _set_active(request: Request, user_id: int, active: bool, user, db, clock) -> dict:
    with db.transaction() as s:
        target = admin_set_active(s, user, user_id, active, clock.now(), client_address(request))
        out = {"id": target.id, "username": target.username, "active": target.active}
    request.state.security_logged = True
    return {**out, "message": f"已{'启用' if active else '停用'}用户 {out['username']}"}


@router.post("/users/{user_id}/deactivate", summary="停用用户（管理员，本辖区及下级）：其令牌立即失效",
             responses=_ERRORS)
def deactivate_user(request: Request, user_id: int, user: CurrentUser, db: Db, clock: AppClock):
    return _set_active(request, user_id, False, user, db, clock)


@router.post("/users/{user_id}/activate", summary="启用用户（管理员，本辖区及下级）", responses=_ERRORS)
def activate_user(request: Request, user_id: int, user: CurrentUser, db: Db, clock: AppClock):
    return _set_active(request, user_id, True, user, db, clock)


@router.get("/admin/security-log", summary="安全日志（管理员：本辖区及下级用户的登录、锁定、权限拒绝、管理操作等）",
            responses={403: {"description": "仅限系统管理员"}})
def security_log(user: CurrentUser, db: Db,
                 user_id: Optional[int] = Query(None, description="用户ID"),
                 kind: Optional[str] = Query(None, description="类型：" + "、".join(f"{k}={v}" for k, v in KIND_LABELS.items())),
                 since: Optional[datetime] = Query(None, description="起始时间（含）"),
                 until: Optional[datetime] = Query(None, description="截止时间（不含）"),
                 page: int = Query(1, ge=1, le=100000), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        return responses.fast_json(read_log(s, user, user_id=user_id, kind=kind, since=since, until=until, page=page,
                                            page_size=page_size))
