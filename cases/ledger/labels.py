"""Chinese labels of the API's own parameters and body fields, and of their allowed options.

Error messages name a field by its label, never by its API name ("页码：不能小于1", not
"page：数值过小"). Fields of actions and of case creation take their label from the machine's field
specs (``FieldSpec.label``); everything else — path, query and the bodies of the reference,
supervision, calendar and notification endpoints — takes it from this one table.
"""
from __future__ import annotations

import re
from typing import Any

from cases.evidence import PURPOSES as EVIDENCE_PURPOSES

FIELD_LABELS: dict[str, str] = {
    # paths
    "case_id": "案件编号", "doc_id": "文书编号", "supervision_id": "督办事项编号", "enterprise_id": "企业编号",
    "message_id": "消息编号", "action": "操作", "role": "角色", "name": "名称",
    "submission_id": "报表编号", "period_kind": "报告周期", "period": "报告期", "cutoff": "统计截止时点",  # 定期报表 (cases/reports/)
    # list and search parameters
    "page": "页码", "page_size": "每页条数", "kind": "案件类型", "state": "状态", "light": "红黄绿灯",
    "q": "搜索关键词", "sort": "排序", "jurisdiction": "辖区", "assignee": "承办人",
    "accident_grade": "事故等级", "appraisal_grade": "鉴定等级", "open_only": "仅看未结案件",
    "unread_only": "仅看未读",
    "found_from": "发现日期（起）", "found_to": "发现日期（止）", "due_from": "整改期限（起）", "due_to": "整改期限（止）",
    "closed_from": "结案日期（起）", "closed_to": "结案日期（止）",
    "jurisdiction_only": "仅本级（不含下级）", "moved_up": "已提级至上级",
    "red_by": "将变红（截至日期）", "measure_by": "将升级（截至日期）", "measure_rung": "升级措施", "days": "预警天数（工作日）", "rectification_due_from": "整改期限到期日（起）",
    "rectification_due_to": "整改期限到期日（止）", "rectified_on_time": "是否按期整改", "overdue_month": "逾期月份",
    "status": "状态", "edition": "标准版本", "version": "版本号",
    # campaigns (cases/campaigns/services.py LABELS)
    "campaign_id": "专项行动", "round": "轮次", "district": "区县", "starts_on": "开始日期", "ends_on": "结束日期",
    "rounds": "轮次", "due_on": "完成时限", "scope_codes": "整治范围", "project_kinds": "工程类别",
    "coverage_target": "覆盖率目标（%）", "round_no": "轮次序号",
    # calendar
    "amount": "期限数值", "unit": "期限单位", "start": "起算时间", "notice": "放假安排",
    # case creation and actions (their own fields are labelled by the machine's field specs)
    "title": "标题", "description": "情况描述", "location": "地点", "jurisdiction_code": "所属辖区",
    "found_at": "发现时间", "source": "来源", "project_id": "工程项目", "building_id": "房屋",
    "assignee_id": "承办人", "comment": "备注", "fields": "字段", "related_enterprises": "相关单位",
    # supervision
    "days": "延期天数", "reason": "理由", "approved": "是否批准", "opinion": "意见", "granted_days": "批准延期天数",
    # credit records (cases/credit/)
    "outcome": "处理结果", "points": "更正后分值", "facts": "事实经过", "cause": "记录事由", "list": "名单", "active": "仅当前在列",
    # reference data
    "credit_code": "统一社会信用代码", "legal_representative": "法定代表人", "contact_name": "联系人",
    "contact_phone": "联系电话", "qualification": "资质", "code": "项目编码", "address": "地址",
    "parties": "参建单位", "structure": "结构类型", "year_built": "建成年份", "floors": "层数", "use": "用途",
    "owner_name": "产权人", "owner_phone": "产权人电话", "username": "用户名", "display_name": "姓名",
    "password": "密码", "old_password": "原密码", "since": "起始时间", "until": "截止时间", "new_password": "新密码", "supervisor_id": "上级", "email": "电子邮箱", "phone": "电话",
    # notifications
    "preferences": "通知偏好", "template": "消息模板", "channels": "通知渠道", "quiet_hours": "夜间免打扰",
    "enabled": "是否启用", "settings": "渠道配置",
    # evidence
    "evidence_id": "证据编号", "file": "文件", "purpose": "用途", "event_id": "所属操作", "note": "说明",
    # inspections (cases/inspections)
    "inspection_id": "检查记录编号", "item_id": "检查项编号", "checklist_id": "检查表", "inspected_on": "检查日期",
    "inspection_type": "检查类型", "unannounced": "四不两直", "inspector_ids": "检查人员", "items": "检查项",
    "item_code": "检查项代码", "result": "检查结果", "campaign_id": "专项行动", "round_no": "轮次",
    "analog_task_id": "类比排查任务", "place": "检查地点", "summary": "检查情况", "handling": "处理意见",
    "findings": "是否发现问题", "date_from": "检查日期（起）", "date_to": "检查日期（止）",
    "hazard_item_code": "重大事故隐患判定条目", "category": "隐患类别", "all_versions": "全部版本", "applies_to": "适用对象",
    "thumb": "缩略图",
    # 约谈 records (cases/interviews/); place, reason, content, note, name, unit keep their shared labels
    "scheduled_at": "约谈时间", "held_at": "约谈召开时间", "hosts": "约谈人", "minutes": "约谈内容", "attendees": "参加人员", "commitments": "承诺事项", "responsible_person": "责任人", "within": "期限天数", "measure": "约谈类型", "notice_document_id": "约谈通知书", "summon_enterprise": "约谈责任单位", "summon_authority": "约谈住建部门", "position": "职务", "due_date": "完成日期", "unit_id": "责任单位", "party": "责任单位类别",
    # complaints (cases/complaints/)
    "complaint_id": "举报编号", "referral_no": "12345工单号", "submitted_at": "举报时间", "content": "举报内容",
    "named_unit": "涉及项目或单位", "reply": "答复内容", "into_case_id": "并入案件", "lookup_code": "查询码",
    "channel": "举报渠道",
    # 类比排查 (cases/analogs/)
    "task_id": "类比排查任务编号", "source_case_id": "来源案件", "with_findings": "是否发现问题",
    "analog_task_id": "类比排查任务",
    # the body as a whole
    "body": "请求体",
}

# Allowed options of the API's own enumerations, by field path (indices dropped): value → label.
_UNIT_LABELS = {"hour": "小时", "calendar_day": "自然日", "working_day": "工作日"}
_LIGHT_LABELS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "none": "无期限"}
_PARTY_ROLES = {"builder": "建设单位", "contractor": "施工单位", "supervisor": "监理单位"}
_USER_ROLES = {"officer": "监管人员", "supervisor": "督办/审批人员", "admin": "系统管理员", "enterprise": "企业联系人"}
SORT_LABELS = {"created_at": "登记时间", "updated_at": "更新时间", "found_at": "发现时间", "number": "案件编号",
               "state": "状态", "kind": "案件类型", "title": "标题"}


def _kind_labels() -> dict[str, str]:
    from cases.ledger.engine import get_registry

    r = get_registry()
    return {k: r.latest(k).label for k in r.kinds()}


def _state_labels() -> dict[str, str]:
    from cases.ledger.engine import get_registry

    out: dict[str, list[str]] = {}
    r = get_registry()
    for kind in r.kinds():  # a state's label may differ by kind (found: 已发现 / 已快报)
        for s in r.latest(kind).states:
            labels = out.setdefault(s.name, [])
            if s.label not in labels:
                labels.append(s.label)
    return {name: "/".join(labels) for name, labels in out.items()}


OPTION_LABELS: dict[str, Any] = {
    "kind": _kind_labels, "state": _state_labels, "unit": _UNIT_LABELS, "light": _LIGHT_LABELS,
    "role": _USER_ROLES, "parties.role": _PARTY_ROLES, "related_enterprises.role": _PARTY_ROLES,
    "sort": SORT_LABELS, "purpose": EVIDENCE_PURPOSES,
    "project_kinds": {"building": "房屋建筑工程", "municipal": "市政基础设施工程"},  # cases/campaigns PROJECT_KINDS
}

_TOKEN = re.compile(r"[^.\[\]]+")


def _tokens(path: str | list | tuple) -> list[str | int]:
    raw = [str(p) for p in path] if isinstance(path, (list, tuple)) else _TOKEN.findall(str(path))
    return [int(t) if t.isdigit() else t for t in raw]


def field_label(path: str | list | tuple) -> str | None:
    """Chinese label of a field path: ``page`` → 页码, ``parties.0.role`` → 参建单位第1项的角色."""
    out = ""
    for tok in _tokens(path):
        if isinstance(tok, int):
            if not out:
                return None
            out += f"第{tok + 1}项"
            continue
        label = FIELD_LABELS.get(tok)
        if label is None:
            return None
        out += ("的" if out else "") + label
    return out or None


def options_of(path: str | list | tuple) -> dict[str, str] | None:
    """Allowed options (value → label) of an enumerated field, if it is one of the API's own."""
    names = [t for t in _tokens(path) if isinstance(t, str)]
    for key in (".".join(names[-2:]), names[-1] if names else ""):
        found = OPTION_LABELS.get(key)
        if found is not None:
            return found() if callable(found) else found
    return None


def describe_options(options: dict[str, str]) -> str:
    """可选：hazard（一般隐患）、major_hazard（重大事故隐患）…"""
    return "可选：" + "、".join(f"{k}（{v}）" for k, v in options.items())


# ---------------------------------------------------------------- events

# Events that are not machine actions (cases.ledger.services.record_system_event and creation):
# what the case's history calls them. A machine action is named by its own label (the definition).
SYSTEM_EVENT_LABELS: dict[str, str] = {
    "create": "新建案件", "listed": "挂牌督办", "supervision_extension_requested": "申请督办延期",
    "supervision_extension_decided": "审批督办延期", "supervision_lifted": "摘牌",
    "rung_fired": "期限提醒与升级", "rung_skipped": "升级措施未执行", "escalated": "提级办理",
    "handed_over": "逾期移交监管部门",
    "deadline_recomputed": "期限重新计算", "document_failed": "文书生成失败", "document_rerender": "文书重新生成",
    # cases/complaints/ (投诉举报)
    "receive_complaint": "受理群众举报", "reply_complainant": "答复举报人", "merge_complaint": "合并重复举报",
    "complaint_merged_in": "并入重复举报",
    # cases/interviews/ (约谈)
    "interview_opened": "约谈", "interview_held": "约谈召开", "commitments_added": "约谈承诺事项", "commitment_missed": "约谈承诺事项逾期未落实", "commitment_met": "约谈承诺事项已落实",
}


def event_label(action: str, definition=None) -> str:
    """The Chinese name of an event's action: the machine's label (``definition`` first, then any
    kind's — a reclassified case's early events are its old kind's), else the system events' table."""
    if definition is not None and (spec := definition.action(action)) is not None:
        return spec.label
    if action in SYSTEM_EVENT_LABELS:
        return SYSTEM_EVENT_LABELS[action]
    from cases.ledger.engine import get_registry

    r = get_registry()
    for kind in r.kinds():
        for version in reversed(r.versions(kind)):
            if (spec := r.get(kind, version).action(action)) is not None:
                return spec.label
    return action
