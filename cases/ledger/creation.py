"""Creating a case: the common creation fields, the kind's own (machine data), who may record one,
the jurisdiction it lands in, its number, and the creation event with its hooks."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, lazyload

from cases.ledger import case_hints
from cases.ledger.access import in_subtree, require_role
from cases.ledger.engine import get_registry
from cases.ledger.numbering import format_case_number, next_serial
from cases.ledger.rules import CREATE_CHECKS, lookup_problem
from cases.ledger.services import CREATION_HOOKS, _comment_problem, _lookup, assignee_problem, run_hooks
from cases.ledger.validation import MAX_INT, validate_fields
from cases.models import Building, Case, CaseEnterprise, CaseEvent, Project, User
from cases.platform import clock
from cases.platform.errors import ValidationFailed
from cases.reads.jurisdiction_cache import jurisdiction_rows
from state_machines.loader import FieldSpec

SOURCES = {"inspection": "监督检查", "self_check": "企业自查", "public_report": "群众举报",
           "referral": "上级交办", "survey": "专项排查", "flash_report": "事故快报", "other": "其他"}
SOURCES["occurrence_report"] = "险情快报"  # 重大险情 (dangerous_occurrence)
RELATED_ROLES = {"builder": "建设单位", "contractor": "施工单位", "supervisor": "监理单位"}

# Who records cases unless the kind's machine names its own ``settings.creators``.
STAFF_CREATORS = ("officer", "supervisor")

# Fields every case has at creation, whatever its kind.
COMMON_CREATE_FIELDS = (
    FieldSpec("title", "string", "标题", required=True, max_length=200),
    FieldSpec("description", "text", "情况描述", max_length=8000),
    FieldSpec("location", "string", "地点", max_length=300),
    FieldSpec("jurisdiction_code", "jurisdiction", "所属辖区"),
    FieldSpec("found_at", "datetime", "发现时间", not_future=True),
    FieldSpec("source", "enum", "来源", options=SOURCES),
    FieldSpec("project_id", "integer", "工程项目"),
    FieldSpec("building_id", "integer", "房屋"),
    FieldSpec("enterprise_id", "enterprise", "责任单位"),
    FieldSpec("assignee_id", "user", "承办人"),
)

# ---------------------------------------------------------------- create


def create_case(session: Session, actor: User, data: dict[str, Any], *, now: datetime | None = None) -> Case:
    now = now or clock.now()
    if actor.role != "enterprise":
        require_role(actor, *STAFF_CREATORS)
    kind = data.get("kind")
    registry = get_registry()
    if kind not in registry.kinds():
        raise ValidationFailed([{"field": "kind", "label": "案件类型",
                                 "message": f"无效的案件类型“{kind}”，可选：" + "、".join(
                                     f"{k}（{registry.latest(k).label}）" for k in registry.kinds())}])
    definition = registry.latest(kind)
    # Who records a case of this kind: staff, or as the machine says (企业自查隐患: the unit's contact).
    require_role(actor, *definition.settings.get("creators", STAFF_CREATORS))
    payload = {k: v for k, v in data.items() if k not in ("kind", "related_enterprises", "comment")}
    common_names = {f.name for f in COMMON_CREATE_FIELDS}
    kind_fields = [f for f in definition.create_fields if f.name not in common_names]
    kept: list = []  # referenced until the hooks are done (see _lookup)
    from cases.issuance.documents import CREATION_DOCUMENTS

    if kind in CREATION_DOCUMENTS:  # their facts name the creator: found in the session, not read again
        case_hints.hold_actor(session, actor, kept)
    values = validate_fields([*COMMON_CREATE_FIELDS, *kind_fields], payload, _lookup(session, kept), now=now)
    errors: list[dict[str, str]] = []
    if actor.role == "enterprise":  # its own unit and one of its own projects (cases/selfcheck/records.py)
        from cases.selfcheck.records import own_unit_problems

        errors.extend(own_unit_problems(session, actor, values, data))

    jurisdiction_code = values.get("jurisdiction_code", actor.jurisdiction_code)
    jurisdiction_field = ("jurisdiction_code", "所属辖区")
    if values.get("project_id") is not None:
        project = session.get(Project, values["project_id"], options=[lazyload(Project.parties)])  # row only
        if project is None:
            errors.append({"field": "project_id", "label": "工程项目", "message": f"项目（编号{values['project_id']}）不存在"})
        elif "jurisdiction_code" not in values:
            jurisdiction_code = project.jurisdiction_code
            jurisdiction_field = ("project_id", "工程项目")
    if values.get("building_id") is not None:
        building = session.get(Building, values["building_id"])
        if building is None:
            errors.append({"field": "building_id", "label": "房屋", "message": f"房屋（编号{values['building_id']}）不存在"})
        elif "jurisdiction_code" not in values and values.get("project_id") is None:
            jurisdiction_code = building.jurisdiction_code
            jurisdiction_field = ("building_id", "房屋")
    # Checked after the project/building decided the jurisdiction: neither may take a case
    # outside the creator's own jurisdiction.
    if actor.role != "enterprise" and not in_subtree(session, actor.jurisdiction_code, jurisdiction_code):
        field, label = jurisdiction_field
        errors.append({"field": field, "label": label,
                       "message": "所在辖区不在您的管辖范围内" if field != "jurisdiction_code" else "不在您的管辖范围内"})
    problem = assignee_problem(session, values.get("assignee_id"), jurisdiction_code)
    if problem:
        errors.append({"field": "assignee_id", "label": "承办人", "message": problem})
    labels = {f.name: f.label for f in COMMON_CREATE_FIELDS}
    for name in definition.creation.require:  # the machine data's creation block (危房: 房屋)
        if values.get(name) is None:
            errors.append({"field": name, "label": labels[name],
                           "message": f"{definition.label}案件必须{'关联' if name.endswith('_id') else '填写'}{labels[name]}"})
    for check in definition.creation.checks:  # e.g. 重大险情: not an accident's facts
        errors.extend(CREATE_CHECKS[check](values))
    related = _validate_related(session, data.get("related_enterprises"), errors)
    problem = _comment_problem(data.get("comment"))
    if problem:
        errors.append({"field": "comment", "label": "备注", "message": problem})
    if errors:
        raise ValidationFailed(errors)

    jurisdiction = jurisdiction_rows(session, [jurisdiction_code])[jurisdiction_code]  # reference cache
    year = clock.to_local(now).year
    serial = next_serial(session, jurisdiction.code, definition.number_code, year)
    found_at = datetime.fromisoformat(values["found_at"]) if "found_at" in values else now
    details = {f.name: values[f.name] for f in kind_fields if f.name in values and f.store == "details"}
    case = Case(
        number=format_case_number(jurisdiction.code, definition.number_code, year, serial),
        kind=kind, machine_version=definition.version, state=definition.initial,
        jurisdiction_code=jurisdiction.code, origin_jurisdiction_code=jurisdiction.code,
        title=values["title"], description=values.get("description", ""), location=values.get("location", ""),
        source=values.get("source"), project_id=values.get("project_id"), building_id=values.get("building_id"),
        enterprise_id=values.get("enterprise_id"), assignee_id=values.get("assignee_id"),
        hazard_item_code=values.get("hazard_item_code"), severity=values.get("severity"),
        created_by_id=actor.id, details=details, found_at=found_at, created_at=now, updated_at=now, version=1,
        rectification_rounds=0, reopen_count=0, event_seq=1,
    )
    if kind == "accident":
        from cases.ledger.accident import accident_grade

        if any(k in details for k in ("deaths", "serious_injuries", "direct_loss")):
            case.accident_grade = accident_grade(int(details.get("deaths") or 0),
                                                 int(details.get("serious_injuries") or 0),
                                                 float(details.get("direct_loss") or 0))
    for enterprise_id, role in related:
        case.related.append(CaseEnterprise(enterprise_id=enterprise_id, role=role))
    session.add(case)
    session.flush()
    event = CaseEvent(case_id=case.id, seq=1, at=now, actor_id=actor.id, action="create", from_state=None,
                      to_state=case.state, payload={"kind": kind, "values": values, "machine_version": definition.version,
                                                    "related_enterprises": [{"enterprise_id": e, "role": r} for e, r in related]},
                      comment=data.get("comment"))
    run_hooks(session, CREATION_HOOKS, case, event)
    return case


def _validate_related(session: Session, raw: Any, errors: list) -> list[tuple[int, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append({"field": "related_enterprises", "label": "相关单位", "message": "应为列表"})
        return []
    out = []
    for i, item in enumerate(raw):
        field = f"related_enterprises[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("enterprise_id"), int):
            errors.append({"field": field, "label": "相关单位", "message": "应包含企业编号 enterprise_id"})
            continue
        if abs(item["enterprise_id"]) > MAX_INT:
            errors.append({"field": field, "label": "相关单位", "message": "企业编号数值超出范围"})
            continue
        if item.get("role") not in RELATED_ROLES:
            errors.append({"field": field, "label": "相关单位",
                           "message": "角色应为 " + "、".join(f"{k}（{v}）" for k, v in RELATED_ROLES.items())})
            continue
        problem = lookup_problem(session, "enterprise", item["enterprise_id"])
        if problem:
            errors.append({"field": field, "label": "相关单位", "message": problem})
            continue
        out.append((item["enterprise_id"], item["role"]))
    return sorted(set(out))
