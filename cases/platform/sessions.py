"""Sessions: login with throttling and lockout, token revocation, password change, deactivation.

State lives in the database, never in a process: the lockout holds across every API worker and
survives a restart.

- Login throttling: every failed login is a ``login_failed`` row of the security log. When an
  account (the login name as typed, lower-cased: names that do not exist are throttled alike) has
  ``login_max_failures`` failures within ``login_window_minutes`` (counted since its last lockout and
  its last successful login), a ``lockout`` row locks it for ``login_lockout_minutes``; a client
  address has its own, higher limit (``address_lockout``). While locked, a login is refused (429)
  *before* the password is looked at: the right password does not get in either.
- Every login attempt that is not refused runs exactly one argon2 verification, against a dummy
  hash when the user does not exist or is deactivated (cases.platform.security.verify_password(None, …)).
- Revocation: a token carries the user's ``token_epoch``; a password change or deactivation bumps
  it (ending every older token); logout writes a ``revoked_tokens`` row (the token's SHA-256).
  ``token_user`` checks both with one indexed SELECT per request.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.orm import Session

from cases.ledger.access import in_subtree, require_role
from cases.platform.clock import SHANGHAI
from cases.platform.errors import NotFound, ValidationFailed
from cases.models import User
from cases.models.security import RevokedToken, SecurityEvent
from cases.platform.security import TokenClaims, hash_password, needs_rehash, verify_password

KIND_LABELS = {
    "login": "登录成功",
    "login_failed": "登录失败",
    "lockout": "账号锁定",
    "address_lockout": "来源地址锁定",
    "logout": "退出登录",
    "password_changed": "修改密码",
    "password_change_failed": "修改密码失败",
    "deactivated": "停用账号",
    "activated": "启用账号",
    "permission_denied": "权限拒绝",
    "admin_act": "管理员操作",
}
# Failures that count towards an account's lockout: a wrong old password is a guess, too.
_FAILURE_KINDS = ("login_failed", "password_change_failed")


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    max_failures_per_address: int = 30
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Any) -> "LoginPolicy":
        return cls(max_failures=settings.login_max_failures,
                   max_failures_per_address=settings.login_max_failures_per_address,
                   window=timedelta(minutes=settings.login_window_minutes),
                   lockout=timedelta(minutes=settings.login_lockout_minutes))


class LoginLocked(Exception):
    """Too many failures: no login for this account (or from this address) until ``until``."""

    def __init__(self, until: datetime, now: datetime, *, address: bool = False) -> None:
        local = until.astimezone(SHANGHAI)
        who = "您所在的网络地址登录失败次数过多，已被暂时禁止登录" if address else "登录失败次数过多，账号已被暂时锁定"
        self.message = f"{who}，请于 {local:%Y-%m-%d %H:%M}（北京时间）后再试"
        self.retry_after = max(1, math.ceil((until - now).total_seconds()))
        self.until = until
        super().__init__(self.message)


class LoginFailed(Exception):
    message = "用户名或密码错误"


def log_event(s: Session, now: datetime, kind: str, **fields: Any) -> None:
    for key, size in (("path", 300), ("reason", 500), ("target", 200), ("username", 64), ("client", 64)):
        if isinstance(fields.get(key), str):
            fields[key] = fields[key][:size]
    s.add(SecurityEvent(at=now, kind=kind, **fields))


# ---------------------------------------------------------------- login


def _name(username: str) -> str:
    return (username or "").strip().lower()[:64]


def _locked_until(s: Session, column, value: str | None, kind: str, now: datetime, policy: LoginPolicy):
    if value is None:
        return None
    return s.scalar(select(func.max(SecurityEvent.locked_until)).where(
        SecurityEvent.kind == kind, column == value, SecurityEvent.at >= now - policy.lockout,
        SecurityEvent.locked_until > now))


def check_not_locked(s: Session, username: str, client: str | None, now: datetime, policy: LoginPolicy) -> None:
    """Raise LoginLocked while the account or the client address is locked."""
    until = _locked_until(s, SecurityEvent.username, _name(username), "lockout", now, policy)
    if until is not None:
        raise LoginLocked(until, now)
    until = _locked_until(s, SecurityEvent.client, client, "address_lockout", now, policy)
    if until is not None:
        raise LoginLocked(until, now, address=True)


def _failures_since(s: Session, column, value: str, lock_kind: str, now: datetime, policy: LoginPolicy,
                    user_id: int | None) -> int:
    """Failures within the window, after the last lockout (and, for an account, its last success).
    "After" by log order (id), which holds also when the clock stands still."""
    since = now - policy.window
    after = s.scalar(select(func.max(SecurityEvent.id)).where(
        SecurityEvent.kind == lock_kind, column == value, SecurityEvent.at >= since)) or 0
    if user_id is not None and column is SecurityEvent.username:  # a success starts the count again
        last_ok = s.scalar(select(func.max(SecurityEvent.id)).where(
            SecurityEvent.user_id == user_id, SecurityEvent.kind.in_(("login", "password_changed")),
            SecurityEvent.at >= since)) or 0
        after = max(after, last_ok)
    return s.scalar(select(func.count()).select_from(SecurityEvent).where(
        SecurityEvent.kind.in_(_FAILURE_KINDS), column == value, SecurityEvent.at > since,
        SecurityEvent.id > after)) or 0


def record_failure(s: Session, kind: str, username: str, user_id: int | None, client: str | None,
                   now: datetime, policy: LoginPolicy, reason: str) -> None:
    """Log a failed attempt and lock the account (or the address) when it reaches its limit."""
    name = _name(username)
    log_event(s, now, kind, username=name, user_id=user_id, client=client, reason=reason)
    s.flush()
    if _failures_since(s, SecurityEvent.username, name, "lockout", now, policy, user_id) >= policy.max_failures:
        log_event(s, now, "lockout", username=name, user_id=user_id, client=client,
                  locked_until=now + policy.lockout, reason=f"{policy.window.seconds // 60} 分钟内失败 {policy.max_failures} 次")
    if client is not None and _failures_since(s, SecurityEvent.client, client, "address_lockout", now, policy,
                                              None) >= policy.max_failures_per_address:
        log_event(s, now, "address_lockout", client=client, locked_until=now + policy.lockout,
                  reason=f"{policy.window.seconds // 60} 分钟内失败 {policy.max_failures_per_address} 次")


@dataclass(frozen=True)
class LoginResult:
    user_id: int
    epoch: int


def authenticate(db, username: str, password: str, client: str | None, now: datetime,
                 policy: LoginPolicy) -> LoginResult:
    """One login attempt (blocking: argon2; run it off the request threads). Raises LoginLocked
    (before any verification) or LoginFailed; logs the outcome."""
    name = _name(username)
    with db.session() as s:
        check_not_locked(s, name, client, now, policy)
        user = s.scalar(select(User).where(func.lower(User.username) == name)) if name else None
        found = None if user is None else (user.id, user.password_hash, user.active, user.token_epoch)
    # Exactly one verification on every path: a dummy hash for an unknown or deactivated user.
    ok = verify_password(found[1] if found and found[2] else None, password)
    # A hash of older parameters is replaced now that the password is known (one more argon2 hash,
    # on this same pool thread; the token epoch does not change: the password is the same).
    rehashed = hash_password(password) if ok and needs_rehash(found[1]) else None
    with db.transaction() as s:
        if not ok:
            reason = "用户不存在" if found is None else ("账号已停用" if not found[2] else "密码错误")
            record_failure(s, "login_failed", name, found and found[0], client, now, policy, reason)
        else:
            if rehashed is not None:  # only if nobody changed the password meanwhile
                s.execute(update(User).where(User.id == found[0], User.password_hash == found[1])
                          .values(password_hash=rehashed))
            log_event(s, now, "login", user_id=found[0], username=name, client=client)
    if not ok:
        raise LoginFailed()
    return LoginResult(user_id=found[0], epoch=found[3])


# ---------------------------------------------------------------- tokens


# Built once: this runs on every authenticated request, and building the statement (and its cache
# key) cost more CPU than executing it (~0.7–1.2 of ~2.2 ms per check, docs/performance.md session 20).
_TOKEN_USER = (select(User, exists().where(RevokedToken.token_hash == bindparam("token_hash")))
               .where(User.id == bindparam("user_id")))


def token_user(s: Session, claims: TokenClaims) -> User | None:
    """The token's user if the token is still good: user active, same epoch, not revoked.
    One indexed SELECT (users by primary key, revoked_tokens by primary key)."""
    row = s.execute(_TOKEN_USER, {"token_hash": claims.token_hash, "user_id": claims.user_id}).first()
    if row is None:
        return None
    user, is_revoked = row
    if is_revoked or not user.active or (user.token_epoch or 0) != claims.epoch:
        return None
    return user


def revoke_token(s: Session, claims: TokenClaims, now: datetime, client: str | None) -> None:
    """Logout: this token is refused from the next request on. Expired revocations are purged."""
    s.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if s.get(RevokedToken, claims.token_hash) is None:
        s.add(RevokedToken(token_hash=claims.token_hash, user_id=claims.user_id, revoked_at=now,
                           expires_at=claims.expires_at))
    log_event(s, now, "logout", user_id=claims.user_id, client=client)


def _set_password(s: Session, user: User, new_password: str) -> int:
    from cases.platform.identity import check_password

    if not isinstance(new_password, str) or not new_password:
        raise ValidationFailed([{"field": "new_password", "label": "新密码", "message": "必填"}])
    try:
        check_password(new_password, user.username)
    except ValidationFailed as exc:  # the same rules, named as the field of this request
        raise ValidationFailed([{**e, "field": "new_password", "label": "新密码"} for e in exc.errors]) from None
    user.password_hash = hash_password(new_password)
    user.token_epoch = (user.token_epoch or 0) + 1
    return user.token_epoch


def change_password(db, user_id: int, old_password: str, new_password: str, client: str | None,
                    now: datetime, policy: LoginPolicy) -> int:
    """The user's own password change (blocking: argon2). Every other token of the user ends; returns
    the new epoch (the caller issues this session a new token). A wrong old password counts as a
    failed login towards the account's lockout."""
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            raise NotFound("用户不存在")
        check_not_locked(s, user.username, client, now, policy)
        current_hash = user.password_hash
    if not verify_password(current_hash, old_password or ""):
        with db.transaction() as s:
            record_failure(s, "password_change_failed", user.username, user_id, client, now, policy, "原密码错误")
        raise ValidationFailed([{"field": "old_password", "label": "原密码", "message": "不正确"}])
    with db.transaction() as s:
        user = s.get(User, user_id, with_for_update=True)
        epoch = _set_password(s, user, new_password)
        log_event(s, now, "password_changed", user_id=user_id, client=client)
    return epoch


def set_password_by_username(s: Session, username: str, new_password: str, now: datetime) -> User:
    """An operator's reset (CLI): new password, every token of the user ends."""
    user = s.scalar(select(User).where(func.lower(User.username) == _name(username)))
    if user is None:
        raise NotFound(f"用户“{username}”不存在")
    _set_password(s, user, new_password)
    log_event(s, now, "password_changed", user_id=user.id, reason="管理员重置（命令行）")
    return user


# ---------------------------------------------------------------- deactivation


def _set_active(s: Session, user: User, active: bool, now: datetime, actor_id: int | None,
                client: str | None, how: str) -> None:
    if not active:
        user.token_epoch = (user.token_epoch or 0) + 1  # every token of the user ends
    user.active = active
    log_event(s, now, "activated" if active else "deactivated", user_id=user.id, actor_id=actor_id,
              client=client, target=f"user:{user.id}", reason=how)


def admin_set_active(s: Session, admin: User, target_id: int, active: bool, now: datetime,
                     client: str | None) -> User:
    """An admin (de)activates a user of their jurisdiction or below (others: 404, as if absent)."""
    require_role(admin, "admin")
    target = s.get(User, target_id, with_for_update=True)
    if target is None or not in_subtree(s, admin.jurisdiction_code, target.jurisdiction_code):
        raise NotFound("用户不存在")
    if target.id == admin.id and not active:
        raise ValidationFailed([{"field": "id", "label": "用户", "message": "不能停用自己的账号"}])
    _set_active(s, target, active, now, admin.id, client, "管理员操作（接口）")
    return target


def set_active_by_username(s: Session, username: str, active: bool, now: datetime) -> User:
    user = s.scalar(select(User).where(func.lower(User.username) == _name(username)))
    if user is None:
        raise NotFound(f"用户“{username}”不存在")
    _set_active(s, user, active, now, None, None, "管理员操作（命令行）")
    return user

