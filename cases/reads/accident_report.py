"""The accident's report to the national platform (issue 12, part 6): the facts in the order a clerk
keys them into the 全国房屋市政工程生产安全事故信息报送 form, with the two reporting clocks and a
迟报 / 漏报 flag on each — read from the case, its project's parties and its deadlines (the policy's
逐级上报 ``report_up`` and 详细报告 ``detailed_report`` clocks).

A clock's reporting status: 按时 (met no later than its due instant), 迟报 (met after it), 漏报 (missed,
or still open past it), 未到期 (open, not yet due)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.ledger.accident import GRADE_LABELS
from cases.ledger.engine import get_registry
from cases.models import Deadline, Enterprise, Jurisdiction, Project, ProjectParty, User
from cases.platform.errors import ActionNotAllowed

REPORT_CLOCKS = (("report_up", "快报（逐级上报）"), ("detailed_report", "详细报告"))
STATUS_LABELS = {"on_time": "按时", "late": "迟报", "missed": "漏报", "pending": "未到期"}
PARTY_ROLES = (("builder", "建设单位"), ("contractor", "施工单位"), ("supervisor", "监理单位"))


def reporting_status(d: Deadline, now: datetime) -> str:
    if d.status == "met" and d.closed_at is not None and d.due_at is not None:
        return "on_time" if d.closed_at <= d.due_at else "late"
    if d.status == "missed" or (d.status == "open" and d.due_at is not None and d.due_at <= now):
        return "missed"
    return "pending"


def accident_report(session: Session, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    case = services.get_case(session, user, case_id)  # 404 for what the user may not see
    if case.kind != "accident":
        raise ActionNotAllowed("只有生产安全事故案件才有事故信息报送表")
    details = case.details or {}
    spec = get_registry().get(case.kind, case.machine_version)
    types = next((f.options for f in spec.create_fields if f.name == "accident_type"), {}) or {}
    unit = session.get(Enterprise, case.enterprise_id) if case.enterprise_id else None
    project = session.get(Project, case.project_id) if case.project_id else None
    parties: dict[str, list[str]] = {}
    if project is not None:
        for role, name in session.execute(select(ProjectParty.role, Enterprise.name)
                                          .join(Enterprise, Enterprise.id == ProjectParty.enterprise_id)
                                          .where(ProjectParty.project_id == project.id)):
            parties.setdefault(role, []).append(name)
    authority = session.get(Jurisdiction, case.jurisdiction_code)
    clocks = {d.key: d for d in session.scalars(select(Deadline).where(
        Deadline.case_id == case.id, Deadline.key.in_([k for k, _ in REPORT_CLOCKS])).order_by(Deadline.id))}
    reporting = []
    for key, label in REPORT_CLOCKS:
        d = clocks.get(key)
        if d is None:
            continue
        status = reporting_status(d, now)
        reporting.append({"key": key, "label": label, "due_at": d.due_at, "done_at": d.closed_at if d.status == "met" else None,
                          "status": status, "status_label": STATUS_LABELS[status]})
    return {
        "case_id": case.id, "case_number": case.number, "title": case.title,
        "reporting_authority": authority.authority_name if authority else case.jurisdiction_code,
        "unit": {"name": unit.name, "credit_code": unit.credit_code} if unit else None,
        "project": {"name": project.name, "code": project.code, "address": project.address} if project else None,
        "parties": [{"role": role, "label": label, "names": parties.get(role, [])} for role, label in PARTY_ROLES],
        "occurred_at": details.get("occurred_at"), "location": case.location,
        "accident_type": details.get("accident_type"), "accident_type_label": types.get(details.get("accident_type")),
        "deaths": details.get("deaths"), "serious_injuries": details.get("serious_injuries"),
        "minor_injuries": details.get("minor_injuries"), "direct_loss": details.get("direct_loss"),
        "grade": case.accident_grade, "grade_label": GRADE_LABELS.get(case.accident_grade or ""),
        "brief": details.get("brief"), "reporting": reporting,
        "late": any(r["status"] in ("late", "missed") for r in reporting),
    }
