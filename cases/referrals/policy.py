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


def suggested_bodies(chain: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The usual names of the receiving bodies for a jurisdiction, as suggestions the form offers
    (the officer may type any other). ``chain``: (name, level) from the jurisdiction up to the
    province, e.g. [("姑苏区", "county"), ("苏州市", "prefecture"), ("江苏省", "province")].
    Local naming varies (a development zone's police may be a branch of the city's): never enforced."""
    if not chain:
        return {}
    name, level = chain[0]
    parent = chain[1][0] if len(chain) > 1 else ""
    province = next((n for n, lv in chain if lv == "province"), name)
    if level == "province":
        police, fire, discipline = f"{name}公安厅", f"{name}消防救援总队", f"{name}纪委监委"
    elif level == "prefecture":
        police, fire, discipline = f"{name}公安局", f"{name}消防救援支队", f"{name}纪委监委"
    else:
        district = name.endswith("区") and not name.endswith("园区")
        police = f"{parent}公安局{name[:-1]}分局" if district else (
            f"{parent}公安局{name}分局" if name.endswith("园区") else f"{name}公安局")
        local = f"{parent}{name}" if district else name
        fire, discipline = f"{local}消防救援大队", f"{local}纪委监委"
    return {"public_security": [police], "fire_rescue": [fire], "licence_authority": [f"{province}住房和城乡建设厅"],
            "discipline": [discipline]}
