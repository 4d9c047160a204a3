"""The credit deduction table (``policies/credit-vN.yaml``): items (code, label, points, validity),
the clock rungs that record a cause, and the blacklist / exposure thresholds (docs/credit.md).

Every version stays loadable: a record keeps the version it was computed under, and a correction
recomputes under that version, never the current one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from state_machines.policies import POLICY_DIR

LISTS = ("exposure", "blacklist")


@dataclass(frozen=True)
class Item:
    cause: str
    code: str
    label: str
    points: int
    validity_days: int


@dataclass(frozen=True)
class RungCause:
    ladder: str
    rung: str
    cause: str
    deadline_keys: tuple[str, ...] = ()  # empty: any deadline on the ladder


@dataclass(frozen=True)
class Threshold:
    list: str
    label: str
    score_at_most: int
    period_days: int


@dataclass(frozen=True)
class CreditPolicy:
    version: int
    base_score: int
    items: dict[str, Item]
    rungs: tuple[RungCause, ...]
    thresholds: dict[str, Threshold]

    def item(self, cause: str) -> Item:
        if cause not in self.items:
            raise KeyError(f"credit-v{self.version}: no item for cause {cause!r}")
        return self.items[cause]

    def rung_cause(self, ladder: str, rung: str, deadline_key: str | None) -> str | None:
        for r in self.rungs:
            if r.ladder == ladder and r.rung == rung and (not r.deadline_keys or deadline_key in r.deadline_keys):
                return r.cause
        return None

    @property
    def report_keys(self) -> tuple[str, ...]:
        """The deadline keys whose late or missed meeting is a ``late_report`` record."""
        return tuple(k for r in self.rungs if r.cause == "late_report" for k in r.deadline_keys)


def _int(value: Any, what: str, *, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        raise ValueError(f"credit policy: {what} must be a {'non-negative' if zero else 'positive'} integer, got {value!r}")
    return value


def load_credit_policy(version: int, directory: Path = POLICY_DIR) -> CreditPolicy:
    raw = yaml.safe_load((directory / f"credit-v{version}.yaml").read_text(encoding="utf-8"))
    if raw.get("version") != version:
        raise ValueError(f"credit-v{version}.yaml says version {raw.get('version')!r}")
    items = {cause: Item(cause, str(i["code"]), str(i["label"]), _int(i["points"], f"items.{cause}.points", zero=True),
                         _int(i["validity_days"], f"items.{cause}.validity_days"))
             for cause, i in raw["items"].items()}
    rungs = tuple(RungCause(str(r["ladder"]), str(r["rung"]), str(r["cause"]), tuple(r.get("deadline_keys") or ()))
                  for r in raw.get("rungs") or ())
    for r in rungs:
        if r.cause not in items:
            raise ValueError(f"credit policy: rung {r.ladder}.{r.rung} names unknown cause {r.cause!r}")
    thresholds = {name: Threshold(name, str(t["label"]), _int(t["score_at_most"], f"thresholds.{name}.score_at_most", zero=True),
                                  _int(t["period_days"], f"thresholds.{name}.period_days"))
                  for name, t in raw["thresholds"].items()}
    if set(thresholds) - set(LISTS):
        raise ValueError(f"credit policy: unknown lists {sorted(set(thresholds) - set(LISTS))}")
    return CreditPolicy(version, _int(raw["base_score"], "base_score"), items, rungs, thresholds)


def versions(directory: Path = POLICY_DIR) -> list[int]:
    return sorted(int(m.group(1)) for p in directory.glob("credit-v*.yaml")
                  if (m := re.fullmatch(r"credit-v(\d+)\.yaml", p.name)))


@lru_cache
def credit_policy(version: int | None = None) -> CreditPolicy:
    """The table of ``version``, or the current (highest) one."""
    return load_credit_policy(version if version is not None else versions()[-1])
