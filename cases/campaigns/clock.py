"""The round clock of a campaign: a round's due date is a clock for every district in scope.

The rungs are policy data (state_machines/policies/campaigns-v1.yaml, ``campaign_policy``): a
reminder N working days before the due date (09:00 Beijing time, working days with 调休 from the
legal calendar), then at the due instant (24:00 of the due date) a 督办函 from the organiser. When a
rung's moment has come, each district in scope is looked at once:

- its coverage of the round (cases/campaigns/coverage.py: inspected ÷ projects in scope) is at or
  above the campaign's target → recorded as checked (``coverage.sent = false``), nothing sent;
- a reminder whose due instant has passed (the sweep was down) → recorded, not sent (the letter
  speaks now); a rung whose moment was before the campaign was created → recorded, not sent;
- else the rung acts: the reminder goes to the district's supervisors and officers; the letter gets
  a 文号 of the organiser (cases/issuance/docnumbers.py, type ``supervision_letter``: the
  organiser's 督办函 sequence), its text is kept on the firing row, and the district's supervisors
  and officers receive it (outbox, template ``campaign_supervision_letter``).

Exactly once: the row in ``campaign_round_firings`` (unique per round, district and rung) is inserted
first with ON CONFLICT DO NOTHING; only the transaction that inserted it acts, in the same
transaction. Only active campaigns fire (an ended or cancelled one fires nothing).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.campaigns.coverage import DistrictRow, districts, project_counts
from cases.clocks.legal_time import add_working_days, end_of_day_utc
from cases.models import Jurisdiction, User
from cases.models.inspections import Campaign, CampaignRound, CampaignRoundFiring
from cases.platform.clock import SHANGHAI
from state_machines.campaign_policy import CampaignPolicy, RoundRung, campaign_policy

log = logging.getLogger("anjian.campaigns")


def cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def rung_at(rung: RoundRung, rnd: CampaignRound, calendar: Any, policy: CampaignPolicy) -> datetime:
    """When ``rung`` of ``rnd`` fires: reminder_hour of the N-th working day before the due date,
    or the due instant (24:00 of the due date)."""
    if rung.is_reminder:
        day = add_working_days(rnd.due_on, -rung.before_due_working_days, calendar)
        return datetime.combine(day, time(policy.reminder_hour), tzinfo=SHANGHAI).astimezone(timezone.utc)
    return end_of_day_utc(rnd.due_on)


@dataclass
class DueRung:
    campaign: Campaign
    round: CampaignRound
    rung: RoundRung
    at: datetime
    districts: list[Any]  # the districts not yet looked at for this rung


def due_rungs(session: Session, now: datetime, policy: CampaignPolicy | None = None) -> list[DueRung]:
    """The rungs of active campaigns' rounds whose moment has come and which some district in scope
    has no firing row for yet (a few statements: campaigns are few)."""
    from cases.calendar.calendar_store import get_calendar

    policy = policy or campaign_policy()
    rows = session.execute(select(Campaign, CampaignRound).join(CampaignRound, CampaignRound.campaign_id == Campaign.id)
                           .where(Campaign.status == "active").order_by(CampaignRound.due_on, CampaignRound.id)).all()
    if not rows:
        return []
    calendar = get_calendar(session)
    out: list[DueRung] = []
    for campaign, rnd in rows:
        scope = None
        for rung in policy.rungs:
            at = rung_at(rung, rnd, calendar, policy)
            if at > now:
                continue
            if scope is None:
                scope = districts(session, campaign)
            done = set(session.scalars(select(CampaignRoundFiring.jurisdiction_code).where(
                CampaignRoundFiring.round_id == rnd.id, CampaignRoundFiring.rung == rung.rung)))
            missing = [d for d in scope if d.code not in done]
            if missing:
                out.append(DueRung(campaign, rnd, rung, at, missing))
    return out


def rounds_due(session: Session, now: datetime) -> bool:
    """Whether the sweep has campaign work (the worker's sweep lane asks before starting a run)."""
    return bool(due_rungs(session, now))


def _claim(session: Session, rnd: CampaignRound, code: str, rung: RoundRung, now: datetime,
           figures: dict[str, Any]) -> int | None:
    insert_fn = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (insert_fn(CampaignRoundFiring).values(round_id=rnd.id, jurisdiction_code=code, rung=rung.rung,
                                                   fired_at=now, coverage=figures)
            .on_conflict_do_nothing(index_elements=["round_id", "jurisdiction_code", "rung"])
            .returning(CampaignRoundFiring.id))
    return session.execute(stmt).scalar()


def district_staff(session: Session, code: str) -> list[User]:
    """The district's supervisors and officers; else its nearest supervisors (nobody is never reminded)."""
    from cases.issuance.outbox import nearest_supervisors

    users = list(session.scalars(select(User).where(User.jurisdiction_code == code, User.active.is_(True),
                                                    User.role.in_(("supervisor", "officer"))).order_by(User.id)))
    return users or nearest_supervisors(session, code)


def _figures(row: DistrictRow, campaign: Campaign) -> dict[str, Any]:
    return {"in_scope": row.in_scope, "inspected": row.inspected, "pending": row.pending,
            "percent": row.percent, "target": campaign.coverage_target}


def reminder_text(campaign: Campaign, rnd: CampaignRound, district: Any, row: DistrictRow) -> str:
    return (f"{district.authority_name}：《{campaign.name}》{rnd.name}将于{cn(rnd.due_on)}到期。"
            f"截至目前，你辖区范围内在建项目{row.in_scope}个，已检查{row.inspected}个，尚有{row.pending}个未检查"
            f"（覆盖率{_pct(row)}，目标{campaign.coverage_target}%），请抓紧组织检查，确保按期完成。")


def letter_text(campaign: Campaign, rnd: CampaignRound, district: Any, row: DistrictRow, organiser: Jurisdiction,
                number: str, issued_on: date, reply_due: date, rung: RoundRung) -> str:
    """The 督办函 as it is read: number, addressee, facts, requirement, issuer and date."""
    requirement = rung.requirements.format(reply_due=cn(reply_due))
    return "\n".join([
        "督办函", number, f"{district.authority_name}：",
        f"根据{organiser.authority_name}《{campaign.name}》工作安排，{rnd.name}应于{cn(rnd.due_on)}前完成辖区内"
        f"在建项目检查全覆盖（覆盖率目标{campaign.coverage_target}%）。截至{cn(rnd.due_on)}，你辖区范围内在建项目"
        f"{row.in_scope}个，已检查{row.inspected}个，未检查{row.pending}个，覆盖率{_pct(row)}，未完成工作要求。",
        requirement, organiser.authority_name, cn(issued_on),
    ])


def _pct(row: DistrictRow) -> str:
    return "—" if row.percent is None else f"{row.percent:g}%"


def fire_due_rounds(session: Session, now: datetime, *, policy: CampaignPolicy | None = None) -> dict[str, int]:
    """Fire every due rung of every active campaign's rounds, inside the caller's transaction (the
    module docstring). Returns counts: sent, checked (covered or no longer true: recorded, nothing
    sent), duplicate (another sweep took it)."""
    from cases.calendar.calendar_store import get_calendar
    from cases.issuance.docnumbers import issue_document_number
    from cases.issuance.outbox import enqueue

    policy = policy or campaign_policy()
    counts = {"sent": 0, "checked": 0, "duplicate": 0}
    due = due_rungs(session, now, policy)
    if not due:
        return counts
    calendar = get_calendar(session)
    figures_of: dict[tuple[int, int], dict[str, tuple[int, int]]] = {}
    for item in due:
        c, rnd, rung = item.campaign, item.round, item.rung
        key = (c.id, rnd.round_no)
        if key not in figures_of:
            figures_of[key] = project_counts(session, c, rnd.round_no, districts(session, c))
        organiser = session.get(Jurisdiction, c.jurisdiction_code)
        for d in item.districts:
            row = DistrictRow(d.code, d.name, *figures_of[key].get(d.code, (0, 0)))
            reason = None
            if item.at < c.created_at:
                reason = "专项行动登记时该时点已过"
            elif row.covered(c.coverage_target):
                reason = "已达到覆盖率目标"
            elif rung.is_reminder and now >= end_of_day_utc(rnd.due_on):
                reason = "轮次已到期，提醒不再发送（由督办函接续）"
            figures = {**_figures(row, c), "sent": reason is None, **({"reason": reason} if reason else {})}
            firing_id = _claim(session, rnd, d.code, rung, now, figures)
            if firing_id is None:
                counts["duplicate"] += 1
                continue
            if reason is not None:
                counts["checked"] += 1
                continue
            recipients = district_staff(session, d.code)
            variables: dict[str, Any] = {
                "campaign_name": c.name, "round_name": rnd.name, "due_date": rnd.due_on.isoformat(),
                "district_name": d.authority_name, "issuing_authority": organiser.authority_name,
                "coverage_in_scope": row.in_scope, "coverage_inspected": row.inspected,
                "coverage_pending": row.pending, "coverage_percent": _pct(row),
                "coverage_target": c.coverage_target, "dashboard_url": f"/campaigns/{c.id}",
            }
            number = None
            if rung.document:
                today = now.astimezone(SHANGHAI).date()
                number = issue_document_number(session, organiser, rung.document, today.year)
                reply_due = add_working_days(today, rung.reply_working_days, calendar)
                text = letter_text(c, rnd, d, row, organiser, number, today, reply_due, rung)
                variables.update(letter_text=text, doc_number=number, issued_at=now.isoformat())
                figures["letter"] = text
            else:
                text = reminder_text(c, rnd, d, row)
                variables["reminder_text"] = text
                figures["message"] = text
            figures["recipients"] = [u.id for u in recipients]
            enqueue(session, case=None, template=rung.template, recipients=recipients,
                    cause=f"campaign-round:{firing_id}:{rung.rung}", variables=variables, now=now,
                    urgent=rung.document is not None, document_no=number)
            session.execute(update(CampaignRoundFiring).where(CampaignRoundFiring.id == firing_id)
                            .values(coverage=figures, document_number=number))
            counts["sent"] += 1
    return counts


def fire_all_due_rounds(db, now: datetime) -> dict[str, int]:
    """One transaction of :func:`fire_due_rounds` (the sweep's campaign pass: workflows/passes.py)."""
    with db.transaction() as s:
        return fire_due_rounds(s, now)


def firings(session: Session, campaign: Campaign) -> list[CampaignRoundFiring]:
    """The rungs fired (and checked) for the campaign's rounds, newest first (the campaign page)."""
    return list(session.scalars(select(CampaignRoundFiring).join(CampaignRound, CampaignRound.id == CampaignRoundFiring.round_id)
                                .where(CampaignRound.campaign_id == campaign.id)
                                .order_by(CampaignRoundFiring.fired_at.desc(), CampaignRoundFiring.id.desc())))
