"""Cases and events for the periodic-report tests, written through the real services (no HTTP)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.clocks import escalation  # noqa: F401  (registers the rung effects)
from cases.ledger import services
from cases.models import Case, Jurisdiction, User


class Driver:
    def __init__(self, db, world, clock) -> None:
        self.db, self.world, self.clock = db, world, clock

    def user(self, s, u: User) -> User:
        return s.get(User, u.id)

    def create(self, kind: str = "hazard", actor: User | None = None, **fields) -> int:
        actor = actor or self.world.officer
        body: dict[str, Any] = {"kind": kind, "title": fields.pop("title", f"测试{kind}")}
        if kind in ("hazard", "major_hazard", "accident"):
            body["project_id"] = self.world.p1.id if actor.jurisdiction_code != "320506" else self.world.p2.id
        body.update(fields)
        with self.db.transaction() as s:
            return services.create_case(s, self.user(s, actor), body, now=self.clock.now()).id

    def act(self, case_id: int, action: str, actor: User | None = None, **fields) -> Case:
        actor = actor or self.world.officer
        with self.db.transaction() as s:
            c = s.get(Case, case_id)
            case, _ = services.perform_action(s, self.user(s, actor), case_id, action, fields, version=c.version,
                                              now=self.clock.now())
            return case

    def hazard(self, days: int = 3, actor: User | None = None, **fields) -> int:
        cid = self.create("hazard", actor, **fields)
        ent = self.world.e1.id if (actor or self.world.officer).jurisdiction_code == "320508" else self.world.e2.id
        self.act(cid, "register", actor, enterprise_id=ent, severity="general", requirements="整改",
                 rectification_days=days)
        return cid

    def accident(self, deaths: int, serious: int = 0, loss: float = 500_000, occurred: datetime | None = None) -> int:
        cid = self.create("accident", occurred_at=(occurred or self.clock.now()).isoformat(), accident_type="fall",
                          brief="高处坠落")
        self.act(cid, "register", enterprise_id=self.world.e1.id, deaths=deaths, serious_injuries=serious,
                 direct_loss=loss)
        return cid

    def escalate(self, case_id: int) -> None:
        """提级 as the ladder's rung does it (cases.clocks.escalation.escalate): a system event that
        moves the case to the parent jurisdiction."""
        with self.db.transaction() as s:
            case = s.get(Case, case_id)
            current = s.get(Jurisdiction, case.jurisdiction_code)
            if not current.parent_code:
                return
            services.record_system_event(s, case, "escalated", {"from": current.code, "to": current.parent_code},
                                         now=self.clock.now(), changes={"jurisdiction_code": current.parent_code},
                                         comment="提级")

    def allowed(self, case_id: int, actor: User | None = None) -> list[str]:
        actor = actor or self.world.officer
        with self.db.session() as s:
            return [a.name for a in services.allowed_actions(s, self.user(s, actor), s.get(Case, case_id),
                                                              now=self.clock.now())]
