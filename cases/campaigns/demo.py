"""Demo data of the campaigns (``anjian demo``, cases/demo.py calls it)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cases.models import Case, Project, User


def load_demo_campaign(session: Session, rng: random.Random, supervisor: User, officers: dict[str, User],
                   projects: list[Project], now: datetime) -> int:
    """苏州市's “2轮全覆盖精准排查” (cases/campaigns/): the first round ended a week ago — 姑苏区 and 吴中区
    inspected everything, the others about half, so the sweep's round clock sends the districts behind
    their 督办函 — the second runs for two more months; hazards found in the first round on inspected
    projects carry the campaign tag."""
    from sqlalchemy import update

    from cases.models.inspections import Campaign, CampaignRound, Inspection
    from cases.platform.clock import to_local

    today = to_local(now).date()
    start = today - timedelta(days=75)
    first_due, second_due = today - timedelta(days=7), today + timedelta(days=60)
    campaign = Campaign(name="2轮全覆盖精准排查", jurisdiction_code="320500", starts_on=start, ends_on=second_due,
                        scope_codes=[], project_kinds=[], coverage_target=100, status="active",
                        description="对全市在建房屋市政工程开展两轮全覆盖精准排查：第一轮摸清底数、建立隐患清单，"
                                    "第二轮复查整改落实情况，做到不漏一个项目、不留一处隐患。",
                        created_by_id=supervisor.id, created_at=now - timedelta(days=75))
    session.add(campaign)
    session.flush()
    session.add_all([CampaignRound(campaign_id=campaign.id, round_no=1, name="第一轮（摸底排查）", starts_on=start,
                                   due_on=first_due),
                     CampaignRound(campaign_id=campaign.id, round_no=2, name="第二轮（复查整改）",
                                   starts_on=first_due + timedelta(days=1), due_on=second_due)])
    inspected: list[int] = []
    for p in projects:
        officer = officers.get(p.jurisdiction_code)
        if officer is None:
            continue
        rounds = [1] if p.jurisdiction_code in ("320508", "320506") or rng.random() < 0.5 else []
        if rng.random() < 0.3:
            rounds.append(2)
        for round_no in rounds:
            day = (start if round_no == 1 else first_due) + timedelta(days=rng.randrange(1, 60))
            day = min(day, today - timedelta(days=1))
            session.add(Inspection(jurisdiction_code=p.jurisdiction_code, project_id=p.id, inspected_on=day,
                                   inspection_type="special", inspectors=[{"user_id": officer.id, "name": officer.display_name}],
                                   campaign_id=campaign.id, round_no=round_no, place=p.address,
                                   summary="专项行动检查", created_by_id=officer.id, created_at=now - timedelta(days=1)))
            if round_no == 1:
                inspected.append(p.id)
    session.flush()
    from cases.reads.case_lists import day_start

    session.execute(update(Case).where(Case.project_id.in_(inspected), Case.kind.in_(("hazard", "major_hazard")),
                                       Case.found_at >= day_start(start), Case.found_at < day_start(first_due + timedelta(days=1)))
                    .values(campaign_id=campaign.id))
    return 1
