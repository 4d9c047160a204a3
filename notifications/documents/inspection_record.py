"""The 检查记录 (监督检查记录) of an inspection: printable HTML and PDF, numbered when the inspection
was recorded (cases/inspections/services.py), rendered on first request and stored by content hash
under the data dir like the case documents (``documents/<sha256>.pdf|.html``); the inspection's
``document`` column keeps the hash and paths. The template is
``notifications/templates/_records/inspection_record.html.j2`` (the same environment and filters as
the case documents; not a catalogue type: it belongs to no case and is sent to nobody).
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.inspections import INSPECTION_TYPES, RESULTS
from cases.models import Building, Campaign, Case, Checklist, Enterprise, Inspection, InspectionItem, Jurisdiction, Project
from cases.platform.files import write_atomically
from notifications.rendering.render import RenderError, environment, html_to_pdf

TEMPLATE = "_records/inspection_record.html.j2"
TITLE = "监督检查记录"
DOCUMENTS_DIR = "documents"


def record_variables(session: Session, inspection: Inspection) -> dict[str, Any]:
    """What the 检查记录 prints: the inspection as recorded, with the case numbers its items became."""
    j = session.get(Jurisdiction, inspection.jurisdiction_code)
    project = session.get(Project, inspection.project_id) if inspection.project_id else None
    building = session.get(Building, inspection.building_id) if inspection.building_id else None
    unit = session.get(Enterprise, inspection.enterprise_id) if inspection.enterprise_id else None
    checklist = session.get(Checklist, inspection.checklist_id) if inspection.checklist_id else None
    campaign = session.get(Campaign, inspection.campaign_id) if inspection.campaign_id else None
    items = list(session.scalars(select(InspectionItem).where(InspectionItem.inspection_id == inspection.id)
                                 .order_by(InspectionItem.position)))
    case_ids = [i.case_id for i in items if i.case_id]
    numbers = dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all()) if case_ids else {}
    issued = (inspection.document or {}).get("issued_at")
    return {
        "title": TITLE, "issuing_authority": j.authority_name if j else inspection.jurisdiction_code,
        "doc_number": inspection.number or "", "issued_at": datetime.fromisoformat(issued) if issued else inspection.created_at,
        "project_name": project.name if project else None, "building_name": building.name if building else None,
        "building_address": building.address if building else None,
        "inspected_unit": unit.name if unit else (building.owner_name if building else None),
        "inspected_on": inspection.inspected_on, "place": inspection.place,
        "inspection_type": INSPECTION_TYPES.get(inspection.inspection_type, inspection.inspection_type),
        "unannounced": inspection.unannounced,
        "inspectors": "、".join(x.get("name") or "" for x in inspection.inspectors or []),
        "checklist_title": checklist.title if checklist else "—", "checklist_version": checklist.version if checklist else "—",
        "campaign": f"{campaign.name}（第{inspection.round_no}轮）" if campaign else None,
        "items": [{"code": i.item_code, "text": i.text, "result": i.result, "result_label": RESULTS.get(i.result, i.result),
                   "note": i.note} for i in items],
        "problems": [{"code": i.item_code, "text": i.text, "note": i.note, "major_hazard_item": i.major_hazard_item,
                      "case_number": numbers.get(i.case_id)} for i in items if i.result == "fail"],
        "summary": inspection.summary, "handling": inspection.handling,
    }


def render_record(variables: dict[str, Any], *, pdf: bool = True) -> tuple[str, bytes]:
    """(printable HTML, PDF bytes — b"" without ``pdf``)."""
    try:
        html = environment().get_template(TEMPLATE).render(variables)
    except RenderError:
        raise
    except Exception as exc:  # a filter given a wrong value, a template error
        raise RenderError(f"检查记录生成失败：{exc}") from exc
    return html, (html_to_pdf(html) if pdf else b"")


def stored_record(session: Session, inspection: Inspection, settings, kind: str) -> tuple[bytes, str]:
    """The stored PDF or HTML of the inspection's 检查记录 (rendered and stored first if it is not yet,
    or if its file went missing); returns (bytes, the PDF's sha256)."""
    doc = dict(inspection.document or {})
    root = Path(settings.data_dir)
    if doc.get("sha256") and doc.get("pdf_path") and doc.get("html_path"):
        try:
            data = (root / doc[f"{kind}_path"]).read_bytes()
            if kind != "pdf" or hashlib.sha256(data).hexdigest() == doc["sha256"]:
                return data, doc["sha256"]
        except OSError:
            pass
    html, pdf = render_record(record_variables(session, inspection))
    digest = hashlib.sha256(pdf).hexdigest()
    pdf_rel, html_rel = f"{DOCUMENTS_DIR}/{digest}.pdf", f"{DOCUMENTS_DIR}/{digest}.html"
    write_atomically(root / html_rel, html.encode("utf-8"))
    write_atomically(root / pdf_rel, pdf)
    inspection.document = {**doc, "sha256": digest, "pdf_path": pdf_rel, "html_path": html_rel, "title": TITLE}
    session.flush()
    return (pdf if kind == "pdf" else html.encode("utf-8")), digest
