"""Identity hygiene: the rules every new account obeys, wherever it is created (admin API, ``anjian user add``).

- 用户名: ASCII letters, digits and ``._-`` only, 3–32 characters, stored lower-case (so ``Admin`` and
  ``admin`` are one name; login lower-cases what is typed). No look-alike letters from other scripts.
- 姓名 (display name): NFKC-normalised; no control or format characters (Unicode Cc/Cf, which include the
  bidi overrides U+202E …); 1–40 characters. A staff account may not carry an authority's name
  (管理员 / 住建局 / 住房和城乡建设) unless its role is admin, so nobody signs a case as “省厅系统管理员”.
- 密码: at least 10 characters, not all digits, not a common password, not the username.
- 企业联系人 needs an existing enterprise; staff have none. A named superior must exist.

Each check raises ValidationFailed naming the field by its Chinese label.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.platform.errors import ValidationFailed

USERNAME_RE = re.compile(r"^[a-z0-9._-]{3,32}$")
DISPLAY_NAME_MAX = 40
PASSWORD_MIN = 10
# Words only an administrator's account may carry in its display name.
AUTHORITY_WORDS = ("管理员", "住建局", "住房和城乡建设")
# The most common passwords of at least 10 characters (and a few local favourites), lower-case.
COMMON_PASSWORDS = frozenset({
    "password123", "password1234", "passw0rd123", "qwertyuiop", "qwerty1234", "qwerty12345", "1q2w3e4r5t",
    "1qaz2wsx3edc", "abcdefghij", "abc1234567", "abcd123456", "a123456789", "aa12345678", "admin12345",
    "admin123456", "administrator", "iloveyou123", "woaini1314", "woaini520520", "asdfghjkl;", "zxcvbnm123",
    "qazwsxedcr", "1234567890a", "a1234567890", "welcome123", "changeme123", "p@ssw0rd123", "p@ssword123",
    "password!", "passwordpassword", "letmein123", "football123", "anjian12345", "zhujianju123",
})


def _fail(field: str, label: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "label": label, "message": message}])


def normalize_username(value: Any) -> str:
    """The stored form of a username (lower-case); refuses anything outside the allowed alphabet."""
    if not isinstance(value, str):
        raise _fail("username", "用户名", "应为文本")
    name = value.strip()
    if not 3 <= len(name) <= 32:
        raise _fail("username", "用户名", f"长度应为3至32个字符（当前{len(name)}个）")
    if not USERNAME_RE.match(name.lower()) or not name.isascii():
        raise _fail("username", "用户名", "只能包含英文字母、数字、点、下划线和连字符")
    return name.lower()


def normalize_display_name(value: Any, role: str) -> str:
    if not isinstance(value, str):
        raise _fail("display_name", "姓名", "应为文本")
    name = unicodedata.normalize("NFKC", value).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise _fail("display_name", "姓名", "不能包含控制字符或格式字符（如文字方向控制符）")
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise _fail("display_name", "姓名", f"长度应为1至{DISPLAY_NAME_MAX}个字符（当前{len(name)}个）")
    if role != "admin":
        word = next((w for w in AUTHORITY_WORDS if w in name), None)
        if word:
            raise _fail("display_name", "姓名", f"不能包含“{word}”（仅管理员账户可用）")
    return name


def check_password(password: Any, username: str) -> None:
    if not isinstance(password, str):
        raise _fail("password", "密码", "应为文本")
    if len(password) < PASSWORD_MIN:
        raise _fail("password", "密码", f"长度不能少于{PASSWORD_MIN}个字符")
    if password.isdigit():
        raise _fail("password", "密码", "不能全是数字")
    if password.lower() in COMMON_PASSWORDS:
        raise _fail("password", "密码", "过于常见，请换一个")
    if password.lower() == username.lower():
        raise _fail("password", "密码", "不能与用户名相同")


def check_new_user(session: Session, *, username: Any, display_name: Any, password: Any, role: str,
                   enterprise_id: int | None, supervisor_id: int | None = None) -> dict[str, str]:
    """Every rule for a new account; returns the normalised ``username`` and ``display_name``.
    All problems are reported together."""
    from cases.models import Enterprise, User

    errors: list[dict[str, str]] = []
    out: dict[str, str] = {}
    for key, check in (("username", lambda: normalize_username(username)),
                       ("display_name", lambda: normalize_display_name(display_name, role))):
        try:
            out[key] = check()
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    try:
        check_password(password, out.get("username") or str(username))
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if role == "enterprise":
        if enterprise_id is None:
            errors.append({"field": "enterprise_id", "label": "所属企业", "message": "企业联系人必须关联企业"})
        elif session.get(Enterprise, enterprise_id) is None:
            errors.append({"field": "enterprise_id", "label": "所属企业", "message": f"企业（编号{enterprise_id}）不存在"})
    elif enterprise_id is not None:
        errors.append({"field": "enterprise_id", "label": "所属企业", "message": "监管人员不能关联企业"})
    if supervisor_id is not None and session.get(User, supervisor_id) is None:
        errors.append({"field": "supervisor_id", "label": "上级", "message": f"用户（编号{supervisor_id}）不存在"})
    if "username" in out and session.scalar(
            select(User.id).where(func.lower(User.username) == out["username"])) is not None:
        errors.append({"field": "username", "label": "用户名", "message": f"用户名“{out['username']}”已存在"})
    if errors:
        raise ValidationFailed(errors)
    return out
