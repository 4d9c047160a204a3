"""Parsing and checking a year's holiday notice (国务院办公厅关于某年部分节假日安排的通知) loaded by an administrator:
dates, 调休 workdays, digest."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Any, Iterable, Mapping


from cases.clocks.legal_time import HolidayRange, LoadedYear, _DAY, _WEEKDAY_ZH


# ---------------------------------------------------------------------------
# Year notices
# ---------------------------------------------------------------------------

_ALLOWED_KEYS = frozenset({"year", "notice", "days_off", "workdays", "holidays", "source"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELD_ZH = {"days_off": "放假日期 days_off", "workdays": "调休上班日期 workdays", "holidays": "节日 holidays"}


def _parse_date(value: object, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # YAML turns unquoted 2027-01-01 into a date already
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}中无法识别的日期 {value!r}（应为 YYYY-MM-DD）")


def _in_year(d: date, year: int, where: str) -> date:
    if d.year != year:
        raise ValueError(
            f"{where}中的 {d.isoformat()} 不在 {year} 年内；"
            f"跨年的放假或调休日期请登记在该日期所属年份的放假安排中"
        )
    return d


def _date_list(value: object, key: str, year: int) -> set[date]:
    if value is None:
        return set()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{_FIELD_ZH[key]} 必须是日期列表")
    return {_in_year(_parse_date(v, _FIELD_ZH[key]), year, _FIELD_ZH[key]) for v in value}


def _digest(year: int, days_off: Iterable[date], workdays: Iterable[date]) -> str:
    # Only what changes a deadline is hashed, so fixing a holiday name or the notice
    # number does not change the calendar version of past computations.
    payload = {
        "year": year,
        "days_off": sorted(d.isoformat() for d in days_off),
        "workdays": sorted(d.isoformat() for d in workdays),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def parse_year_notice(data: Mapping[str, Any]) -> LoadedYear:
    """Validate and normalise one year's holiday notice (dict from YAML or JSON).

    Raises ``ValueError`` with a Chinese message naming the offending value.
    """
    if not isinstance(data, Mapping):
        raise ValueError("放假安排必须是一个对象（YAML/JSON 字典）")
    unknown = sorted(str(k) for k in data if k not in _ALLOWED_KEYS)
    if unknown:
        raise ValueError(f"放假安排中有无法识别的字段：{'、'.join(unknown)}")

    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        raise ValueError("放假安排缺少有效的年份 year（整数）")
    if not 1900 <= year <= 2200:
        raise ValueError(f"年份 {year} 超出支持范围（1900–2200）")
    notice = data.get("notice")
    if not isinstance(notice, str) or not notice.strip():
        raise ValueError("放假安排缺少通知文号 notice")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise ValueError("来源 source 必须是文本")

    days_off = _date_list(data.get("days_off"), "days_off", year)
    workdays = _date_list(data.get("workdays"), "workdays", year)

    ranges: list[HolidayRange] = []
    raw_holidays = data.get("holidays") or []
    if not isinstance(raw_holidays, (list, tuple)):
        raise ValueError("节日 holidays 必须是列表")
    named: dict[date, str] = {}
    for item in raw_holidays:
        if not isinstance(item, Mapping):
            raise ValueError("节日 holidays 的每一项必须包含 name、start、end")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("节日 holidays 的每一项必须有名称 name")
        name = name.strip()
        where = f"节日“{name}”"
        start = _in_year(_parse_date(item.get("start"), where), year, where)
        end = _in_year(_parse_date(item.get("end", item.get("start")), where), year, where)
        if end < start:
            raise ValueError(f"{where}的结束日期 {end.isoformat()} 早于开始日期 {start.isoformat()}")
        d = start
        while d <= end:
            if named.get(d, name) != name:
                raise ValueError(f"{d.isoformat()} 同时属于节日“{named[d]}”和“{name}”")
            named[d] = name
            days_off.add(d)
            d += _DAY
        ranges.append(HolidayRange(name, start, end))

    clash = sorted(days_off & workdays)
    if clash:
        raise ValueError(f"{clash[0].isoformat()} 同时出现在放假日期和调休上班日期中")
    for d in sorted(workdays):
        if d.weekday() < 5:
            raise ValueError(
                f"{d.isoformat()} 是{_WEEKDAY_ZH[d.weekday()]}，本来就是工作日，"
                f"不能列为调休上班日（调休上班日只能是星期六或星期日）"
            )
    if not days_off:
        raise ValueError(f"{year} 年的放假安排中没有任何放假日期（days_off 或 holidays）")

    ranges.sort(key=lambda h: (h.start, h.end, h.name))
    return LoadedYear(
        year=year,
        days_off=frozenset(days_off),
        workdays=frozenset(workdays),
        notice=notice.strip(),
        digest=_digest(year, days_off, workdays),
        holidays=tuple(ranges),
        source=source,
    )
