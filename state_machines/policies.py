"""Deadline rules and escalation ladders as versioned data (``policies/*-vN.yaml``)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

POLICY_DIR = Path(__file__).parent / "policies"
# Whose clock a deadline is: the ladder's reminders and warnings go to that party and up its chain.
# "authority" is the supervised lower authority of a listing (挂牌督办), set by the listing itself;
# "self" an enterprise's own self-inspection clock (自查整改期限: its contacts only, docs/self-inspection.md).
PARTIES = ("enterprise", "officer", "approver", "authority", "self")


@dataclass(frozen=True)
class DeadlineRule:
    kind: str
    key: str
    label: str
    unit: str
    ladder: str
    start_on: tuple[str, ...] = ()
    met_on: tuple[str, ...] = ()
    ends_on: tuple[str, ...] = ()  # after these the clock can no longer be met: it ends as "missed"
    start_from: str = "action"
    amount: Any = None
    due_from_field: str | None = None
    pause_on: tuple[str, ...] = ()
    resume_on: tuple[str, ...] = ()
    extend_on: dict[str, str] = field(default_factory=dict)
    max_extension: int | None = None
    when: dict[str, Any] = field(default_factory=dict)
    light: bool = True
    party: str = "officer"
    cancel_on: tuple[str, ...] = ()
    # A follow-up that keeps running after the case reaches a final state (整改评估 after 结案);
    # deadlines opened by the final action itself (回头看, 复鉴定) survive without it.
    survives_closure: bool = False
    working_days_up_to: int | None = None  # calendar-day periods of this many days or fewer run in working days

    def unit_for(self, amount: int) -> str:
        """The unit a period of ``amount`` runs in: a ``calendar_day`` rule with ``working_days_up_to: N``
        counts periods of N days or fewer in working days (行政强制法 Art. 69: 十日以内期限 = 工作日)."""
        if self.unit == "calendar_day" and self.working_days_up_to is not None and amount <= self.working_days_up_to:
            return "working_day"
        return self.unit


@dataclass(frozen=True)
class Rung:
    rung: str
    label: str
    at: dict[str, Any]
    effects: tuple[str, ...]

    @property
    def is_reminder_before(self) -> bool:
        return "before_due" in self.at or "due_day" in self.at or "before_due_hours" in self.at


@dataclass(frozen=True)
class Policy:
    version: int
    rules: dict[str, tuple[DeadlineRule, ...]]
    ladders: dict[str, tuple[Rung, ...]]
    near_due: dict[str, Any]
    reminder_hour: int
    supervision: dict[str, Any]
    # Dates the ladder's letters ask for, counted from their issue (cases.issuance.documents.ladder_dates).
    letters: dict[str, Any] = field(default_factory=dict)

    def rules_for(self, kind: str) -> tuple[DeadlineRule, ...]:
        return self.rules.get(kind, ())

    def rule(self, kind: str, key: str) -> DeadlineRule | None:
        return next((r for r in self.rules_for(kind) if r.key == key), None)

    def ladder(self, name: str) -> tuple[Rung, ...]:
        return self.ladders[name]

    def rung(self, ladder: str, rung: str) -> Rung | None:
        return next((r for r in self.ladders.get(ladder, ()) if r.rung == rung), None)


def _tuple(v) -> tuple:
    if v is None:
        return ()
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def _deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _layer(directory: Path, name: str, version: int) -> dict:
    """``<name>-v<version>.yaml`` with what it ``extends`` underneath (``extends: N`` = version N's
    data, merged key by key: a new version states only what it adds or changes). A version with no
    file of this name is the one before it (a deadlines-v2 needs no escalation-v2)."""
    path = directory / f"{name}-v{version}.yaml"
    if not path.exists():
        if version <= 1:
            raise FileNotFoundError(path)
        return _layer(directory, name, version - 1)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if int(base) >= version:
        raise ValueError(f"{path.name}: extends {base}, not an earlier version")
    return _deep_merge(_layer(directory, name, int(base)), raw)


def latest_version(directory: Path = POLICY_DIR) -> int:
    """The highest N of ``deadlines-vN.yaml``: new deadlines are opened under it."""
    return max(int(m.group(1)) for p in directory.glob("deadlines-v*.yaml")
               if (m := re.fullmatch(r"deadlines-v(\d+)\.yaml", p.name)))


def load_policy(version: int | None = None, directory: Path = POLICY_DIR) -> Policy:
    version = latest_version(directory) if version is None else version
    deadlines = _layer(directory, "deadlines", version)
    escalation = _layer(directory, "escalation", version)
    ladders = {
        name: tuple(Rung(r["rung"], r.get("label", r["rung"]), dict(r["at"]), _tuple(r.get("effects")))
                    for r in rungs)
        for name, rungs in escalation["ladders"].items()
    }
    rules: dict[str, tuple[DeadlineRule, ...]] = {}
    for kind, by_key in deadlines["kinds"].items():
        out = []
        for key, r in by_key.items():
            if r["ladder"] not in ladders:
                raise ValueError(f"deadline rule {kind}.{key}: unknown ladder {r['ladder']!r}")
            out.append(DeadlineRule(
                kind=kind, key=key, label=r["label"], unit=r["unit"], ladder=r["ladder"],
                start_on=_tuple(r.get("start_on")), met_on=_tuple(r.get("met_on")), ends_on=_tuple(r.get("ends_on")),
                start_from=r.get("start_from", "action"), amount=r.get("amount"),
                due_from_field=r.get("due_from_field"), pause_on=_tuple(r.get("pause_on")),
                resume_on=_tuple(r.get("resume_on")), extend_on=dict(r.get("extend_on") or {}),
                max_extension=r.get("max_extension"), when=dict(r.get("when") or {}),
                light=bool(r.get("light", True)), party=str(r.get("party", "officer")),
                cancel_on=_tuple(r.get("cancel_on")), survives_closure=bool(r.get("survives_closure", False)),
                working_days_up_to=r.get("working_days_up_to"),
            ))
            if out[-1].party not in PARTIES:
                raise ValueError(f"deadline rule {kind}.{key}: unknown party {out[-1].party!r} (one of {PARTIES})")
        rules[kind] = tuple(out)
    if deadlines["supervision"]["ladder"] not in ladders:
        raise ValueError("supervision ladder unknown")
    decision = deadlines["supervision"].get("extension_decision")
    if decision and decision["ladder"] not in ladders:
        raise ValueError("supervision extension_decision ladder unknown")
    return Policy(version=version, rules=rules, ladders=ladders, near_due=dict(escalation["near_due"]),
                  reminder_hour=int(escalation.get("reminder_hour", 9)), supervision=dict(deadlines["supervision"]),
                  letters=dict(escalation.get("letters") or {}))


@lru_cache
def default_policy() -> Policy:
    """The latest version: every deadline records the version it was opened under (``policy_version``)."""
    return load_policy()
