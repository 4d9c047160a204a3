"""What an enterprise contact may record: a self-found hazard of its own unit on one of its own
projects. Called by ``cases.ledger.services.create_case`` for a contact (the machine's
``settings.creators`` already let only contacts create this kind)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import ProjectParty, User

SELF_CHECK_SOURCE = "self_check"  # 企业自查 (cases.ledger.services.SOURCES)
# Fields a contact does not fill: the regulator's (jurisdiction, 承办人) or not a unit's own (buildings,
# other units). The jurisdiction is the project's.
NOT_FOR_CONTACTS = {"jurisdiction_code": "所属辖区", "building_id": "房屋", "assignee_id": "承办人",
                    "related_enterprises": "相关单位"}


def own_unit_problems(session: Session, actor: User, values: dict[str, Any], data: dict[str, Any]) -> list[dict]:
    """The 422 problems of a contact's record (each naming its field); fills in the unit and the source."""
    errors: list[dict[str, str]] = []
    for name, label in NOT_FOR_CONTACTS.items():
        if data.get(name) is not None:
            errors.append({"field": name, "label": label, "message": "企业自查隐患不填写此项（由监管部门确定）"})
    unit = values.get("enterprise_id")
    if unit is not None and unit != actor.enterprise_id:
        errors.append({"field": "enterprise_id", "label": "责任单位", "message": "企业自查隐患的责任单位只能是本单位"})
    values["enterprise_id"] = actor.enterprise_id
    source = values.get("source")
    if source is not None and source != SELF_CHECK_SOURCE:
        errors.append({"field": "source", "label": "来源", "message": "企业自查隐患的来源只能是“企业自查”"})
    values["source"] = SELF_CHECK_SOURCE
    project_id = values.get("project_id")
    if project_id is None:
        errors.append({"field": "project_id", "label": "工程项目", "message": "请选择本单位参建的工程项目"})
    elif session.scalar(select(ProjectParty.id).where(ProjectParty.project_id == project_id,
                                                      ProjectParty.enterprise_id == actor.enterprise_id).limit(1)) is None:
        # Worded like a missing project: a contact does not learn of other units' projects.
        errors.append({"field": "project_id", "label": "工程项目",
                       "message": f"项目（编号{project_id}）不存在或不是本单位参建的项目"})
    return errors
