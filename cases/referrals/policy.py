"""The referral policy (``state_machines/policies/referrals-vN.yaml``): targets with their default
wording and reply periods, the reply clock's ladder, the reply results (docs/referrals.md)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from state_machines.policies import POLICY_DIR

UNITS = ("working_day", "calendar_day")
LATEST = 1


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    subject: str
    legal_basis: str
    request: str
    reply_amount: int
    reply_unit: str


@dataclass(frozen=True)
class ReferralPolicy:
    version: int
    ladder: str
    party: str
    targets: dict[str, Target]
    results: dict[str, str]


def load_referral_policy(version: int = LATEST, directory: Path = POLICY_DIR) -> ReferralPolicy:
    raw = yaml.safe_load((directory / f"referrals-v{version}.yaml").read_text(encoding="utf-8"))
    targets = {}
    for name, t in raw["targets"].items():
        reply = t["reply"]
        amount = reply["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise ValueError(f"referrals policy: targets.{name}.reply.amount must be a positive integer")
        if reply["unit"] not in UNITS:
            raise ValueError(f"referrals policy: targets.{name}.reply.unit must be one of {UNITS}")
        targets[name] = Target(name, str(t["label"]), str(t["subject"]), str(t["legal_basis"]).strip(),
                               str(t["request"]).strip(), amount, reply["unit"])
    clock = raw["reply_clock"]
    if int(raw["version"]) != version:
        raise ValueError(f"referrals-v{version}.yaml says version {raw['version']}")
    return ReferralPolicy(version=version, ladder=str(clock["ladder"]), party=str(clock["party"]),
                          targets=targets, results={str(k): str(v) for k, v in raw["results"].items()})


@lru_cache(maxsize=None)
def referral_policy(version: int = LATEST) -> ReferralPolicy:
    return load_referral_policy(version)
