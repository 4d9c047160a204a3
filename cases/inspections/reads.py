"""Reading inspections: the list with its filters (the API's and the page's), and the JSON of one
inspection with its items, photos and the cases its items became. Visibility is
``services.visible_inspections_clause``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.inspections import INSPECTION_TYPES, RESULTS
from cases.inspections.services import _err, items_of, visible_inspections_clause
from cases.models import Building, Campaign, Case, Inspection, InspectionItem, Project, User
from cases.platform.errors import ValidationFailed


# ---------------------------------------------------------------- list


@dataclass
class InspectionFilters:
    project_id: int | None = None
    building_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    inspection_type: str | None = None
    campaign_id: int | None = None
    round_no: int | None = None
    findings: bool | None = None  # True: with findings; False: without


def list_inspections(session: Session, user: User, f: InspectionFilters, page: int = 1,
                     page_size: int = 50) -> tuple[list[Inspection], int]:
    stmt = select(Inspection).where(visible_inspections_clause(user))
    if f.inspection_type is not None and f.inspection_type not in INSPECTION_TYPES:
        allowed = "、".join(f"{k}（{v}）" for k, v in INSPECTION_TYPES.items())
        raise ValidationFailed([_err("inspection_type", "检查类型", f"取值“{f.inspection_type}”无效，可选：{allowed}")])
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise ValidationFailed([_err("date_to", "检查日期（止）", "不能早于检查日期（起）")])
    for column, value in ((Inspection.project_id, f.project_id), (Inspection.building_id, f.building_id),
                          (Inspection.inspection_type, f.inspection_type), (Inspection.campaign_id, f.campaign_id),
                          (Inspection.round_no, f.round_no)):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.date_from:
        stmt = stmt.where(Inspection.inspected_on >= f.date_from)
    if f.date_to:
        stmt = stmt.where(Inspection.inspected_on <= f.date_to)
    if f.findings is True:
        stmt = stmt.where(Inspection.findings > 0)
    elif f.findings is False:
        stmt = stmt.where(Inspection.findings == 0)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(Inspection.inspected_on.desc(), Inspection.id.desc())
                                .offset((page - 1) * page_size).limit(page_size)))
    return rows, total


# ---------------------------------------------------------------- JSON


def _names(session: Session, rows: list[Inspection]) -> dict[str, dict]:
    pids = {r.project_id for r in rows if r.project_id}
    bids = {r.building_id for r in rows if r.building_id}
    eids = {r.enterprise_id for r in rows if r.enterprise_id}
    cids = {r.campaign_id for r in rows if r.campaign_id}
    from cases.models import Checklist, Enterprise

    chk = {r.checklist_id for r in rows if r.checklist_id}
    return {
        "projects": dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(pids))).all()) if pids else {},
        "buildings": dict(session.execute(select(Building.id, Building.name).where(Building.id.in_(bids))).all()) if bids else {},
        "enterprises": dict(session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(eids))).all()) if eids else {},
        "campaigns": dict(session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(cids))).all()) if cids else {},
        "checklists": {c.id: c for c in session.scalars(select(Checklist).where(Checklist.id.in_(chk)))} if chk else {},
    }


def inspection_summaries(session: Session, rows: list[Inspection]) -> list[dict[str, Any]]:
    names = _names(session, rows)
    return [inspection_json(r, names) for r in rows]


def inspection_json(r: Inspection, names: dict[str, dict], *, prefix: str = "/api") -> dict[str, Any]:
    checklist = names["checklists"].get(r.checklist_id)
    return {
        "id": r.id, "number": r.number, "jurisdiction_code": r.jurisdiction_code,
        "project": {"id": r.project_id, "name": names["projects"].get(r.project_id)} if r.project_id else None,
        "building": {"id": r.building_id, "name": names["buildings"].get(r.building_id)} if r.building_id else None,
        "enterprise": {"id": r.enterprise_id, "name": names["enterprises"].get(r.enterprise_id)} if r.enterprise_id else None,
        "inspected_on": r.inspected_on.isoformat(), "inspection_type": r.inspection_type,
        "inspection_type_label": INSPECTION_TYPES.get(r.inspection_type, r.inspection_type),
        "unannounced": r.unannounced, "inspectors": r.inspectors,
        "checklist": {"id": checklist.id, "code": checklist.code, "version": checklist.version,
                      "title": checklist.title} if checklist else None,
        "campaign": {"id": r.campaign_id, "name": names["campaigns"].get(r.campaign_id), "round_no": r.round_no}
        if r.campaign_id else None,
        "analog_task_id": r.analog_task_id, "place": r.place, "summary": r.summary, "handling": r.handling,
        "findings": r.findings, "has_findings": r.findings > 0,
        "created_by_id": r.created_by_id, "created_at": r.created_at.isoformat(),
        "document_pdf_url": f"{prefix}/inspections/{r.id}/document.pdf",
        "document_html_url": f"{prefix}/inspections/{r.id}/document.html",
    }


def inspection_detail(session: Session, user: User, r: Inspection, *, prefix: str = "/api") -> dict[str, Any]:
    """One inspection with its items and the cases its items became (those ``user`` sees by name;
    the others by id only)."""
    from cases.ledger.access import visible_cases_clause

    out = inspection_json(r, _names(session, [r]), prefix=prefix)
    items = items_of(session, r.id)
    case_ids = {i.case_id for i in items if i.case_id}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids), visible_cases_clause(user)))} \
        if case_ids else {}
    out["items"] = [item_json(i, cases.get(i.case_id), r.id, prefix=prefix) for i in items]
    out["cases"] = [{"id": c.id, "number": c.number, "kind": c.kind, "title": c.title, "state": c.state}
                    for c in cases.values()]
    return out


def item_json(i: InspectionItem, case: Case | None, inspection_id: int, *, prefix: str = "/api") -> dict[str, Any]:
    photo = i.photo or {}
    return {
        "id": i.id, "position": i.position, "item_code": i.item_code, "text": i.text, "category": i.category,
        "major_hazard_item": i.major_hazard_item, "result": i.result, "result_label": RESULTS.get(i.result, i.result),
        "note": i.note,
        "photo": {"sha256": photo["sha256"], "media_type": photo.get("media_type"), "filename": photo.get("filename"),
                  "taken_at": (photo.get("meta") or {}).get("taken_at"),
                  "url": f"{prefix}/inspections/{inspection_id}/items/{i.id}/photo",
                  "thumb_url": f"{prefix}/inspections/{inspection_id}/items/{i.id}/photo?thumb=true"} if photo else None,
        "case": {"id": case.id, "number": case.number, "kind": case.kind, "title": case.title} if case else
        ({"id": i.case_id} if i.case_id else None),
    }
