"""A campaign round's coverage per district, and the list behind every figure.

The rows are the **districts**: the county-level jurisdictions (``level == 'county'``) inside the
campaign's scope (its scope codes, or the organiser's subtree) — those the viewer's subtree holds
(a district reads its own row, the city all of them). Per row and round:

- 在建项目 (``in_scope``): projects whose ``jurisdiction_code`` lies in the district's subtree, of a
  project kind in scope (all kinds when the campaign names none), with status ``IN_SCOPE_STATUSES``;
- 已检查 (``inspected``): those of them with an ``inspections`` row of this campaign and round
  (distinct projects);
- 未检查 (``pending``): in scope − inspected;
- 发现隐患 (``hazards``), 重大隐患 (``major_hazards``), 按期整改 (``rectified_on_time``): the cases
  the ledger lists for ``case_filters`` — tagged with the campaign, held in the district's subtree,
  found (发现时间) between the round's start and its due date, of kind hazard / major hazard (major
  hazard only), and for the last with a rectification clock met by its due instant (the cockpit's
  按期整改率 clauses, ``rectified_on_time=true``). Each is counted by the very query the ledger runs
  (``cases.reads.case_lists.case_query``), so a figure and its list agree.

Coverage = inspected ÷ in scope (a district with nothing in scope is covered).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from cases.campaigns.services import scope_roots
from cases.ledger.access import STAFF_ROLES
from cases.models import Case, Jurisdiction, Project, User
from cases.models.inspections import Campaign, CampaignRound, Inspection

IN_SCOPE_STATUSES = ("active", "under_construction")
HAZARD_KINDS = "hazard,major_hazard"
PROJECT_STATUSES = {"inspected": "已检查", "pending": "未检查"}


@dataclass
class DistrictRow:
    code: str
    name: str
    in_scope: int = 0
    inspected: int = 0
    hazards: int | None = None
    major_hazards: int | None = None
    rectified_on_time: int | None = None

    @property
    def pending(self) -> int:
        return self.in_scope - self.inspected

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.inspected / self.in_scope, 1) if self.in_scope else None

    def covered(self, target: int) -> bool:
        return self.in_scope == 0 or self.inspected * 100 >= target * self.in_scope


@dataclass
class Coverage:
    campaign: Campaign
    round: CampaignRound
    rows: list[DistrictRow] = field(default_factory=list)


def _places(session: Session) -> dict[str, Any]:
    return {r.code: r for r in session.execute(
        select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level, Jurisdiction.path, Jurisdiction.authority_name))}


def districts(session: Session, campaign: Campaign, viewer: User | None = None) -> list[Any]:
    """The county-level jurisdictions in the campaign's scope (rows: code, name, level, path,
    authority_name), by code; with ``viewer``, those its subtree holds."""
    places = _places(session)
    roots = [places[c].path for c in scope_roots(campaign) if c in places]
    mine = places[viewer.jurisdiction_code].path if viewer is not None and viewer.jurisdiction_code in places else None
    out = [p for p in places.values() if p.level == "county" and any(p.path.startswith(r) for r in roots)
           and (viewer is None or (mine is not None and p.path.startswith(mine)))]
    return sorted(out, key=lambda p: p.code)


def _district_of(places: list[Any], all_places: dict[str, Any]) -> dict[str, str]:
    """Every code lying in one of the districts → that district."""
    out: dict[str, str] = {}
    for p in all_places.values():
        for d in places:
            if p.path.startswith(d.path):
                out[p.code] = d.code
                break
    return out


def project_scope(campaign: Campaign) -> list:
    """WHERE clauses on ``projects``: the kinds and statuses in scope (the place is added per use)."""
    out = [Project.status.in_(IN_SCOPE_STATUSES)]
    if campaign.project_kinds:
        out.append(Project.project_kind.in_(list(campaign.project_kinds)))
    return out


def project_in_scope(session: Session, campaign: Campaign, project: Project) -> bool:
    """Whether ``project`` is one the campaign's figures count (for the inspections service's check of
    a campaign inspection: the project in scope)."""
    in_districts = _district_of(districts(session, campaign), _places(session))
    return (project.jurisdiction_code in in_districts and project.status in IN_SCOPE_STATUSES
            and (not campaign.project_kinds or project.project_kind in campaign.project_kinds))


def inspected_clause(campaign: Campaign, round_no: int):
    return exists().where(Inspection.project_id == Project.id, Inspection.campaign_id == campaign.id,
                          Inspection.round_no == round_no)


def case_filters(campaign: Campaign, rnd: CampaignRound, district: str, figure: str) -> dict[str, Any]:
    """The ledger filters (``case_query`` keywords and /ledger query parameters alike) of a case figure."""
    out: dict[str, Any] = {"campaign_id": campaign.id, "jurisdiction": district,
                           "found_from": rnd.starts_on.isoformat(), "found_to": rnd.due_on.isoformat(),
                           "kind": "major_hazard" if figure == "major_hazards" else HAZARD_KINDS}
    if figure == "rectified_on_time":
        out["rectified_on_time"] = "true"
    return out


def project_counts(session: Session, campaign: Campaign, round_no: int, rows: list[Any]) -> dict[str, tuple[int, int]]:
    """{district: (in scope, inspected)} in one grouped statement."""
    all_places = _places(session)
    district_of = _district_of(rows, all_places)
    if not district_of:
        return {}
    inspected = inspected_clause(campaign, round_no)
    stmt = (select(Project.jurisdiction_code, func.count(), func.count().filter(inspected))
            .where(Project.jurisdiction_code.in_(sorted(district_of)), *project_scope(campaign))
            .group_by(Project.jurisdiction_code))
    out: dict[str, tuple[int, int]] = {}
    for code, total, done in session.execute(stmt):
        d = district_of[code]
        a, b = out.get(d, (0, 0))
        out[d] = (a + total, b + done)
    return out


def coverage(session: Session, campaign: Campaign, round_no: int, viewer: User | None, *,
             now=None) -> Coverage:
    """The figures of one round per district (module docstring). ``viewer`` None (the round clock):
    every district, project figures only."""
    from cases.campaigns.services import get_round
    from cases.reads import case_lists

    rnd = get_round(session, campaign, round_no)
    rows = districts(session, campaign, viewer)
    counts = project_counts(session, campaign, round_no, rows)
    out = Coverage(campaign, rnd, [DistrictRow(p.code, p.name, *counts.get(p.code, (0, 0))) for p in rows])
    if viewer is None or viewer.role not in STAFF_ROLES or not rows:
        return out
    district_of = _district_of(rows, _places(session))
    for figure in ("hazards", "major_hazards", "rectified_on_time"):
        filters = case_filters(campaign, rnd, rows[0].code, figure)
        filters.pop("jurisdiction")
        stmt = (case_lists.case_query(viewer, now=now, **filters).order_by(None)
                .where(Case.jurisdiction_code.in_(sorted(district_of)))
                .with_only_columns(Case.jurisdiction_code, func.count(Case.id)).group_by(Case.jurisdiction_code))
        totals: dict[str, int] = {}
        for code, n in session.execute(stmt):
            totals[district_of[code]] = totals.get(district_of[code], 0) + n
        for row in out.rows:
            setattr(row, figure, totals.get(row.code, 0))
    return out


def coverage_json(cov: Coverage) -> dict[str, Any]:
    c, r = cov.campaign, cov.round
    return {
        "campaign_id": c.id, "round_no": r.round_no, "round_name": r.name, "starts_on": r.starts_on.isoformat(),
        "due_on": r.due_on.isoformat(), "coverage_target": c.coverage_target,
        "districts": [{
            "code": x.code, "name": x.name, "in_scope": x.in_scope, "inspected": x.inspected, "pending": x.pending,
            "coverage_percent": x.percent, "covered": x.covered(c.coverage_target), "hazards": x.hazards,
            "major_hazards": x.major_hazards, "rectified_on_time": x.rectified_on_time,
            "links": figure_links(c, r, x.code),
        } for x in cov.rows],
    }


def figure_links(campaign: Campaign, rnd: CampaignRound, district: str) -> dict[str, str]:
    """Where each figure's list is: the campaign's project pages and the ledger (same filters)."""
    from urllib.parse import urlencode

    base = f"/campaigns/{campaign.id}/projects?"
    out = {"in_scope": base + urlencode({"round": rnd.round_no, "district": district}),
           "inspected": base + urlencode({"round": rnd.round_no, "district": district, "status": "inspected"}),
           "pending": base + urlencode({"round": rnd.round_no, "district": district, "status": "pending"})}
    for figure in ("hazards", "major_hazards", "rectified_on_time"):
        out[figure] = "/ledger?" + urlencode(case_filters(campaign, rnd, district, figure))
    return out


# ---------------------------------------------------------------- the project lists


def project_query(session: Session, viewer: User, campaign: Campaign, round_no: int, *,
                  district: str | None = None, status: str | None = None):
    """The projects behind 在建项目 / 已检查 / 未检查 of one district (or every district of the
    viewer's rows), visible to ``viewer``: rows (Project, inspected: bool, last inspected_on)."""
    from cases.ledger.policy import visible_projects_clause
    from cases.platform.errors import ValidationFailed

    rows = districts(session, campaign, viewer)
    if district is not None:
        rows = [p for p in rows if p.code == district]
        if not rows:
            raise ValidationFailed([{"field": "district", "label": "区县",
                                     "message": f"“{district[:12]}”不是该专项行动范围内您可查看的区县"}])
    if status not in (None, "", *PROJECT_STATUSES):
        options = "、".join(f"{k}（{v}）" for k, v in PROJECT_STATUSES.items())
        raise ValidationFailed([{"field": "status", "label": "检查状态", "message": f"可选值：{options}"}])
    codes = sorted(_district_of(rows, _places(session)))
    last = (select(func.max(Inspection.inspected_on)).where(
        Inspection.project_id == Project.id, Inspection.campaign_id == campaign.id,
        Inspection.round_no == round_no).scalar_subquery())
    inspected = inspected_clause(campaign, round_no)
    stmt = (select(Project, inspected.label("inspected"), last.label("last_inspected_on"))
            .where(Project.jurisdiction_code.in_(codes), *project_scope(campaign), visible_projects_clause(viewer))
            .order_by(Project.jurisdiction_code, Project.id))
    if status == "inspected":
        stmt = stmt.where(inspected)
    elif status == "pending":
        stmt = stmt.where(~inspected)
    return stmt


def list_projects(session: Session, viewer: User, campaign: Campaign, round_no: int, *,
                  district: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    from cases.campaigns.services import get_round

    get_round(session, campaign, round_no)
    names = {r.code: r.name for r in _places(session).values()}
    return [{"id": p.id, "name": p.name, "code": p.code, "jurisdiction_code": p.jurisdiction_code,
             "jurisdiction_name": names.get(p.jurisdiction_code), "address": p.address, "project_kind": p.project_kind,
             "status": p.status, "inspected": bool(done),
             "last_inspected_on": d.isoformat() if d is not None else None}
            for p, done, d in session.execute(project_query(session, viewer, campaign, round_no,
                                                            district=district, status=status))]
