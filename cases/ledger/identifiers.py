"""统一社会信用代码 (GB 32100-2015) and GB/T 2260 code helpers."""
from __future__ import annotations

# The 31 characters of the code alphabet (no I, O, S, V, Z) and their values.
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CREDIT_ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """None when valid, else a Chinese sentence saying what is wrong."""
    if not isinstance(code, str):
        return "统一社会信用代码必须是文本"
    code = code.strip().upper()
    if len(code) != 18:
        return f"统一社会信用代码应为18位，实际为{len(code)}位"
    bad = [c for c in code if c not in _VALUE]
    if bad:
        return f"统一社会信用代码含有非法字符“{bad[0]}”（不使用 I、O、S、V、Z）"
    if not code[2:8].isdigit():
        return "统一社会信用代码第3–8位应为登记管理机关行政区划码（数字）"
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return f"统一社会信用代码校验位错误：第18位应为“{expected}”，实际为“{code[17]}”"
    return None


def make_credit_code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def division_level(code: str) -> str:
    """Level of a six-digit GB/T 2260 code (longer codes are townships)."""
    if len(code) > 6:
        return "township"
    if code == "000000":
        return "national"
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "prefecture"
    return "county"


LEVEL_RANK = {"national": 0, "province": 1, "prefecture": 2, "county": 3, "township": 4}
LEVEL_LABEL = {"national": "部级", "province": "省级", "prefecture": "市级", "county": "县级", "township": "乡镇级"}


_CN_DIGITS = "零一二三四五六七八九"


def cn_num(value: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十, 99 → 九十九 (article numbers, 一、 and （一） numbering)."""
    n = int(value)
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _CN_DIGITS[ones]
    head = "" if tens == 1 else _CN_DIGITS[tens]
    return head + "十" + (_CN_DIGITS[ones] if ones else "")
