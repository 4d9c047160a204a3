"""The 类比排查 policy (``policies/analogs-vN.yaml``): triggers with their working days, which
projects are proposed, the reminder and who is told when a task is overdue (docs/analogs.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from state_machines.policies import POLICY_DIR

RECIPIENT_ROLES = ("district_staff", "district_supervisors", "upper_supervisors")


@dataclass(frozen=True)
class Trigger:
    name: str
    label: str
    working_days: int


@dataclass(frozen=True)
class AnalogPolicy:
    version: int
    triggers: dict[str, Trigger]
    enterprise_statuses: tuple[str, ...]
    enterprise_max: int
    category_statuses: tuple[str, ...]
    category_max: int
    lookback_days: int
    accident_categories: dict[str, tuple[str, ...]]
    reminder_before: int
    reminder_hour: int
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _positive(value: Any, what: str, *, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        raise ValueError(f"analogs policy: {what} must be a {'non-negative' if zero else 'positive'} integer, got {value!r}")
    return value


def load_analog_policy(version: int = 1, directory: Path = POLICY_DIR) -> AnalogPolicy:
    raw = yaml.safe_load((directory / f"analogs-v{version}.yaml").read_text(encoding="utf-8"))
    triggers = {name: Trigger(name, str(t["label"]), _positive(t["working_days"], f"triggers.{name}.working_days"))
                for name, t in raw["triggers"].items()}
    reminder = raw["reminder"]
    if reminder.get("unit", "working_day") != "working_day":
        raise ValueError("analogs policy: reminder.unit must be working_day")
    recipients = {k: tuple(v) for k, v in raw["recipients"].items()}
    for k, roles in recipients.items():
        bad = set(roles) - set(RECIPIENT_ROLES)
        if bad:
            raise ValueError(f"analogs policy: recipients.{k}: unknown {sorted(bad)} (one of {RECIPIENT_ROLES})")
    se, sc = raw["same_enterprise"], raw["same_category"]
    return AnalogPolicy(
        version=int(raw["version"]), triggers=triggers,
        enterprise_statuses=tuple(se["project_statuses"]), enterprise_max=_positive(se["max_projects"], "same_enterprise.max_projects"),
        category_statuses=tuple(sc["project_statuses"]), category_max=_positive(sc["max_projects"], "same_category.max_projects", zero=True),
        lookback_days=_positive(sc["lookback_days"], "same_category.lookback_days"),
        accident_categories={k: tuple(v or ()) for k, v in (raw.get("accident_categories") or {}).items()},
        reminder_before=_positive(reminder["before_due"], "reminder.before_due", zero=True),
        reminder_hour=int(reminder.get("hour", 9)), recipients=recipients)


@lru_cache
def analog_policy() -> AnalogPolicy:
    return load_analog_policy(1)
