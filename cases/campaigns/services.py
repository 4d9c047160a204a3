"""Campaigns and their rounds: create, edit, read; who may see and edit them.

Rules (docs/campaigns.md):

- **Organiser**: a supervisor or admin of a city (prefecture) or province creates a campaign for its
  own jurisdiction (``campaigns.jurisdiction_code``).
- **Visible** to staff whose jurisdiction lies above the organiser (the province sees a city's
  campaigns), is the organiser, or lies below it inside the campaign's scope (a district sees its
  city's campaign when the district is in scope). Enterprise contacts: none (403).
- **Editable** by supervisors and admins of the organiser's jurisdiction or above; a district never.
- **Validation** (422 naming each field by its Chinese label): name; period (开始日期 ≤ 结束日期);
  at least one round, each inside the period, its start ≤ its due date, the rounds ordered without
  overlap (a round starts after the previous one's due date); scope codes inside the organiser's
  subtree; project kinds from ``PROJECT_KINDS``; coverage target 1–100; status (edit) from
  ``STATUSES``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cases.ledger.access import STAFF_ROLES, in_subtree
from cases.models import Jurisdiction, User
from cases.models.inspections import Campaign, CampaignRound, Inspection
from cases.platform.errors import Forbidden, NotFound, ValidationFailed

PROJECT_KINDS = {"building": "房屋建筑工程", "municipal": "市政基础设施工程"}
STATUSES = {"active": "进行中", "ended": "已结束", "cancelled": "已撤销"}
ORGANISER_LEVELS = ("province", "prefecture")
ORGANISER_ROLES = ("supervisor", "admin")
SCOPE_LEVELS = ("province", "prefecture", "county")  # the coverage rows are the county-level jurisdictions
LABELS = {
    "name": "专项行动名称", "starts_on": "开始日期", "ends_on": "结束日期", "rounds": "轮次",
    "round_no": "轮次序号", "round_name": "轮次名称", "round_starts_on": "轮次开始日期", "due_on": "完成时限",
    "scope_codes": "整治范围", "project_kinds": "工程类别", "coverage_target": "覆盖率目标（%）",
    "description": "工作要求", "status": "状态",
}
MAX_ROUNDS = 12


@dataclass
class CampaignView:
    campaign: Campaign
    rounds: list[CampaignRound]
    organiser_name: str
    editable: bool


# ---------------------------------------------------------------- who


def _path(session: Session, code: str) -> str | None:
    from cases.reads.jurisdiction_cache import jurisdiction_facts

    facts = jurisdiction_facts(session, (code,)).get(code)
    return facts.path if facts else None


def scope_roots(campaign: Campaign) -> list[str]:
    """The jurisdictions the campaign covers: its scope codes, or the organiser's whole subtree."""
    return list(campaign.scope_codes or []) or [campaign.jurisdiction_code]


def can_see(session: Session, user: User, campaign: Campaign) -> bool:
    if user.role not in STAFF_ROLES:
        return False
    if in_subtree(session, user.jurisdiction_code, campaign.jurisdiction_code):
        return True  # the organiser itself, or above it
    if not in_subtree(session, campaign.jurisdiction_code, user.jurisdiction_code):
        return False  # another branch of the tree
    # Below the organiser: only where the campaign reaches (a scope code above or below the user).
    return any(in_subtree(session, code, user.jurisdiction_code) or in_subtree(session, user.jurisdiction_code, code)
               for code in scope_roots(campaign))


def can_edit(session: Session, user: User, campaign: Campaign) -> bool:
    return user.role in ORGANISER_ROLES and in_subtree(session, user.jurisdiction_code, campaign.jurisdiction_code)


def may_organise(session: Session, user: User) -> bool:
    j = session.get(Jurisdiction, user.jurisdiction_code)
    return user.role in ORGANISER_ROLES and j is not None and j.level in ORGANISER_LEVELS


def _require_staff(user: User) -> None:
    if user.role not in STAFF_ROLES:
        raise Forbidden("专项行动仅供监管部门查看")


# ---------------------------------------------------------------- validation


def _err(errors: list, field: str, label_key: str, message: str) -> None:
    errors.append({"field": field, "label": LABELS[label_key], "message": message})


def _date(errors: list, field: str, label_key: str, raw: Any, required: bool = True) -> date | None:
    if raw is None or raw == "":
        if required:
            _err(errors, field, label_key, "必填")
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = date.fromisoformat(str(raw).strip())
        except ValueError:
            _err(errors, field, label_key, f"应为日期（YYYY-MM-DD，如 2026-06-30），收到“{str(raw)[:20]}”")
            return None
    if not 2000 <= value.year <= 2100:
        _err(errors, field, label_key, "年份应在2000至2100之间")
        return None
    return value


def _rounds(errors: list, raw: Any, starts_on: date | None, ends_on: date | None) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        _err(errors, "rounds", "rounds", "至少需要一轮")
        return []
    if len(raw) > MAX_ROUNDS:
        _err(errors, "rounds", "rounds", f"最多{MAX_ROUNDS}轮")
        return []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        n = i + 1
        where = f"rounds.{i}"
        if not isinstance(item, dict):
            _err(errors, where, "rounds", f"第{n}轮应为对象（名称、开始日期、完成时限）")
            continue
        name = str(item.get("name") or "").strip() or f"第{n}轮"
        if len(name) > 100:
            _err(errors, f"{where}.name", "round_name", f"第{n}轮：不能超过100个字")
        start = _date(errors, f"{where}.starts_on", "round_starts_on", item.get("starts_on"), required=False) or starts_on
        due = _date(errors, f"{where}.due_on", "due_on", item.get("due_on"))
        if start is None or due is None:
            continue
        if start > due:
            _err(errors, f"{where}.due_on", "due_on", f"第{n}轮：不能早于本轮开始日期（{start.isoformat()}）")
        if starts_on is not None and start < starts_on:
            _err(errors, f"{where}.starts_on", "round_starts_on",
                 f"第{n}轮：不能早于专项行动开始日期（{starts_on.isoformat()}）")
        if ends_on is not None and due > ends_on:
            _err(errors, f"{where}.due_on", "due_on", f"第{n}轮：不能晚于专项行动结束日期（{ends_on.isoformat()}）")
        if out and start <= out[-1]["due_on"]:
            _err(errors, f"{where}.starts_on", "round_starts_on",
                 f"第{n}轮：应晚于第{n - 1}轮的完成时限（{out[-1]['due_on'].isoformat()}），轮次按顺序且不重叠")
        out.append({"round_no": n, "name": name, "starts_on": start, "due_on": due})
    return out


def validate(session: Session, organiser_code: str, data: dict[str, Any], *, partial: Campaign | None = None,
             rounds: list[CampaignRound] | None = None) -> dict[str, Any]:
    """The checked values of a campaign (all fields; for an edit, ``partial`` supplies what is not
    given). Every problem is named at once (422)."""
    errors: list[dict[str, str]] = []
    given = set(data)

    def pick(key: str, current: Any) -> Any:
        return data[key] if key in given else current

    name = str(pick("name", partial.name if partial else None) or "").strip()
    if not name:
        _err(errors, "name", "name", "必填")
    elif len(name) > 200:
        _err(errors, "name", "name", "不能超过200个字")
    starts_on = _date(errors, "starts_on", "starts_on", pick("starts_on", partial.starts_on if partial else None))
    ends_on = _date(errors, "ends_on", "ends_on", pick("ends_on", partial.ends_on if partial else None))
    if starts_on and ends_on and starts_on > ends_on:
        _err(errors, "ends_on", "ends_on", f"不能早于开始日期（{starts_on.isoformat()}）")
    raw_rounds = pick("rounds", [{"name": r.name, "starts_on": r.starts_on, "due_on": r.due_on}
                                 for r in (rounds or [])] if partial else None)
    checked_rounds = _rounds(errors, raw_rounds, starts_on, ends_on)

    scope = pick("scope_codes", list(partial.scope_codes or []) if partial else [])
    if scope is None:
        scope = []
    if not isinstance(scope, list) or not all(isinstance(c, str) for c in scope):
        _err(errors, "scope_codes", "scope_codes", "应为行政区划代码的列表")
        scope = []
    scope = sorted({c.strip() for c in scope if c.strip()})
    for code in scope:
        place = session.get(Jurisdiction, code)
        if place is None:
            _err(errors, "scope_codes", "scope_codes", f"行政区划代码“{code[:12]}”不存在")
        elif place.level not in SCOPE_LEVELS:
            _err(errors, "scope_codes", "scope_codes", f"“{place.name}”不是市或县（市、区）级辖区，整治范围按市、县（市、区）划定")
        elif not in_subtree(session, organiser_code, code):
            _err(errors, "scope_codes", "scope_codes", f"“{code}”不在组织单位的管辖范围内")
    kinds = pick("project_kinds", list(partial.project_kinds or []) if partial else [])
    if kinds is None:
        kinds = []
    if not isinstance(kinds, list) or any(k not in PROJECT_KINDS for k in kinds):
        options = "、".join(f"{k}（{v}）" for k, v in PROJECT_KINDS.items())
        _err(errors, "project_kinds", "project_kinds", f"可选值：{options}")
        kinds = []
    kinds = sorted(set(kinds))
    target = pick("coverage_target", partial.coverage_target if partial else 100)
    if isinstance(target, bool) or not isinstance(target, int) and not (isinstance(target, str) and target.strip().isdigit()):
        _err(errors, "coverage_target", "coverage_target", "应为1至100之间的整数")
        target = None
    else:
        target = int(target)
        if not 1 <= target <= 100:
            _err(errors, "coverage_target", "coverage_target", "应为1至100之间的整数")
    description = str(pick("description", partial.description if partial else "") or "")
    if len(description) > 4000:
        _err(errors, "description", "description", "不能超过4000个字")
    status = pick("status", partial.status if partial else "active")
    if status not in STATUSES:
        options = "、".join(f"{k}（{v}）" for k, v in STATUSES.items())
        _err(errors, "status", "status", f"可选值：{options}")
    if errors:
        raise ValidationFailed(errors)
    return {"name": name, "starts_on": starts_on, "ends_on": ends_on, "rounds": checked_rounds,
            "scope_codes": scope, "project_kinds": kinds, "coverage_target": target,
            "description": description, "status": status}


# ---------------------------------------------------------------- write


def create_campaign(session: Session, user: User, data: dict[str, Any], *, now: datetime) -> Campaign:
    """A new campaign organised by the user's own jurisdiction (a city or province)."""
    _require_staff(user)
    if not may_organise(session, user):
        raise Forbidden("只有市级或省级住建部门的督办/审批人员或系统管理员可以发起专项行动")
    values = validate(session, user.jurisdiction_code, data)
    rounds = values.pop("rounds")
    campaign = Campaign(**values, jurisdiction_code=user.jurisdiction_code, created_by_id=user.id, created_at=now)
    session.add(campaign)
    session.flush()
    for r in rounds:
        session.add(CampaignRound(campaign_id=campaign.id, **r))
    session.flush()
    return campaign


def update_campaign(session: Session, user: User, campaign_id: int, data: dict[str, Any], *,
                    now: datetime) -> Campaign:
    """Edit given fields. ``rounds`` replaces the list (matched by position = round number); a round
    with inspections recorded cannot be removed."""
    campaign = get_campaign(session, user, campaign_id)
    if not can_edit(session, user, campaign):
        raise Forbidden("只有组织单位（及上级）的督办/审批人员或系统管理员可以修改该专项行动")
    current = rounds_of(session, campaign.id)
    values = validate(session, campaign.jurisdiction_code, data, partial=campaign, rounds=current)
    new_rounds = values.pop("rounds")
    for key, value in values.items():
        setattr(campaign, key, value)
    if "rounds" in data:
        by_no = {r.round_no: r for r in current}
        for r in new_rounds:
            row = by_no.pop(r["round_no"], None)
            if row is None:
                session.add(CampaignRound(campaign_id=campaign.id, **r))
            else:
                row.name, row.starts_on, row.due_on = r["name"], r["starts_on"], r["due_on"]
        if by_no:
            used = session.scalar(select(func.count()).select_from(Inspection).where(
                Inspection.campaign_id == campaign.id, Inspection.round_no.in_(list(by_no))))
            if used:
                raise ValidationFailed([{"field": "rounds", "label": LABELS["rounds"],
                                         "message": "已有检查记录的轮次不能删除"}])
            session.execute(delete(CampaignRound).where(CampaignRound.id.in_([r.id for r in by_no.values()])))
    session.flush()
    return campaign


# ---------------------------------------------------------------- read


def get_campaign(session: Session, user: User, campaign_id: int) -> Campaign:
    _require_staff(user)
    from cases.ledger.validation import MAX_INT

    campaign = session.get(Campaign, campaign_id) if abs(campaign_id) <= MAX_INT else None
    if campaign is None or not can_see(session, user, campaign):
        raise NotFound(f"专项行动（编号{campaign_id}）不存在或您无权查看")
    return campaign


def rounds_of(session: Session, campaign_id: int) -> list[CampaignRound]:
    return list(session.scalars(select(CampaignRound).where(CampaignRound.campaign_id == campaign_id)
                                .order_by(CampaignRound.round_no)))


def get_round(session: Session, campaign: Campaign, round_no: int) -> CampaignRound:
    row = session.scalar(select(CampaignRound).where(CampaignRound.campaign_id == campaign.id,
                                                     CampaignRound.round_no == round_no))
    if row is None:
        raise ValidationFailed([{"field": "round", "label": LABELS["round_no"],
                                 "message": f"该专项行动没有第{round_no}轮"}])
    return row


def list_campaigns(session: Session, user: User, *, status: str | None = None) -> list[Campaign]:
    """The campaigns ``user`` may see, newest first (campaigns are few: filtered in Python by ``can_see``)."""
    _require_staff(user)
    stmt = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    if status:
        if status not in STATUSES:
            options = "、".join(f"{k}（{v}）" for k, v in STATUSES.items())
            raise ValidationFailed([{"field": "status", "label": LABELS["status"], "message": f"可选值：{options}"}])
        stmt = stmt.where(Campaign.status == status)
    return [c for c in session.scalars(stmt) if can_see(session, user, c)]


def view(session: Session, user: User, campaign: Campaign) -> CampaignView:
    j = session.get(Jurisdiction, campaign.jurisdiction_code)
    return CampaignView(campaign, rounds_of(session, campaign.id), j.authority_name if j else campaign.jurisdiction_code,
                        can_edit(session, user, campaign))


def campaign_json(v: CampaignView) -> dict[str, Any]:
    c = v.campaign
    return {
        "id": c.id, "name": c.name, "jurisdiction_code": c.jurisdiction_code, "organiser": v.organiser_name,
        "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(), "scope_codes": list(c.scope_codes or []),
        "project_kinds": list(c.project_kinds or []), "coverage_target": c.coverage_target,
        "description": c.description, "status": c.status, "status_label": STATUSES.get(c.status, c.status),
        "editable": v.editable, "created_at": c.created_at.isoformat(),
        "rounds": [{"round_no": r.round_no, "name": r.name, "starts_on": r.starts_on.isoformat(),
                    "due_on": r.due_on.isoformat()} for r in v.rounds],
    }
