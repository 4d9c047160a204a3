"""Jinja filters of the message and document templates: Chinese dates (2026年11月30日) in
Asia/Shanghai, amounts in 万元, the labels of lights, grades and kinds; strict: a missing value fails
the render instead of printing nothing."""
from __future__ import annotations

from cases.ledger.identifiers import cn_num  # noqa: F401  (a template filter; shared with case documents)

from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

import jinja2

from notifications.rendering.render import RenderError, SHANGHAI, _RequiredValueMissing


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------

def _to_shanghai(value: datetime) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise RenderError(f"naive datetime {value.isoformat()} given; pass an aware (UTC) datetime")
    return value.astimezone(SHANGHAI)


def cn_date(value: date | datetime) -> str:
    """2026年11月22日 (an aware datetime is taken in Asia/Shanghai)."""
    if isinstance(value, datetime):
        value = _to_shanghai(value).date()
    elif not isinstance(value, date):
        raise RenderError(f"cn_date expects a date or an aware datetime, got {value!r}")
    return f"{value.year}年{value.month}月{value.day}日"


def cn_datetime(value: datetime) -> str:
    """2026年11月22日 14时30分, in Asia/Shanghai."""
    if not isinstance(value, datetime):
        raise RenderError(f"cn_datetime expects an aware datetime, got {value!r}")
    local = _to_shanghai(value)
    return f"{local.year}年{local.month}月{local.day}日 {local.hour:02d}时{local.minute:02d}分"


def iso_datetime(value: datetime) -> str:
    """ISO 8601 in UTC (for PDF metadata)."""
    return _to_shanghai(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wan_yuan(value: Any) -> str:
    """Yuan → 万元 with up to two decimals: 1255000 → 125.5万元."""
    if isinstance(value, bool):
        raise RenderError(f"wan_yuan expects an amount in yuan, got {value!r}")
    try:
        amount = Decimal(str(value)) / Decimal(10000)
    except (InvalidOperation, ValueError) as exc:
        raise RenderError(f"wan_yuan expects an amount in yuan, got {value!r}") from exc
    amount = amount.quantize(Decimal("0.01"))
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}万元"


_LIGHTS = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
_LIGHT_COLORS = {"green": "#1a7f37", "yellow": "#b7791f", "red": "#c81e1e"}


def light(value: str) -> str:
    try:
        return _LIGHTS[value]
    except KeyError:
        raise RenderError(f"unknown traffic light {value!r}; expected green, yellow or red") from None


def light_color(value: str) -> str:
    light(value)
    return _LIGHT_COLORS[value]


_GRADES = {
    "general": "一般", "larger": "较大", "major": "重大", "especially_major": "特别重大",
    "一般": "一般", "较大": "较大", "重大": "重大", "特别重大": "特别重大",
}


def accident_grade(value: str) -> str:
    """general/larger/major/especially_major (or the Chinese name, with or without 事故) → 一般事故…"""
    if value == "pending":  # a flash report before any casualty or loss figure is known
        return "待核定"
    key = value[:-2] if isinstance(value, str) and value.endswith("事故") else value
    try:
        return _GRADES[key] + "事故"
    except (KeyError, TypeError):
        raise RenderError(f"unknown accident grade {value!r}") from None


_HANDLING = {
    "observe": "观察使用", "treat": "处理使用", "stop_use": "停止使用", "demolish": "整体拆除",
}


def handling_option(value: str) -> str:
    if value in _HANDLING:
        return _HANDLING[value]
    if value in _HANDLING.values():
        return value
    raise RenderError(f"unknown handling option {value!r}")


_APPRAISAL = {"A": "A级（非危险房屋）", "B": "B级（非危险房屋）", "C": "C级（局部危房）", "D": "D级（整幢危房）"}


def appraisal_grade(value: str) -> str:
    try:
        return _APPRAISAL[value]
    except KeyError:
        raise RenderError(f"unknown appraisal grade {value!r}; expected A, B, C or D") from None


def case_kind(value: str) -> str:
    """The kind's short name (``short_label`` of its machine definition: 一般隐患, 危房, 险情…)."""
    from cases.ledger.engine import get_registry

    try:
        return get_registry().latest(value).short_label
    except KeyError:
        raise RenderError(f"unknown case kind {value!r}") from None


_CN_DIGITS = "零一二三四五六七八九"


def clip(value: str, length: int) -> str:
    """Shorten user text for short messages: at most ``length`` characters, ending with …"""
    text = " ".join(str(value).split())
    return text if len(text) <= length else text[: length - 1] + "…"


def required(value: Any, name: str) -> Any:
    """Fail for an optional variable that this branch of the template needs."""
    if value is None:
        raise _RequiredValueMissing(name)
    return value


def _strict(func):
    """Let an undefined value reaching a filter fail as undefined (→ TemplateVariableMissing)."""

    @wraps(func)
    def wrapper(value, *args, **kwargs):
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()
        return func(value, *args, **kwargs)

    return wrapper


FILTERS = {
    "cn_date": cn_date,
    "cn_datetime": cn_datetime,
    "iso_datetime": iso_datetime,
    "wan_yuan": wan_yuan,
    "light": light,
    "light_color": light_color,
    "accident_grade": accident_grade,
    "handling_option": handling_option,
    "appraisal_grade": appraisal_grade,
    "case_kind": case_kind,
    "cn_num": cn_num,
    "clip": clip,
    "required": required,
}
FILTERS = {name: _strict(func) for name, func in FILTERS.items()}
