"""The campaign pages (专项行动, docs/campaigns.md): ``/campaigns`` (the visible campaigns),
``/campaigns/new`` (organisers: supervisors and admins of a city or province), ``/campaigns/{id}``
(rounds, the coverage table per district × round — every figure a link: the project lists to
``/campaigns/{id}/projects``, the case figures to the ledger with the same filters — and the rungs the
round clock fired) and ``/campaigns/{id}/projects`` (a figure's projects, each with the link to record
an inspection). They read through the services the API uses (cases/campaigns/)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from api.pages.common import CheckedForm, PageUser, error_page, redirect, render
from cases.campaigns import clock as round_clock
from cases.campaigns import coverage as cov
from cases.campaigns import services
from cases.ledger.access import STAFF_ROLES, subtree_codes
from cases.models import Jurisdiction, User
from cases.platform.errors import ValidationFailed

router = APIRouter(include_in_schema=False)
FORM_ROUNDS = 4  # round rows offered by the form (empty rows are ignored)


def _staff_only(request: Request, user: User):
    if user.role not in STAFF_ROLES:
        return error_page(request, 403, "专项行动仅供监管部门查看。")
    return None


@router.get("/campaigns")
def campaigns_page(request: Request, user: PageUser):
    refused = _staff_only(request, user)
    if refused:
        return refused
    with request.app.state.db.session() as s:
        items = [services.view(s, user, c) for c in services.list_campaigns(s, user)]
        may_create = services.may_organise(s, user)
    return render(request, "campaigns/list.html", user=user, items=items, may_create=may_create,
                  statuses=services.STATUSES)


def _scope_choices(request: Request, user: User) -> list[Any]:
    with request.app.state.db.session() as s:
        return s.execute(select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level)
                         .where(Jurisdiction.code.in_(subtree_codes(user.jurisdiction_code)),
                                Jurisdiction.level.in_(("prefecture", "county")),
                                Jurisdiction.code != user.jurisdiction_code)
                         .order_by(Jurisdiction.path).limit(400)).all()


def _new_form(request: Request, user: User, *, values: dict[str, Any] | None = None, errors=None, status: int = 200):
    blank = {"name": "", "starts_on": "", "ends_on": "", "coverage_target": "100", "description": "",
             "scope_codes": [], "project_kinds": [],
             "rounds": [{"name": "", "starts_on": "", "due_on": ""} for _ in range(FORM_ROUNDS)]}
    return render(request, "campaigns/new.html", user=user, status_code=status, values=values or blank,
                  errors=errors or [], scopes=_scope_choices(request, user), kinds=services.PROJECT_KINDS)


@router.get("/campaigns/new")
def new_campaign_page(request: Request, user: PageUser):
    with request.app.state.db.session() as s:
        if not services.may_organise(s, user):
            return error_page(request, 403, "只有市级或省级住建部门的督办/审批人员或系统管理员可以发起专项行动。",
                              [("/campaigns", "返回专项行动")])
    return _new_form(request, user)


@router.post("/campaigns/new")
def create_campaign_page(request: Request, user: PageUser, form: CheckedForm):
    rounds = []
    for i in range(FORM_ROUNDS):
        row = {k: str(form.get(f"round_{k}_{i}") or "").strip() for k in ("name", "starts_on", "due_on")}
        rounds.append(row)
    values = {"name": str(form.get("name") or "").strip(), "starts_on": str(form.get("starts_on") or ""),
              "ends_on": str(form.get("ends_on") or ""), "coverage_target": str(form.get("coverage_target") or "").strip(),
              "description": str(form.get("description") or ""),
              "scope_codes": [str(x) for x in form.getlist("scope_codes")],
              "project_kinds": [str(x) for x in form.getlist("project_kinds")], "rounds": rounds}
    data = {**values, "rounds": [{k: v or None for k, v in r.items()} for r in rounds if r["due_on"] or r["name"]],
            "coverage_target": values["coverage_target"] or None}
    try:
        with request.app.state.db.transaction() as s:
            campaign = services.create_campaign(s, user, data, now=request.app.state.clock.now())
            campaign_id = campaign.id
    except ValidationFailed as exc:
        return _new_form(request, user, values=values, errors=exc.errors, status=422)
    return redirect(request, f"/campaigns/{campaign_id}", "专项行动已发起")


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, user: PageUser, campaign_id: int):
    refused = _staff_only(request, user)
    if refused:
        return refused
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        campaign = services.get_campaign(s, user, campaign_id)
        v = services.view(s, user, campaign)
        tables = []
        for r in v.rounds:
            c = cov.coverage(s, campaign, r.round_no, user, now=now)
            tables.append({"round": r, "rows": [(x, cov.figure_links(campaign, r, x.code)) for x in c.rows]})
        rounds_by_id = {r.id: r for r in v.rounds}
        mine = {d.code for d in cov.districts(s, campaign, user)}  # a district reads its own record only
        names = dict(s.execute(select(Jurisdiction.code, Jurisdiction.name)).all())
        fired = [{"id": f.id, "round": rounds_by_id.get(f.round_id), "district": names.get(f.jurisdiction_code, f.jurisdiction_code),
                  "rung": f.rung, "fired_at": f.fired_at, "number": f.document_number, "facts": f.coverage or {}}
                 for f in round_clock.firings(s, campaign) if f.jurisdiction_code in mine]
        scope_names = [names.get(code, code) for code in campaign.scope_codes or []]
    return render(request, "campaigns/detail.html", user=user, v=v, c=campaign, tables=tables, fired=fired,
                  scope_names=scope_names, kinds=services.PROJECT_KINDS, statuses=services.STATUSES,
                  rung_labels={r.rung: r.label for r in round_clock.campaign_policy().rungs})


@router.get("/campaigns/{campaign_id}/projects")
def campaign_projects_page(request: Request, user: PageUser, campaign_id: int):
    refused = _staff_only(request, user)
    if refused:
        return refused
    params = request.query_params
    raw_round = params.get("round") or "1"
    round_no = int(raw_round) if raw_round.isascii() and raw_round.isdigit() and 0 < int(raw_round) <= services.MAX_ROUNDS else 0
    district = (params.get("district") or "").strip()[:12] or None
    status = (params.get("status") or "").strip() or None
    with request.app.state.db.session() as s:
        campaign = services.get_campaign(s, user, campaign_id)
        if round_no == 0:
            raise ValidationFailed([{"field": "round", "label": "轮次", "message": f"应为1至{services.MAX_ROUNDS}之间的整数"}])
        rnd = services.get_round(s, campaign, round_no)
        items = cov.list_projects(s, user, campaign, round_no, district=district, status=status)
        district_name = s.scalar(select(Jurisdiction.name).where(Jurisdiction.code == district)) if district else None
    return render(request, "campaigns/projects.html", user=user, c=campaign, rnd=rnd, items=items,
                  district=district, district_name=district_name, status=status,
                  status_label=cov.PROJECT_STATUSES.get(status or "", "在建项目"), kinds=services.PROJECT_KINDS)


@router.get("/campaigns/{campaign_id}/letters/{firing_id}")
def campaign_letter_page(request: Request, user: PageUser, campaign_id: int, firing_id: int):
    """A 督办函 the round clock issued, laid out for printing (its text as kept on the firing row)."""
    from cases.models.inspections import CampaignRound, CampaignRoundFiring
    from cases.platform.errors import NotFound

    refused = _staff_only(request, user)
    if refused:
        return refused
    with request.app.state.db.session() as s:
        campaign = services.get_campaign(s, user, campaign_id)
        firing = s.get(CampaignRoundFiring, firing_id) if abs(firing_id) <= 2**63 - 1 else None
        rnd = s.get(CampaignRound, firing.round_id) if firing is not None else None
        letter = (firing.coverage or {}).get("letter") if firing is not None else None
        mine = {d.code for d in cov.districts(s, campaign, user)}
        if rnd is None or rnd.campaign_id != campaign.id or not letter or firing.jurisdiction_code not in mine:
            raise NotFound(f"督办函（编号{firing_id}）不存在或您无权查看")
        lines = letter.split("\n")
    return render(request, "campaigns/letter.html", user=user, c=campaign, title_line=lines[0], number=lines[1],
                  addressee=lines[2], body=lines[3:-2], issuer=lines[-2], issued=lines[-1])
