"""Passwords (argon2), bearer tokens (JWT, HS256) and the key that signs them."""
from __future__ import annotations

import functools
import hashlib
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id parameters, chosen for this machine (docs/performance.md, "Reads"): OWASP's first
# recommended setting (m = 19 MiB, t = 2, p = 1) costs ~40 ms of CPU per verification here, against
# ~235 ms (and 4 threads) for argon2-cffi's default (m = 64 MiB, t = 3, p = 4). A hash made with
# other parameters still verifies (they are stored in the hash) and is replaced on the next
# successful login (needs_rehash, cases.platform.sessions.authenticate).
PASSWORD_TIME_COST = 2
PASSWORD_MEMORY_KIB = 19 * 1024
PASSWORD_PARALLELISM = 1
_hasher = PasswordHasher(time_cost=PASSWORD_TIME_COST, memory_cost=PASSWORD_MEMORY_KIB,
                         parallelism=PASSWORD_PARALLELISM)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with other parameters than today's (then rehash it at login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


_verifications_lock = threading.Lock()
_verifications = [0]
_DUMMY_HASH: list[str] = []


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches. ``password_hash`` None (no such user, or one that may not log in):
    the password is verified against a dummy hash of the same parameters, so that an unknown user
    costs the same argon2 work (and time) as a known one; the answer is then always False."""
    with _verifications_lock:
        _verifications[0] += 1
    if password_hash is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(_hasher.hash(secrets.token_urlsafe(16)))
        try:
            _hasher.verify(_DUMMY_HASH[0], password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verification_count() -> int:
    """How many password verifications this process has run (for tests and bench: every login
    attempt, known user or not, runs exactly one)."""
    return _verifications[0]


# ---------------------------------------------------------------- the signing key
#
# There is no built-in key. A production start (ANJIAN_ENV=production) needs ANJIAN_SECRET_KEY or
# ANJIAN_SECRET_KEY_FILE; a development start generates a random key once into
# <data_dir>/secret_key (mode 0600) and reuses it. Every installation also has an id, generated
# once into <data_dir>/installation_id: a token names its issuer, audience and installation, so a
# token of another installation is refused even if both were (carelessly) given the same key.

MIN_KEY_BYTES = 32
TOKEN_ISSUER = "anjian"
TOKEN_AUDIENCE = "anjian-api"
KEY_FILE_NAME = "secret_key"
INSTALLATION_FILE_NAME = "installation_id"


class SigningKeyError(RuntimeError):
    """The service must not start: no usable signing key (the message is for the operator)."""


@dataclass(frozen=True)
class SigningKey:
    secret: str = field(repr=False)
    installation_id: str
    generated: bool = False  # True: the development key of the data dir, not a configured one


def _create_once(path: Path, content: str, mode: int) -> str:
    """Write ``content`` to a new file (exclusive create, ``mode``); if it exists, read it instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content + "\n")
    return content


def installation_id(data_dir: Path) -> str:
    return _create_once(Path(data_dir) / INSTALLATION_FILE_NAME, uuid.uuid4().hex, 0o644)


def resolve_signing_key(settings) -> SigningKey:
    """The installation's key and id, or SigningKeyError saying what to configure."""
    generated = False
    if settings.secret_key and settings.secret_key_file:
        raise SigningKeyError("ANJIAN_SECRET_KEY 与 ANJIAN_SECRET_KEY_FILE 只能设置其中一个")
    if settings.secret_key_file:
        try:
            secret = Path(settings.secret_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SigningKeyError(f"无法读取签名密钥文件 ANJIAN_SECRET_KEY_FILE={settings.secret_key_file}：{exc.strerror}") from exc
        source = "ANJIAN_SECRET_KEY_FILE"
    elif settings.secret_key:
        secret, source = settings.secret_key, "ANJIAN_SECRET_KEY"
    elif settings.env == "production":
        raise SigningKeyError(
            "生产环境（ANJIAN_ENV=production）未配置令牌签名密钥，拒绝启动：请设置 ANJIAN_SECRET_KEY"
            f"或 ANJIAN_SECRET_KEY_FILE（至少 {MIN_KEY_BYTES} 字节的随机值，例如 `openssl rand -hex 32`）")
    else:  # development: a random key, generated once into the data dir and reused
        secret = _create_once(Path(settings.data_dir) / KEY_FILE_NAME, secrets.token_urlsafe(48), 0o600)
        source, generated = f"{Path(settings.data_dir) / KEY_FILE_NAME}", True
    if len(secret.encode("utf-8")) < MIN_KEY_BYTES:
        raise SigningKeyError(f"令牌签名密钥（{source}）太短：至少需要 {MIN_KEY_BYTES} 字节，拒绝启动")
    return SigningKey(secret=secret, installation_id=installation_id(settings.data_dir),
                      generated=generated)


def issue_token(user_id: int, key: SigningKey, now: datetime, ttl: timedelta, *, epoch: int = 0) -> str:
    """A bearer token. ``epoch``: the user's ``token_epoch`` now; a password change or deactivation
    bumps it and so ends every token issued before. ``jti`` makes every token distinct."""
    claims = {"sub": str(user_id), "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "iid": key.installation_id,
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp()), "jti": uuid.uuid4().hex}
    if epoch:
        claims["ep"] = int(epoch)
    return jwt.encode(claims, key.secret, algorithm="HS256")


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    epoch: int
    expires_at: datetime
    token_hash: str  # SHA-256 of the token: the key of its revocation row


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_token_claims(token: str, key: SigningKey, now: datetime) -> TokenClaims | None:
    """The checked claims of a good token (signature, issuer, audience, installation, expiry on the
    app clock), or None. Whether it was revoked is the database's business (cases.platform.sessions)."""
    if not isinstance(token, str):
        return None
    claims = _verified_claims(token, key)
    if claims is None or claims.expires_at.timestamp() < now.timestamp():
        return None
    return claims


@functools.lru_cache(maxsize=4096)
def _verified_claims(token: str, key: SigningKey) -> TokenClaims | None:
    """What the signature, issuer, audience and installation of ``token`` say under ``key`` — the
    same for the same two every time, so remembered for the few thousand tokens in use: verifying
    one costs ~0.1 ms of CPU per request (PyJWT), a lookup here ~1 µs. Expiry is the caller's (the
    app clock moves); revocation is the database's. A stream of forged tokens only evicts."""
    try:
        claims = jwt.decode(token, key.secret, algorithms=["HS256"], issuer=TOKEN_ISSUER, audience=TOKEN_AUDIENCE,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "require": ["sub", "exp", "iss", "aud", "iid"]})
        if claims["iid"] != key.installation_id:
            return None
        return TokenClaims(user_id=int(claims["sub"]), epoch=int(claims.get("ep", 0)),
                           expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=timezone.utc),
                           token_hash=token_hash(token))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError, OverflowError, OSError):
        return None


def read_token(token: str, key: SigningKey, now: datetime) -> int | None:
    """The user id, or None for a bad or expired token, or one of another issuer, audience or
    installation (expiry checked against the app clock)."""
    try:
        claims = jwt.decode(token, key.secret, algorithms=["HS256"], issuer=TOKEN_ISSUER, audience=TOKEN_AUDIENCE,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,  # the app clock decides
                                     "require": ["sub", "exp", "iss", "aud", "iid"]})
        if claims["iid"] != key.installation_id:
            return None
        if int(claims["exp"]) < now.timestamp():
            return None
        return int(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None
