"""The round clock of campaigns as versioned policy data (``policies/campaigns-v<N>.yaml``): which
rungs a round has, when each fires, who receives it and what it issues (cases/campaigns/clock.py)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from state_machines.policies import POLICY_DIR

RECIPIENTS = ("district_staff",)
ISSUERS = ("organiser",)


@dataclass(frozen=True)
class RoundRung:
    rung: str
    label: str
    before_due_working_days: int | None  # a reminder: N working days before the due date, at reminder_hour
    template: str
    recipients: str
    issuer: str | None = None
    document: str | None = None  # doc type of the letter (its 文号 sequence: cases/issuance/docnumbers.py)
    requirements: str = ""
    reply_working_days: int = 0

    @property
    def is_reminder(self) -> bool:
        return self.before_due_working_days is not None


@dataclass(frozen=True)
class CampaignPolicy:
    version: int
    reminder_hour: int
    rungs: tuple[RoundRung, ...]

    def rung(self, name: str) -> RoundRung | None:
        return next((r for r in self.rungs if r.rung == name), None)


def _rung(r: dict[str, Any]) -> RoundRung:
    at = dict(r["at"])
    if "before_due" in at:
        if at.get("unit", "working_day") != "working_day":
            raise ValueError(f"campaign rung {r['rung']}: before_due is counted in working days")
        before = int(at["before_due"])
    elif at.get("after_due") == 0:
        before = None
    else:
        raise ValueError(f"campaign rung {r['rung']}: at must be before_due (working days) or after_due: 0")
    if r["recipients"] not in RECIPIENTS:
        raise ValueError(f"campaign rung {r['rung']}: unknown recipients {r['recipients']!r}")
    if r.get("issuer") is not None and r["issuer"] not in ISSUERS:
        raise ValueError(f"campaign rung {r['rung']}: unknown issuer {r['issuer']!r}")
    return RoundRung(rung=r["rung"], label=r.get("label", r["rung"]), before_due_working_days=before,
                     template=r["template"], recipients=r["recipients"], issuer=r.get("issuer"),
                     document=r.get("document"), requirements=str(r.get("requirements") or ""),
                     reply_working_days=int(r.get("reply_working_days") or 0))


def load_campaign_policy(version: int = 1, directory: Path = POLICY_DIR) -> CampaignPolicy:
    data = yaml.safe_load((directory / f"campaigns-v{version}.yaml").read_text(encoding="utf-8"))
    rungs = tuple(_rung(r) for r in data["rounds"])
    if len({r.rung for r in rungs}) != len(rungs):
        raise ValueError("campaign rungs must have distinct names")
    return CampaignPolicy(version=int(data["version"]), reminder_hour=int(data.get("reminder_hour", 9)), rungs=rungs)


@lru_cache
def campaign_policy() -> CampaignPolicy:
    return load_campaign_policy(1)
