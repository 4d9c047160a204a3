"""Periods (月报/季报/半年报/年报) and their reporting deadlines, from the versioned policy data
``state_machines/policies/reporting-v<N>.yaml`` (the highest version is current; docs/reports.md)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import yaml

from cases.platform.errors import ValidationFailed
from state_machines.policies import POLICY_DIR

KINDS = ("month", "quarter", "half", "year")
KIND_LABELS = {"month": "月报", "quarter": "季报", "half": "半年报", "year": "年报"}
_KEY = {"month": re.compile(r"^(\d{4})-(\d{2})$"), "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
        "half": re.compile(r"^(\d{4})-H([12])$"), "year": re.compile(r"^(\d{4})$")}
_EXAMPLES = {"month": "2026-03", "quarter": "2026-Q1", "half": "2026-H1", "year": "2026"}


@dataclass(frozen=True)
class Period:
    kind: str
    key: str
    first: date
    last: date

    @property
    def label(self) -> str:
        y = self.first.year
        if self.kind == "month":
            return f"{y}年{self.first.month}月"
        if self.kind == "quarter":
            return f"{y}年第{'一二三四'[(self.first.month - 1) // 3]}季度"
        if self.kind == "half":
            return f"{y}年{'上' if self.first.month == 1 else '下'}半年"
        return f"{y}年"


def _month_end(y: int, m: int) -> date:
    return date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)


def parse_period(kind: Any, key: Any) -> Period:
    """``("month", "2026-03")`` → the period; a 422 naming 报告周期 / 报告期 otherwise."""
    if kind not in KINDS:
        raise ValidationFailed([{"field": "period_kind", "label": "报告周期",
                                 "message": "应为 " + "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())}])
    m = _KEY[kind].match(str(key or ""))
    year = int(m.group(1)) if m else 0
    if not m or not 2000 <= year <= 2100 or (kind == "month" and not 1 <= int(m.group(2)) <= 12):
        raise ValidationFailed([{"field": "period", "label": "报告期",
                                 "message": f"格式应为 {_EXAMPLES[kind]}（{KIND_LABELS[kind]}）"}])
    if kind == "month":
        mo = int(m.group(2))
        return Period(kind, key, date(year, mo, 1), _month_end(year, mo))
    if kind == "quarter":
        q = int(m.group(2))
        return Period(kind, key, date(year, 3 * q - 2, 1), _month_end(year, 3 * q))
    if kind == "half":
        h = int(m.group(2))
        return Period(kind, key, date(year, 6 * h - 5, 1), _month_end(year, 6 * h))
    return Period(kind, key, date(year, 1, 1), date(year, 12, 31))


@dataclass(frozen=True)
class ReportingPolicy:
    version: int
    periods: dict[str, dict[str, Any]]
    # A deadline that falls on a day off (weekend, holiday, not a 调休 working day) moves to the next
    # working day (期间届满的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日).
    rolls_over_days_off: bool = False

    def deadline(self, period: Period, calendar: Any = None) -> date:
        """The last legal date on which the period's report is on time (inclusive); with
        ``rolls_over_days_off``, on the working-day ``calendar`` (cases.clocks.holiday_calendar)."""
        rule = self.periods[period.kind]["deadline"]
        if "after_end" in rule:
            months, day = int(rule["after_end"]["months"]), int(rule["after_end"]["day"])
            y, m = period.last.year, period.last.month + months
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
            d = date(y, m, min(day, _month_end(y, m).day))
        else:
            fixed = rule["fixed"]
            d = date(period.first.year + int(fixed.get("year_offset", 0)), int(fixed["month"]), int(fixed["day"]))
        if self.rolls_over_days_off:
            if calendar is None:
                raise ValueError(f"reporting-v{self.version}: the deadline needs the working-day calendar")
            while not calendar.is_working_day(d):
                d += timedelta(days=1)
        return d


def _check(data: dict[str, Any], name: str) -> ReportingPolicy:
    periods = data.get("periods") or {}
    for kind in KINDS:
        rule = (periods.get(kind) or {}).get("deadline") or {}
        if not ("after_end" in rule or "fixed" in rule):
            raise ValueError(f"{name}: periods.{kind}.deadline needs after_end or fixed")
    return ReportingPolicy(int(data["version"]), periods, bool(data.get("rolls_over_days_off", False)))


@lru_cache(maxsize=8)
def load(version: int | None = None) -> ReportingPolicy:
    """The policy of ``version`` (None: the highest). A version may ``extends`` the one before and
    state only the periods it changes."""
    files = {int(p.stem.rsplit("-v", 1)[1]): p for p in POLICY_DIR.glob("reporting-v*.yaml")}
    if not files:
        raise FileNotFoundError("no reporting-v*.yaml policy")
    v = version if version is not None else max(files)
    data = yaml.safe_load(files[v].read_text(encoding="utf-8"))
    if data.get("extends"):
        base = load(int(data["extends"]))
        data = {**data, "periods": {**base.periods, **(data.get("periods") or {})}}
    return _check(data, files[v].name)


def cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"
