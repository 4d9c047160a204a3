"""Validate action and creation payloads against the field specs of a machine definition.

Every problem is collected (not just the first) and reported per field in Chinese.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable

from cases.platform.errors import ValidationFailed
from state_machines.loader import FieldSpec

# Lookups that need the database: return None when fine, else the problem (Chinese).
Lookup = Callable[[str, Any], "str | None"]

# Integers the databases can hold (BIGINT / SQLite INTEGER); larger ones overflow in the driver.
MAX_INT = 2**63 - 1
NUL_PROBLEM = "不能包含空字符（\\u0000）"
# No date a person enters in this system lies before it (a typo such as 0026-11-26 or 1026-11-26).
EARLIEST_DATE = date(2000, 1, 1)
TOO_EARLY = "不能早于2000年1月1日"
OUT_OF_RANGE = "数值超出范围"


def text_limit(spec: FieldSpec) -> int:
    """The most characters a string/text field takes (its ``max_length``, else 200 / 8000)."""
    return spec.max_length or (200 if spec.type == "string" else 8000)


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        # A bare local time typed by a person is Beijing time.
        from cases.platform.clock import SHANGHAI

        dt = dt.replace(tzinfo=SHANGHAI)
    return dt.astimezone(timezone.utc)


def coerce_field(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """Return (normalised value, problem). JSON-safe output: dates as ISO strings."""
    t = spec.type
    try:
        if t in ("string", "text"):
            if not isinstance(value, str):
                return None, "应为文本"
            if "\x00" in value:  # PostgreSQL text cannot hold NUL
                return None, NUL_PROBLEM
            v = value if t == "text" else value.strip()
            limit = text_limit(spec)
            if len(v) > limit:
                return None, f"长度不能超过{limit}个字符（当前{len(v)}个）"
            if spec.required and not v.strip():
                return None, "不能为空"
            return v, None
        if t == "integer":
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())):
                return None, "应为整数"
            v = int(value)
        elif t == "number":
            if isinstance(value, bool):
                return None, "应为数字"
            v = float(value)
            if not math.isfinite(v):
                return None, "应为有限的数字"
        elif t == "boolean":
            if not isinstance(value, bool):
                return None, "应为是或否（true/false）"
            if spec.must_be is not None and value != spec.must_be:
                return None, "必须确认为“是”" if spec.must_be else "必须为“否”"
            return value, None
        elif t == "date":
            d = value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value))
            return (None, TOO_EARLY) if d < EARLIEST_DATE else (d.isoformat(), None)
        elif t == "datetime":
            dt = _parse_datetime(value)
            from cases.platform.clock import SHANGHAI

            return (None, TOO_EARLY) if dt.astimezone(SHANGHAI).date() < EARLIEST_DATE else (dt.isoformat(), None)
        elif t == "enum":
            if str(value) not in (spec.options or {}):
                allowed = "、".join(f"{k}（{v}）" for k, v in (spec.options or {}).items())
                return None, f"取值“{value}”无效，可选：{allowed}"
            return str(value), None
        elif t == "checklist":
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                return None, "应为选项列表"
            unknown = [x for x in value if x not in (spec.options or {})]
            if unknown:
                return None, f"未知选项“{unknown[0]}”"
            if spec.require_all:
                missing = [label for k, label in (spec.options or {}).items() if k not in value]
                if missing:
                    return None, "以下各项须全部落实：" + "、".join(missing)
            return sorted(set(value)), None
        elif t in ("enterprise", "user"):
            if isinstance(value, bool) or not isinstance(value, int):
                return None, "应为编号（整数）"
            if abs(value) > MAX_INT:
                return None, f"编号{OUT_OF_RANGE}"
            return value, None
        elif t in ("hazard_item", "jurisdiction"):
            if not isinstance(value, str) or not value.strip():
                return None, "应为代码（文本）"
            if "\x00" in value:
                return None, NUL_PROBLEM
            return value.strip(), None
        else:  # pragma: no cover - definitions are validated at load time
            return None, f"未知字段类型 {t}"
    except (TypeError, ValueError, OverflowError):  # Overflow: 0001-01-01T00:00+08:00 has no UTC instant
        names = {"number": "数字", "integer": "整数", "date": "日期（YYYY-MM-DD）", "datetime": "时间（ISO 8601）"}
        return None, f"应为{names.get(t, t)}"
    # integer / number ranges
    if spec.min is not None and v < spec.min:
        return None, f"不能小于{_fmt(spec.min)}"
    if spec.max is not None and v > spec.max:
        return None, f"不能大于{_fmt(spec.max)}"
    if t == "integer" and abs(v) > MAX_INT:
        return None, OUT_OF_RANGE
    return v, None


def future_problem(spec: FieldSpec, value: str, now: datetime) -> str | None:
    """``not_future`` fields: a date after today (Beijing) or an instant after ``now`` is refused."""
    from cases.platform.clock import SHANGHAI

    local_now = now.astimezone(SHANGHAI)
    if spec.type == "date":
        if date.fromisoformat(value) > local_now.date():
            d = local_now.date()
            return f"不能晚于今天（{d.year}年{d.month}月{d.day}日）"
        return None
    if datetime.fromisoformat(value) > now:
        return f"不能晚于当前时间（{local_now.year}年{local_now.month}月{local_now.day}日 {local_now:%H:%M}）"
    return None


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def validate_fields(
    specs: Iterable[FieldSpec],
    payload: dict[str, Any],
    lookup: Lookup | None = None,
    *,
    allow_extra: Iterable[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Validate ``payload``; return the normalised values of the declared fields present.
    ``now`` (the one clock): ``not_future`` date/datetime fields may not lie after it."""
    specs = list(specs)
    errors: list[dict[str, str]] = []
    known = {s.name for s in specs} | set(allow_extra)
    for key in payload:
        if key not in known:
            allowed = "、".join(s.label for s in specs) or "无"
            errors.append({"field": key, "label": f"字段“{key}”", "message": f"不是此操作可填写的字段（可填写：{allowed}）"})
    out: dict[str, Any] = {}
    for spec in specs:
        value = payload.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip() and spec.type != "text"):
            if spec.required:
                errors.append({"field": spec.name, "label": spec.label, "message": "必填"})
            continue
        v, problem = coerce_field(spec, value)
        if problem is None and lookup is not None and spec.type in ("enterprise", "user", "hazard_item", "jurisdiction"):
            problem = lookup(spec.type, v)
        if problem is None and spec.not_future and now is not None:
            problem = future_problem(spec, v, now)
        if problem:
            errors.append({"field": spec.name, "label": spec.label, "message": problem})
        else:
            out[spec.name] = v
    if errors:
        raise ValidationFailed(errors)
    return out
