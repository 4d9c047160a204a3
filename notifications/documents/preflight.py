"""Checked when an action is taken: the facts of the case a document it would issue cannot be
filled with, as field errors (422 naming the field), before anything is written.

``check_document`` is installed as ``cases.issuance.documents.preflight`` when this module is imported
(notifications/documents/store.py imports it, so every process that renders documents has it).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

import cases.issuance.documents as _cases_documents
from cases.models import Case, Document
from notifications.rendering.catalog import CATALOG
from notifications.rendering.render import RenderError, TemplateVariableMissing

# What a user supplies for a document variable that can be missing: (field, Chinese label, what to
# do). A variable not listed is named by the document and the variable.
FACT_FIELDS: dict[str, tuple[str, str, str]] = {
    "location": ("location", "地点", "案件未填写地点，所属工程项目或房屋也未登记地址"),
    "project_name": ("project_id", "工程项目", "案件未关联工程项目"),
    "hazard_description": ("description", "情况描述", "案件未填写情况描述"),
    "recipient": ("enterprise_id", "责任单位", "无法确定文书的主送单位"),
    "responsible_unit_name": ("enterprise_id", "责任单位", "案件未明确责任单位，工程项目也未登记施工单位"),
    "responsible_unit_credit_code": ("enterprise_id", "责任单位", "责任单位未登记统一社会信用代码"),
    "contact_name": ("assignee_id", "承办人", "案件未指定承办人"),
    "contact_phone": ("assignee_id", "承办人联系电话", "承办人未登记联系电话，请先在用户资料中补充"),
    "building_name": ("building_id", "房屋", "案件未关联房屋"),
    "building_address": ("building_id", "房屋地址", "房屋未登记地址"),
    "property_owner": ("building_id", "房屋所有人", "房屋未登记所有人或使用人"),
    "inspected_at": ("found_at", "发现时间", "案件未记录发现时间"),
}


def check_document(session: Session, case: Case, doc_type: str, contact: dict[str, Any]) -> list[dict[str, str]]:
    """The facts of the case a document of ``doc_type`` cannot be filled with, as field errors
    (empty: it can be issued). Installed as ``cases.issuance.documents.preflight`` and run in the action's
    transaction, before the state changes: an action whose document its data cannot fill is refused
    (422 naming the field) instead of leaving a notice that never renders.

    Only the facts that can be missing are checked (``FACT_FIELDS``: the database's, which a user
    supplies); the rest of the document — its 文号, the snapshot of the action, its recipients — is
    derived after commit (cases/issuance/derive.py) from what the code computes, and is not rendered here."""
    from notifications.documents.store import document_variables

    title = CATALOG[doc_type].title if doc_type in CATALOG else doc_type
    # The issuer and its parent from the process's reference cache (jurisdictions never change): no
    # query on a transition. Both stay referenced until the end, so the facts read below find them in
    # the session (its identity map keeps objects only while referenced).
    from cases.reads.jurisdiction_cache import jurisdiction_rows

    held = jurisdiction_rows(session, [case.jurisdiction_code])
    issuer = held.get(case.jurisdiction_code)
    parent = jurisdiction_rows(session, [issuer.parent_code] if issuer is not None else [])  # noqa: F841  (kept)
    # A transient document (never added): the facts are read as the render will read them.
    doc = Document(case_id=case.id, doc_type=doc_type, number="", issuing_jurisdiction_code=case.jurisdiction_code,
                   variables=dict(contact), issued_at=None)
    try:
        variables = document_variables(session, doc)
    except TemplateVariableMissing as exc:
        missing = [exc.variable]
    except RenderError as exc:
        return [{"field": "document", "label": title, "message": f"《{title}》无法生成：{exc}"}]
    else:
        required = CATALOG[doc_type].required if doc_type in CATALOG else []
        missing = [v for v in required if v in FACT_FIELDS and variables.get(v) is None]
    errors = []
    for name in missing:
        field, label, why = FACT_FIELDS.get(name, (name, f"《{title}》的{name}", "缺少该项内容"))
        if not any(e["field"] == field and e["label"] == label for e in errors):
            errors.append({"field": field, "label": label, "message": f"签发《{title}》需要此项：{why}"})
    return errors


_cases_documents.preflight = check_document
