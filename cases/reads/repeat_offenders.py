"""Repeat offenders (issue 12, part 2): enterprises whose events of one sort reach a pattern's count
within a rolling window — 重大事故隐患 registered 3 times in 180 days or 4 times in a year (安全生产法
Art. 113), 整改期限 run over repeatedly — flagged to the supervisors of the subtree with the proposal
and the cases behind it. The patterns are policy data (state_machines/policies/patterns-v1.yaml)."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import String, cast, literal, or_, select
from sqlalchemy.orm import Session

from cases.models import Case, CaseEvent, Deadline, Enterprise

POLICY = Path(__file__).resolve().parents[2] / "state_machines" / "policies" / "patterns-v1.yaml"


@lru_cache
def _policy_data() -> dict[str, Any]:
    return yaml.safe_load(POLICY.read_text(encoding="utf-8"))


def policy_version() -> int:
    """The version a flag records (cases/patterns/detect.py)."""
    return int(_policy_data()["version"])


@lru_cache
def patterns() -> dict[str, dict[str, Any]]:
    data = _policy_data()
    out = {}
    for name, p in data["patterns"].items():
        if p["event"] not in _EVENTS:
            raise ValueError(f"{POLICY.name}: pattern {name}: unknown event {p['event']!r}")
        out[name] = {**p, "windows": [(int(w["days"]), int(w["count"])) for w in p["windows"]]}
    return out


# Each event query selects (enterprise_id, at, case_id, number, key, title, jurisdiction_code): ``key``
# names the event itself (the flags' trigger_key); ``codes`` None means every jurisdiction (the sweep).


def _major_hazards(codes, since: datetime, now: datetime):
    stmt = (select(Case.enterprise_id, CaseEvent.at, Case.id, Case.number,
                   literal("event:") + cast(CaseEvent.id, String), Case.title, Case.jurisdiction_code)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.kind == "major_hazard", CaseEvent.action == "register", Case.enterprise_id.is_not(None),
                   CaseEvent.at >= since, CaseEvent.at <= now))
    return stmt if codes is None else stmt.where(Case.jurisdiction_code.in_(codes))


def _overdue_rectifications(codes, since: datetime, now: datetime):
    stmt = (select(Case.enterprise_id, Deadline.due_at, Case.id, Case.number,
                   literal("deadline:") + cast(Deadline.id, String), Case.title, Deadline.jurisdiction_code)
            .join(Case, Case.id == Deadline.case_id)
            .where(Deadline.key == "rectification", Deadline.status.in_(("open", "met", "missed")),
                   Case.enterprise_id.is_not(None),
                   Deadline.due_at >= since, Deadline.due_at <= now,
                   or_(Deadline.closed_at.is_(None), Deadline.closed_at > Deadline.due_at)))
    return stmt if codes is None else stmt.where(Deadline.jurisdiction_code.in_(codes))


EVENTS = _EVENTS = {"major_hazard_registered": _major_hazards, "rectification_overdue": _overdue_rectifications}


def flagged(session: Session, codes: list[str], now: datetime) -> list[dict[str, Any]]:
    """[{enterprise, pattern, label, basis, proposal, window: (days, count, found), cases}] — one row per
    enterprise and pattern that reaches a window (the first window reached is named)."""
    out = []
    for name, p in patterns().items():
        longest = max(days for days, _ in p["windows"])
        by_unit: dict[int, list[tuple[datetime, int, str]]] = {}
        for unit, at, case_id, number, *_ in session.execute(_EVENTS[p["event"]](codes, now - timedelta(days=longest), now)):
            by_unit.setdefault(unit, []).append((at, case_id, number))
        for unit, events in by_unit.items():
            for days, count in p["windows"]:
                inside = [e for e in events if e[0] >= now - timedelta(days=days)]
                if len(inside) >= count:
                    cases = sorted({(cid, num) for _, cid, num in inside})
                    out.append({"enterprise_id": unit, "pattern": name, "label": p["label"], "basis": p["basis"],
                                "proposal": p["proposal"], "window_days": days, "threshold": count,
                                "found": len(inside), "cases": [{"id": c, "number": n} for c, n in cases]})
                    break
    names = dict(session.execute(select(Enterprise.id, Enterprise.name).where(
        Enterprise.id.in_({r["enterprise_id"] for r in out} or {0}))).all())
    for r in out:
        r["enterprise_name"] = names.get(r["enterprise_id"], str(r["enterprise_id"]))
    out.sort(key=lambda r: (r["pattern"], -r["found"], r["enterprise_name"]))
    return out
