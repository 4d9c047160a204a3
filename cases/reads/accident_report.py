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
from cases.models import Case, Deadline, Enterprise, Jurisdiction, Project, ProjectParty, User
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
    return accident_reports(session, [case], now)[case.id]


def accident_reports(session: Session, cases: list[Case], now: datetime) -> dict[int, dict[str, Any]]:
    """The report of each accident case, by case id: its units, projects and parties, authorities and
    reporting clocks read for all of them at once (five statements, however many cases — the
    platform's list of a province's accidents, cases/reads/accident_platform.py)."""
    if not cases:
        return {}
    units = _by_id(session, Enterprise, {c.enterprise_id for c in cases if c.enterprise_id})
    projects = _by_id(session, Project, {c.project_id for c in cases if c.project_id})
    parties: dict[int, dict[str, list[str]]] = {}
    if projects:
        for project_id, role, name in session.execute(
                select(ProjectParty.project_id, ProjectParty.role, Enterprise.name)
                .join(Enterprise, Enterprise.id == ProjectParty.enterprise_id)
                .where(ProjectParty.project_id.in_(projects)).order_by(ProjectParty.id)):
            parties.setdefault(project_id, {}).setdefault(role, []).append(name)
    authorities = {j.code: j for j in session.scalars(
        select(Jurisdiction).where(Jurisdiction.code.in_({c.jurisdiction_code for c in cases})))}
    clocks: dict[int, dict[str, Deadline]] = {}
    for d in session.scalars(select(Deadline).where(
            Deadline.case_id.in_([c.id for c in cases]), Deadline.key.in_([k for k, _ in REPORT_CLOCKS]))
            .order_by(Deadline.id)):
        clocks.setdefault(d.case_id, {})[d.key] = d  # the latest of a key, as before
    return {c.id: _report(c, units.get(c.enterprise_id), projects.get(c.project_id),
                          parties.get(c.project_id, {}), authorities.get(c.jurisdiction_code),
                          clocks.get(c.id, {}), now) for c in cases}


def _by_id(session: Session, model, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _report(case: Case, unit: Enterprise | None, project: Project | None, parties: dict[str, list[str]],
            authority: Jurisdiction | None, clocks: dict[str, Deadline], now: datetime) -> dict[str, Any]:
    details = case.details or {}
    spec = get_registry().get(case.kind, case.machine_version)
    types = next((f.options for f in spec.create_fields if f.name == "accident_type"), {}) or {}
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
