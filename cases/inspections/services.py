"""Record, read and list inspections (检查记录). The caller owns the transaction; ``now`` is injected.

Who: officers and supervisors record inspections of projects and buildings in their subtree; staff
read the inspections of their subtree; an enterprise contact reads, never writes, the inspections of
the projects its unit takes part in (or that name its unit as the inspected unit). What one may not
see is a 404 worded like a missing id.

Recording (``record_inspection``): the checklist version is named by id and kept for good; every
item of it gets a result (合格 / 不合格 / 不适用). A campaign round is checked against the campaign
tables (the site in the campaign's scope, the round exists); an analogous-check task (类比排查) must
be an open task of the same project. Recording closes analogous-check tasks: the given one, or else
every open task of the project. The 检查记录 gets its 文号 at once (cases.issuance.docnumbers); its
printable file is rendered on first request (notifications/documents/inspection_record.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, update
from sqlalchemy.orm import Session

from cases.inspections import DOC_TYPE, INSPECTION_TYPES, RESULTS
from cases.inspections.checklists import get_checklist
from cases.issuance.docnumbers import issue_document_number
from cases.ledger.access import STAFF_ROLES, in_subtree, require_role, subtree_codes
from cases.ledger.rules import lookup_problem
from cases.ledger.validation import MAX_INT, validate_fields
from cases.models import (AnalogTask, Building, Campaign, CampaignRound, Inspection, InspectionItem, Jurisdiction,
                          Project, ProjectParty, User)
from cases.platform import clock
from cases.platform.config import get_settings
from cases.platform.errors import NotFound, ValidationFailed
from state_machines.loader import FieldSpec

NOTE_MAX = 2000
MAX_INSPECTORS = 20

FIELDS = (
    FieldSpec("project_id", "integer", "工程项目"),
    FieldSpec("building_id", "integer", "房屋"),
    FieldSpec("inspected_on", "date", "检查日期", required=True, not_future=True),
    FieldSpec("inspection_type", "enum", "检查类型", required=True, options=INSPECTION_TYPES),
    FieldSpec("unannounced", "boolean", "四不两直"),
    FieldSpec("checklist_id", "integer", "检查表", required=True),
    FieldSpec("campaign_id", "integer", "专项行动"),
    FieldSpec("round_no", "integer", "轮次", min=1, max=99),
    FieldSpec("analog_task_id", "integer", "类比排查任务"),
    FieldSpec("enterprise_id", "enterprise", "受检单位"),
    FieldSpec("place", "string", "检查地点", max_length=300),
    FieldSpec("summary", "text", "检查情况", max_length=8000),
    FieldSpec("handling", "text", "处理意见", max_length=8000),
)
LIST_FIELDS = ("items", "inspector_ids")


def _err(field: str, label: str, message: str) -> dict[str, str]:
    return {"field": field, "label": label, "message": message}


def _missing(inspection_id: Any) -> NotFound:
    return NotFound(f"检查记录（编号{inspection_id}）不存在或不在您的管辖范围内")


# ---------------------------------------------------------------- who sees what


def visible_inspections_clause(user: User) -> ColumnElement[bool]:
    """Staff: inspections in their subtree. A contact: those of projects its unit takes part in, or
    naming its unit as the inspected unit. Others: none."""
    if user.role in STAFF_ROLES:
        return Inspection.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code))
    if user.role == "enterprise" and user.enterprise_id is not None:
        own = select(ProjectParty.project_id).where(ProjectParty.enterprise_id == user.enterprise_id)
        return or_(Inspection.project_id.in_(own), Inspection.enterprise_id == user.enterprise_id)
    return false()


def get_inspection(session: Session, user: User, inspection_id: Any, *, for_update: bool = False) -> Inspection:
    if isinstance(inspection_id, bool) or not isinstance(inspection_id, int) or abs(inspection_id) > MAX_INT:
        raise _missing(inspection_id)
    stmt = select(Inspection).where(Inspection.id == inspection_id, visible_inspections_clause(user))
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise _missing(inspection_id)
    return row


def require_writer(session: Session, user: User, inspection: Inspection) -> None:
    """Changing an inspection (a photo, a case from an item): officers/supervisors over its site."""
    require_role(user, "officer", "supervisor")
    if not in_subtree(session, user.jurisdiction_code, inspection.jurisdiction_code):
        raise _missing(inspection.id)


def items_of(session: Session, inspection_id: int) -> list[InspectionItem]:
    return list(session.scalars(select(InspectionItem).where(InspectionItem.inspection_id == inspection_id)
                                .order_by(InspectionItem.position)))


# ---------------------------------------------------------------- record


@dataclass
class Site:
    jurisdiction_code: str
    project: Project | None
    building: Building | None

    @property
    def address(self) -> str:
        return (self.project.address if self.project else self.building.address if self.building else "") or ""


def _site(session: Session, user: User, values: dict[str, Any], errors: list) -> Site | None:
    project_id, building_id = values.get("project_id"), values.get("building_id")
    if (project_id is None) == (building_id is None):
        if "project_id" not in {e["field"] for e in errors} and "building_id" not in {e["field"] for e in errors}:
            errors.append(_err("project_id", "工程项目", "请选择受检的工程项目或房屋（二者选一）"))
        return None
    if project_id is not None:
        project = session.get(Project, project_id) if abs(project_id) <= MAX_INT else None
        if project is None:
            errors.append(_err("project_id", "工程项目", f"项目（编号{project_id}）不存在"))
            return None
        site = Site(project.jurisdiction_code, project, None)
        field, label = "project_id", "工程项目"
    else:
        building = session.get(Building, building_id) if abs(building_id) <= MAX_INT else None
        if building is None:
            errors.append(_err("building_id", "房屋", f"房屋（编号{building_id}）不存在"))
            return None
        site = Site(building.jurisdiction_code, None, building)
        field, label = "building_id", "房屋"
    if not in_subtree(session, user.jurisdiction_code, site.jurisdiction_code):
        errors.append(_err(field, label, "所在辖区不在您的管辖范围内"))
        return None
    return site


def contractor_of(session: Session, project_id: int) -> int | None:
    """The project's 施工单位 (the first, by id): the unit an inspection of the site inspects."""
    return session.scalar(select(ProjectParty.enterprise_id).where(
        ProjectParty.project_id == project_id, ProjectParty.role == "contractor").order_by(ProjectParty.id).limit(1))


def in_campaign_scope(session: Session, campaign: Campaign, jurisdiction_code: str, project: Project | None) -> bool:
    roots = list(campaign.scope_codes or []) or [campaign.jurisdiction_code]
    if not any(in_subtree(session, root, jurisdiction_code) for root in roots):
        return False
    if campaign.project_kinds and (project is None or project.project_kind not in campaign.project_kinds):
        return False
    return True


def _campaign(session: Session, values: dict[str, Any], site: Site | None, errors: list) -> None:
    campaign_id, round_no = values.get("campaign_id"), values.get("round_no")
    if campaign_id is None:
        if round_no is not None:
            errors.append(_err("campaign_id", "专项行动", "填写了轮次，请同时选择所属专项行动"))
        return
    campaign = session.get(Campaign, campaign_id) if abs(campaign_id) <= MAX_INT else None
    if campaign is None:
        errors.append(_err("campaign_id", "专项行动", f"专项行动（编号{campaign_id}）不存在"))
        return
    if campaign.status != "active":
        errors.append(_err("campaign_id", "专项行动", f"专项行动“{campaign.name}”已结束或已撤销"))
    if site is not None and not in_campaign_scope(session, campaign, site.jurisdiction_code, site.project):
        errors.append(_err("campaign_id", "专项行动", f"受检{'项目' if site.project else '房屋'}不在专项行动“{campaign.name}”的范围内"))
    if round_no is None:
        errors.append(_err("round_no", "轮次", "请选择专项行动的轮次"))
        return
    found = session.scalar(select(CampaignRound.id).where(CampaignRound.campaign_id == campaign.id,
                                                           CampaignRound.round_no == round_no))
    if found is None:
        rounds = session.scalars(select(CampaignRound.round_no).where(CampaignRound.campaign_id == campaign.id)
                                 .order_by(CampaignRound.round_no)).all()
        have = "、".join(f"第{n}轮" for n in rounds) or "无"
        errors.append(_err("round_no", "轮次", f"专项行动“{campaign.name}”没有第{round_no}轮（已有：{have}）"))


def _analog_task(session: Session, values: dict[str, Any], site: Site | None, errors: list) -> AnalogTask | None:
    task_id = values.get("analog_task_id")
    if task_id is None:
        return None
    task = session.get(AnalogTask, task_id) if abs(task_id) <= MAX_INT else None
    if task is None:
        errors.append(_err("analog_task_id", "类比排查任务", f"类比排查任务（编号{task_id}）不存在"))
        return None
    if site is not None and (site.project is None or task.project_id != site.project.id):
        errors.append(_err("analog_task_id", "类比排查任务", "该任务不是本次受检项目的类比排查任务"))
        return None
    if task.status != "open":
        errors.append(_err("analog_task_id", "类比排查任务", "该任务已完成或已取消"))
        return None
    return task


def _inspectors(session: Session, user: User, raw: Any, site: Site | None, errors: list) -> list[dict[str, Any]]:
    """The actor first, then the other inspectors named: active officers/supervisors whose
    jurisdiction holds the site."""
    out = [{"user_id": user.id, "name": user.display_name}]
    if raw is None:
        return out
    if not isinstance(raw, list) or len(raw) > MAX_INSPECTORS:
        errors.append(_err("inspector_ids", "检查人员", f"应为用户编号的列表（最多{MAX_INSPECTORS}人）"))
        return out
    for i, uid in enumerate(raw):
        if isinstance(uid, str) and uid.strip().isdigit() and len(uid.strip()) < 19:
            uid = int(uid.strip())
        if isinstance(uid, bool) or not isinstance(uid, int) or abs(uid) > MAX_INT:
            errors.append(_err(f"inspector_ids[{i}]", "检查人员", "应为用户编号（整数）"))
            continue
        if uid in {x["user_id"] for x in out}:
            continue
        other = session.get(User, uid)
        if other is None or not other.active or other.role not in ("officer", "supervisor"):
            errors.append(_err(f"inspector_ids[{i}]", "检查人员", f"用户（编号{uid}）不存在、已停用或不是监管人员"))
            continue
        if site is not None and not in_subtree(session, other.jurisdiction_code, site.jurisdiction_code):
            errors.append(_err(f"inspector_ids[{i}]", "检查人员", f"{other.display_name}不属于受检对象所在辖区或其上级机关"))
            continue
        out.append({"user_id": other.id, "name": other.display_name})
    return out


def _results(checklist, raw: Any, errors: list) -> list[dict[str, Any]]:
    """One result per checklist item, in the checklist's order."""
    if checklist is None:
        return []
    if not isinstance(raw, list):
        errors.append(_err("items", "检查项", "应为检查结果的列表：每项含检查项代码 item_code 和检查结果 result"))
        return []
    by_code: dict[str, dict[str, Any]] = {}
    known = {it["code"]: it for it in checklist.items}
    before = len(errors)
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            errors.append(_err(f"items[{i}]", f"第{i + 1}个检查结果", "应为含 item_code 和 result 的对象"))
            continue
        code = entry.get("item_code")
        if code not in known:
            errors.append(_err(f"items[{i}].item_code", f"第{i + 1}个检查结果的检查项代码",
                               f"检查表“{checklist.title}”（第{checklist.version}版）没有检查项“{code}”"))
            continue
        label = f"检查项“{code}”"
        if code in by_code:
            errors.append(_err(f"items[{i}].item_code", f"{label}", "重复填写"))
            continue
        result = entry.get("result")
        allowed_here = known[code].get("results") or list(RESULTS)
        if result in RESULTS and result not in allowed_here:
            errors.append(_err(f"items[{i}].result", f"{label}的检查结果",
                               f"此检查项不能选“{RESULTS[result]}”，可选：" + "、".join(RESULTS[r] for r in allowed_here)))
            continue
        if result not in RESULTS:
            allowed = "、".join(f"{k}（{v}）" for k, v in RESULTS.items())
            errors.append(_err(f"items[{i}].result", f"{label}的检查结果",
                               "必填" if result in (None, "") else f"取值“{result}”无效，可选：{allowed}"))
            continue
        note = entry.get("note") or ""
        if not isinstance(note, str) or len(note) > NOTE_MAX or "\x00" in note:
            errors.append(_err(f"items[{i}].note", f"{label}的说明", f"应为不超过{NOTE_MAX}个字符的文本"))
            continue
        by_code[code] = {"result": result, "note": note.strip()}
    if len(errors) == before:
        missing = [c for c in known if c not in by_code]
        if missing:
            errors.append(_err("items", "检查项", f"以下检查项未填写检查结果：{'、'.join(missing)}"))
    return [{**it, **by_code[it["code"]]} for it in checklist.items if it["code"] in by_code]


def _scalar_values(session: Session, payload: dict[str, Any], now: datetime, errors: list) -> dict[str, Any]:
    """The scalar fields, each checked on its own (every problem reported, the good values kept)."""
    known = {f.name for f in FIELDS} | set(LIST_FIELDS)
    for key in payload:
        if key not in known:
            errors.append(_err(key, f"字段“{key}”", "不是检查记录可填写的字段"))
    values: dict[str, Any] = {}
    lookup = lambda kind, v: lookup_problem(session, kind, v)  # noqa: E731
    for spec in FIELDS:
        try:
            values.update(validate_fields([spec], {spec.name: payload.get(spec.name)}, lookup, now=now))
        except ValidationFailed as exc:
            errors += exc.errors
    return values


@dataclass
class Photo:
    """A photo sent with the record for one item (the page's form): bytes and the name as uploaded."""

    data: bytes
    filename: str


def record_inspection(session: Session, user: User, payload: dict[str, Any], now: datetime | None = None, *,
                      photos: dict[str, Photo] | None = None, settings=None) -> Inspection:
    """Record an inspection with every item's result; number its 检查记录; close analogous-check
    tasks. ValidationFailed names every problem by its label."""
    from cases.inspections import findings

    now = now or clock.now()
    require_role(user, "officer", "supervisor")
    if not isinstance(payload, dict):
        raise ValidationFailed([_err("body", "请求体", "应为对象")])
    errors: list[dict[str, str]] = []
    values = _scalar_values(session, payload, now, errors)
    site = _site(session, user, values, errors)
    checklist = None
    if values.get("checklist_id") is not None:
        try:
            checklist = get_checklist(session, values["checklist_id"])
        except NotFound as exc:
            errors.append(_err("checklist_id", "检查表", exc.message))
    if checklist is not None and site is not None:
        wanted = "project" if site.project is not None else "building"
        if checklist.applies_to != wanted:
            errors.append(_err("checklist_id", "检查表", f"“{checklist.title}”适用于"
                               f"{'既有房屋' if checklist.applies_to == 'building' else '工程项目'}，"
                               f"本次受检的是{'工程项目' if wanted == 'project' else '房屋'}"))
    results = _results(checklist, payload.get("items"), errors)
    inspectors = _inspectors(session, user, payload.get("inspector_ids"), site, errors)
    _campaign(session, values, site, errors)
    task = _analog_task(session, values, site, errors)
    settings = settings or get_settings()
    sniffed = findings.check_photos(photos or {}, results, errors, settings)
    if errors:
        raise ValidationFailed(errors)

    jurisdiction = session.get(Jurisdiction, site.jurisdiction_code)
    year = clock.to_local(now).year
    number = issue_document_number(session, jurisdiction, DOC_TYPE, year, get_settings().doc_number_prefixes)
    enterprise_id = values.get("enterprise_id")
    if enterprise_id is None and site.project is not None:
        enterprise_id = contractor_of(session, site.project.id)
    inspection = Inspection(
        number=number, jurisdiction_code=site.jurisdiction_code,
        project_id=site.project.id if site.project else None, building_id=site.building.id if site.building else None,
        enterprise_id=enterprise_id, inspected_on=date.fromisoformat(values["inspected_on"]),
        inspection_type=values["inspection_type"], unannounced=bool(values.get("unannounced", False)),
        inspectors=inspectors, checklist_id=checklist.id, campaign_id=values.get("campaign_id"),
        round_no=values.get("round_no") if values.get("campaign_id") is not None else None,
        analog_task_id=task.id if task is not None else None,
        place=values.get("place") or site.address, summary=values.get("summary", ""),
        handling=values.get("handling", ""), findings=sum(1 for r in results if r["result"] == "fail"),
        document={"doc_type": DOC_TYPE, "issued_at": now.isoformat(), "checklist_version": checklist.version},
        created_by_id=user.id, created_at=now,
    )
    session.add(inspection)
    session.flush()
    for position, r in enumerate(results, start=1):
        session.add(InspectionItem(
            inspection_id=inspection.id, position=position, item_code=r["code"], text=r["text"],
            category=r.get("category"), major_hazard_item=r.get("major_hazard_item"), result=r["result"],
            note=r["note"], photo={}, case_id=None))
    session.flush()
    if sniffed:
        findings.store_photos(session, inspection, sniffed, settings, user, now)
    # 类比排查: the task it names, else every open task of the project (cases/analogs/services.py)
    from cases.analogs.services import close_tasks_for_inspection

    close_tasks_for_inspection(session, inspection, now)
    return inspection


