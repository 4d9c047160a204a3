"""Channel secrets: encrypted at rest, masked on read and in receipts and logs.

**At rest.** The secret fields of a saved channel configuration (passwords, keys, tokens) and its
URLs (which may carry ``user:password@`` or ``?token=``) are stored as ``enc:v1:<Fernet token>``
(``cryptography``'s Fernet: AES-128-CBC + HMAC-SHA256). The key lives outside the database:

* ``ANJIAN_CHANNEL_KEY`` (any string of at least 32 bytes, e.g. ``openssl rand -hex 32``) or
  ``ANJIAN_CHANNEL_KEY_FILE`` (a file holding it); the Fernet key is the SHA-256 of it;
* else, in development, a random key generated once into ``<data_dir>/channel_key`` (mode 0600),
  as the token signing key is (cases/platform/security.py);
* in production (``ANJIAN_ENV=production``) without a configured key the service starts (the inbox
  needs no key) but refuses to save a channel configuration, and saved secrets cannot be read:
  :class:`ChannelKeyError` says what to configure.

A value without the ``enc:v1:`` prefix is a plaintext row saved before encryption existed: it is
still used, and :func:`encrypt_legacy` (run at start-up) rewrites it encrypted.
With the wrong key a value cannot be decrypted: :class:`ChannelKeyError` (the channel is reported
as unreadable; delivery on it fails with that reason; nothing else stops).

**On read.** :func:`mask_url` hides a URL's password and secret-looking query values
(``json://user:****@host/path?token=****``); :func:`redact` removes known secret values and the same
patterns from any text (apprise's log of an exchange, errors, alerts).
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc:v1:"
KEY_FILE_NAME = "channel_key"
MIN_KEY_BYTES = 32
MASK = "****"
# Query parameter names whose values are secrets (case-insensitive, substring match).
SECRET_PARAM = re.compile(r"(token|key|secret|pass|pwd|sign|auth|credential|session|sig)", re.I)


class ChannelKeyError(RuntimeError):
    """Channel secrets cannot be encrypted or decrypted (Chinese message for the administrator)."""


def _create_once(path: Path, content: str) -> str:
    from cases.platform.security import _create_once as create  # the signing key's helper: exclusive create

    return create(path, content, 0o600)


def _fernet(settings) -> Fernet:
    key, source = settings.channel_key, "ANJIAN_CHANNEL_KEY"
    if settings.channel_key and settings.channel_key_file:
        raise ChannelKeyError("ANJIAN_CHANNEL_KEY 与 ANJIAN_CHANNEL_KEY_FILE 只能设置其中一个")
    if settings.channel_key_file:
        source = "ANJIAN_CHANNEL_KEY_FILE"
        try:
            key = Path(settings.channel_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ChannelKeyError(f"无法读取渠道密钥文件 ANJIAN_CHANNEL_KEY_FILE={settings.channel_key_file}："
                                  f"{exc.strerror}") from exc
    elif not key:
        if settings.env == "production":
            raise ChannelKeyError("生产环境（ANJIAN_ENV=production）未配置渠道密钥加密密钥，不能保存或读取渠道密钥："
                                  "请设置 ANJIAN_CHANNEL_KEY 或 ANJIAN_CHANNEL_KEY_FILE（至少 32 字节的随机值，"
                                  "例如 `openssl rand -hex 32`）")
        path = Path(settings.data_dir) / KEY_FILE_NAME
        key, source = _create_once(path, secrets.token_urlsafe(48)), str(path)
    if len(key.encode("utf-8")) < MIN_KEY_BYTES:
        raise ChannelKeyError(f"渠道密钥加密密钥（{source}）太短：至少需要 {MIN_KEY_BYTES} 字节")
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode("utf-8")).digest()))


def is_encrypted(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt_values(values: dict, names: set[str], settings) -> dict:
    """``values`` with the fields in ``names`` encrypted (raises ChannelKeyError without a key)."""
    out = dict(values)
    todo = [k for k in names if isinstance(out.get(k), str) and out[k] and not is_encrypted(out[k])]
    if todo:
        f = _fernet(settings)
        for k in todo:
            out[k] = PREFIX + f.encrypt(out[k].encode("utf-8")).decode("ascii")
    return out


def decrypt_values(values: dict, settings, *, channel_label: str = "") -> dict:
    """``values`` with every encrypted field decrypted; plaintext (legacy) values pass through."""
    out = dict(values)
    todo = [k for k, v in out.items() if is_encrypted(v)]
    if todo:
        f = _fernet(settings)
        for k in todo:
            try:
                out[k] = f.decrypt(out[k][len(PREFIX):].encode("ascii")).decode("utf-8")
            except (InvalidToken, ValueError):
                raise ChannelKeyError(f"{channel_label}渠道保存的密钥无法解密：渠道密钥加密密钥（ANJIAN_CHANNEL_KEY / "
                                      "ANJIAN_CHANNEL_KEY_FILE）与保存时不同；请恢复原密钥，或重新填写该渠道的配置") from None
    return out


# ---------------------------------------------------------------- masking


def mask_url(url: str) -> str:
    """``scheme://user:****@host:port/path?token=****&other=x`` — the password and the values of
    secret-looking query parameters hidden; everything else kept for recognition."""
    if not isinstance(url, str) or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_pw, _ = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if has_pw else f"{user}@{hostport}"
            if not has_pw and SECRET_PARAM.search(user or "") is None and len(user) > 12:
                netloc = f"{MASK}@{hostport}"  # a long bare user part is a token (dingtalk://SECRET@…)
        pairs = [item.partition("=") for item in parts.query.split("&")] if parts.query else []
        query = "&".join(f"{k}={MASK}" if sep and SECRET_PARAM.search(unquote_plus(k)) else f"{k}{sep}{v}"
                         for k, sep, v in pairs)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return f"{url.partition('://')[0]}://{MASK}"


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@")
_QUERY = re.compile(r"(?P<name>[A-Za-z0-9_+-]*(?:token|key|secret|pass|pwd|sign|auth|credential|session|sig)"
                    r"[A-Za-z0-9_-]*)=(?P<value>[^&\s'\"<>]+)", re.I)
_current_secrets: ContextVar[tuple[str, ...]] = ContextVar("anjian_channel_secrets", default=())


def redact(text: str | None, known: tuple[str, ...] | list[str] = ()) -> str | None:
    """``text`` with every known secret value and every URL password / secret query value masked."""
    if not text:
        return text
    for value in sorted({v for v in (*known, *_current_secrets.get()) if v and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, MASK)
        quoted = quote(value, safe="")
        if quoted != value:
            text = text.replace(quoted, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _QUERY.sub(lambda m: f"{m['name']}={MASK}", text)


def url_secrets(url: str, plugin=None) -> list[str]:
    """The secret values in a channel URL (password, secret-looking query values) and its apprise
    plugin (key, token, secret, password), for :func:`redact` while it is used."""
    found = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        found += [v for k, v in parse_qsl(parts.query) if SECRET_PARAM.search(k)]
    except ValueError:
        pass
    for attr in ("key", "token", "secret", "password"):
        value = getattr(plugin, attr, None)
        if isinstance(value, str):
            found.append(value)
    return found


class RedactingFilter(logging.Filter):
    """Masks secrets in every record of a logger (installed on apprise's logger, so neither the
    worker's log nor the receipt captured from apprise carries one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_log_filter() -> None:
    logger = logging.getLogger("apprise")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class sending_secrets:  # noqa: N801 - used as a context manager
    """Within the block, :func:`redact` (and so the log filter) also masks these exact values."""

    def __init__(self, values) -> None:
        self.values = tuple(v for v in values if isinstance(v, str) and v)

    def __enter__(self):
        self.token = _current_secrets.set(self.values)
        return self

    def __exit__(self, *exc):
        _current_secrets.reset(self.token)
        return False
