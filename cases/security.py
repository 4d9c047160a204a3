"""Passwords (argon2) and bearer tokens (JWT, HS256)."""
from __future__ import annotations

from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(user_id: int, secret: str, now: datetime, ttl: timedelta) -> str:
    return jwt.encode({"sub": str(user_id), "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())},
                      secret, algorithm="HS256")


def read_token(token: str, secret: str, now: datetime) -> int | None:
    """The user id, or None for a bad or expired token (expiry checked against the app clock)."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})  # the app clock decides
        if int(claims["exp"]) < now.timestamp():
            return None
        return int(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        return None
