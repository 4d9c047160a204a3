"""The variables the message and document templates use, each defined once (name, type, meaning),
so the same name means the same thing in every template; ``notifications.rendering.catalog`` picks, per
template type, the ones it uses (re-exported there)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variable:
    """One template variable.

    ``type`` is informative (for docs and callers). ``item_fields`` lists the keys every element of
    a list-of-mappings variable must have; the renderer checks them before rendering.
    """

    name: str
    type: str
    description: str
    required: bool = True
    default: Any = None
    item_fields: tuple[tuple[str, str], ...] = ()


def _v(name: str, type_: str, description: str, **kw: Any) -> Variable:
    return Variable(name=name, type=type_, description=description, **kw)


_DIGEST_ITEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("case_number", "case number"),
    ("case_title", "case title"),
    ("kind", "case kind (a machine definition's kind: hazard, major_hazard, accident, dangerous_building, dangerous_occurrence …; the case_kind filter prints its short_label)"),
    ("light", "traffic light: red / yellow (green cases are not listed)"),
    ("due_date", "legal due date (date, Asia/Shanghai)"),
    ("days_left", "whole days to the due date; 0 = due today, negative = days overdue"),
    ("assignee_name", "officer or unit in charge"),
    ("case_url", "link to the case"),
)

_VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        # --- the case -------------------------------------------------------------------------
        _v("case_number", "str", "Case number, e.g. 320508-YH-2026-000123."),
        _v("case_title", "str", "Case title as on the ledger (user text)."),
        _v("case_url", "str", "Absolute link to the case page."),
        _v("original_case_number", "str | None", "原编号: the case's number before it was reclassified "
           "(e.g. 320508-YH-2026-000007 of a case now 320508-ZD-2026-000001); None if never.", required=False),
        _v("project_name", "str", "Project name (工程名称); in letters about any case kind optional "
           "(None: the case has no project, e.g. a dangerous building)."),
        _v("location", "str", "Where the problem is: part of the site or building (部位/地点)."),
        _v("hazard_description", "str", "Description of the hazard or danger (user text, escaped in HTML)."),
        _v("hazard_catalog_item", "str | None",
           "Major-hazard catalogue item the hazard matches (edition + item text); None if not classified.",
           required=False),
        # --- parties --------------------------------------------------------------------------
        _v("responsible_unit_name", "str",
           "责任单位: the unit the case holds responsible (case.enterprise_id; else the 施工单位)."),
        _v("responsible_unit_credit_code", "str", "责任单位 统一社会信用代码."),
        _v("contractor_name", "str", "施工单位 name (project party role 'contractor')."),
        _v("contractor_credit_code", "str", "施工单位 统一社会信用代码 (18 characters)."),
        _v("builder_name", "str", "建设单位 name (project party role 'builder')."),
        _v("builder_credit_code", "str", "建设单位 统一社会信用代码."),
        _v("supervision_unit_name", "str", "监理单位 name (project party role 'supervisor')."),
        _v("supervision_unit_credit_code", "str", "监理单位 统一社会信用代码."),
        # --- the issuing side -------------------------------------------------------------------
        _v("issuing_authority", "str", "Authority that issues or sends it, e.g. 苏州市姑苏区住房和城乡建设局."),
        _v("doc_number", "str", "Official document number (文号), e.g. 姑苏建质改〔2026〕37号."),
        _v("issued_at", "datetime (aware)",
           "Issue instant; its Shanghai date is the 成文日期 and it is the PDF creation date."),
        _v("recipient", "str", "主送: addressee unit(s) of the document, without the trailing colon."),
        _v("recipient_name", "str", "Person or unit the message is addressed to."),
        _v("contact_name", "str", "Officer to contact (联系人)."),
        _v("contact_phone", "str", "Contact phone number."),
        _v("cc", "list[str]", "抄送 units printed in the document footer; empty for none.",
           required=False, default=()),
        # --- legal basis, requirements, deadline ---------------------------------------------
        _v("legal_basis", "str", "Legal basis text, e.g. 《建设工程安全生产管理条例》第四十三条."),
        _v("requirements", "list[str]", "Requirements, one sentence each (numbered when rendered)."),
        _v("deadline_at", "datetime (aware)", "Deadline instant (UTC or any aware datetime)."),
        _v("due_date", "date", "Legal due date (Asia/Shanghai) of the deadline."),
        _v("deadline_provisional", "bool",
           "True when the deadline was computed without a known holiday calendar (printed as 暂定)."),
        _v("task", "str", "What must be done by the deadline, e.g. 完成隐患整改并报送整改回复单."),
        _v("days_left", "int", "Whole days left to the due date (0 = due today)."),
        _v("overdue_days", "int", "Whole days past the due date."),
        _v("light", "str", "Traffic light: green / yellow / red."),
        _v("next_measure", "str", "The next escalation measure if nothing happens, e.g. 约谈 or 挂牌督办."),
        _v("rung", "str | None", "Key of the ladder rung that sent the message (e.g. overdue, supervise): a "
           "督办提醒 (supervise) goes to the late person's superiors and asks them to see it done.",
           required=False),
        # --- inspections ----------------------------------------------------------------------
        _v("inspected_at", "datetime (aware)", "When the inspection that found the problem took place."),
        _v("original_doc_number", "str", "文号 of the rectification notice this document follows up."),
        _v("original_doc_title", "str", "That notice's title: 隐患整改通知书, or 责令停工通知书 when the case began "
           "with a stop-work order (a major hazard).", required=False, default="隐患整改通知书"),
        _v("reinspected_at", "datetime (aware)", "When the re-inspection (复查) took place."),
        _v("inspectors", "str", "Names of the officers who re-inspected."),
        _v("findings", "str", "What the re-inspection found (user text)."),
        _v("reinspection_passed", "bool", "True: rectification accepted; False: returned for rectification."),
        _v("rectification_round", "int", "Which re-inspection this is (1 for the first)."),
        _v("rectification_summary", "str", "What the unit did to rectify (user text)."),
        _v("verified_at", "datetime (aware)", "When the rectification was verified (复查验收)."),
        _v("closed_at", "datetime (aware)", "When the case was closed (销号)."),
        _v("lookback_due_date", "date | None", "Date of the planned 回头看 (look-back), if any.",
           required=False),
        # --- stop-work ------------------------------------------------------------------------
        _v("partial_stop", "bool", "True for 局部停工 (part of the site), False for a full stop."),
        _v("stop_scope", "str", "Scope of the stop, e.g. 3号楼基坑及周边5米范围内全部施工作业."),
        _v("stop_from", "datetime (aware)", "When the stop takes effect."),
        # --- listed supervision and escalation ------------------------------------------------
        _v("supervised_unit", "str", "督办责任单位: the authority that must follow the case up."),
        _v("public_posting", "bool", "Whether the listing is published to the public (向社会公开)."),
        _v("listing_authority", "str | None", "Authority that listed the case (挂牌督办单位); None if not listed.",
           required=False),
        _v("issue_summary", "str", "What went wrong, one paragraph (e.g. deadline passed, not rectified)."),
        _v("original_due_date", "date", "The due date that was missed."),
        _v("criticized_unit", "str", "Unit or authority criticised (被通报单位)."),
        _v("criticized_unit_credit_code", "str | None",
           "统一社会信用代码 of the criticised unit; None for an authority.", required=False),
        _v("facts", "str", "The facts the criticism rests on (user text)."),
        _v("credit_deduction", "str | None", "Credit measure text, e.g. 记不良行为记录一次，扣减信用分10分.",
           required=False),
        _v("from_authority", "str", "Authority that held the case before escalation."),
        _v("to_authority", "str", "Authority the case is escalated to (parent jurisdiction)."),
        _v("rung_name", "str", "Name of the escalation rung, e.g. 提级督办."),
        _v("reason", "str", "Why the case is escalated."),
        _v("escalated_at", "datetime (aware)", "When the escalation took effect."),
        _v("handed_over_at", "datetime (aware)",
           "When an overdue self-found hazard (企业自查隐患) was handed over to the regulator."),
        # --- public complaints (cases/complaints) -------------------------------------------------
        _v("complaint_channel", "str", "How the complaint arrived: 网上举报 or 12345热线转办."),
        _v("referral_no", "str", "The 12345 work-order number (工单号) of a referral.", required=False),
        _v("complaint_content", "str", "What the complainant reported (no personal data)."),
        _v("reply_due_date", "date", "The day the reply to the complainant falls due (答复期限)."),
        # --- referrals (cases/referrals) ----------------------------------------------------------
        _v("referral_target", "str", "Kind of body referred to: 公安机关 / 消防救援机构 / 安全生产许可证颁发管理机关 / 纪检监察机关."),
        _v("referral_subject", "str", "What is referred, e.g. 涉嫌危险作业罪案件线索 (printed in the title 关于移送…的函)."),
        _v("referral_request", "str", "What the receiving body is asked to do (请求事项)."),
        _v("referral_attachments", "list[str]", "The materials sent with the letter (附件), one per line.",
           required=False, default=()),
        _v("referral_reply_due_date", "date", "The day the receiving body's written reply is requested by (the reply clock's due date)."),
        # --- interview ------------------------------------------------------------------------
        _v("interview_reason", "str", "Why the unit is summoned (约谈事由)."),
        _v("interview_at", "datetime (aware)", "Start of the interview."),
        _v("interview_place", "str", "Where the interview takes place."),
        _v("attendees_required", "str", "Who must attend, e.g. 法定代表人、项目负责人."),
        _v("materials", "list[str]", "Materials the unit must bring."),
        # --- interview records (cases/interviews, docs/interviews.md) ------------------------------
        _v("interview_held_at", "datetime (aware)", "When the interview was held."),
        _v("interview_hosts", "str", "约谈人: who interviewed for the authority (names, as typed)."),
        _v("interview_minutes", "str", "What was said at the interview (约谈内容, user text)."),
        _v("interview_notice_number", "str | None", "文号 of the 约谈通知书 that summoned the unit; None for an "
           "interview opened without one.", required=False),
        _v("attendees", "list[mapping]", "Who attended, by unit; each item has the fields listed below.",
           item_fields=(("name", "name"), ("unit", "unit (company or authority)"), ("position", "position (职务)"))),
        _v("commitments", "list[mapping]", "Commitments made at the interview; each item has the fields listed below "
           "(may be empty).", item_fields=(("content", "what was promised"), ("unit", "the unit that promised it"),
                                           ("responsible_person", "who answers for it"),
                                           ("due_date", "legal due date of its clock (date, Beijing)"))),
        # --- accidents ------------------------------------------------------------------------
        _v("occurred_at", "datetime (aware)", "When the accident happened."),
        _v("accident_type", "str", "Accident type, e.g. 高处坠落, 坍塌, 物体打击."),
        _v("accident_grade", "str",
           "Preliminary grade: general / larger / major / especially_major (or 一般/较大/重大/特别重大); "
           "pending while no casualty or loss figure is known."),
        _v("deaths", "int", "Number of deaths."),
        _v("serious_injuries", "int", "Number of serious injuries."),
        _v("missing_persons", "int", "Number of missing persons."),
        _v("direct_loss_yuan", "int | Decimal", "Estimated direct economic loss in yuan (printed in 万元)."),
        _v("sequence", "str", "Brief sequence of events (事故简要经过, user text)."),
        _v("cause_preliminary", "str", "Preliminary cause (user text)."),
        _v("measures_taken", "str", "Measures already taken (user text)."),
        _v("reported_at", "datetime (aware)", "When this report is sent."),
        # --- 重大险情 (dangerous occurrences) ----------------------------------------------------
        _v("occurrence_type", "str", "Type of the dangerous occurrence, e.g. 脚手架险情, 深基坑险情."),
        _v("endangered", "int", "People endangered (受威胁人数)."),
        _v("evacuated", "int", "People evacuated (紧急撤离人数)."),
        _v("minor_injuries", "int", "Minor injuries (a death or serious injury would make it an accident)."),
        # --- dangerous buildings --------------------------------------------------------------
        _v("building_name", "str", "Building name, e.g. 平江路XX号3幢 (the case's building; optional in "
           "letters about any case kind: None when the case has no building)."),
        _v("building_address", "str", "Building address (房屋地址)."),
        _v("property_owner", "str", "Owner or user of the building (房屋所有人/使用人)."),
        _v("appraisal_grade", "str", "Appraisal grade A / B / C / D (JGJ 125-2016)."),
        _v("appraisal_org", "str", "Appraisal organisation (鉴定机构)."),
        _v("appraisal_report_number", "str", "Appraisal report number."),
        _v("appraised_at", "date", "Date of the appraisal report."),
        _v("handling_option", "str",
           "observe / treat / stop_use / demolish (or 观察使用/处理使用/停止使用/整体拆除)."),
        _v("measures", "list[str]", "Safety measures the owner must take."),
        # --- digest ---------------------------------------------------------------------------
        _v("jurisdiction_name", "str", "Jurisdiction the digest covers, e.g. 姑苏区."),
        _v("digest_date", "date", "Date of the digest."),
        _v("total_open", "int", "Number of open cases in the jurisdiction."),
        _v("dashboard_url", "str", "Link to the dashboard."),
        _v("cases", "list[mapping]", "Red and yellow cases; each item has the fields listed below.",
           item_fields=_DIGEST_ITEM_FIELDS),
        # --- campaign rounds (cases/campaigns/clock.py) ---------------------------------------------
        _v("campaign_name", "str", "Name of the 专项整治 campaign, e.g. 房屋市政工程安全生产治本攻坚三年行动2轮全覆盖精准排查."),
        _v("round_name", "str", "Name of the campaign round, e.g. 第一轮."),
        _v("district_name", "str", "Authority of the district behind the round (the addressee), e.g. 苏州市吴中区住房和城乡建设局."),
        _v("coverage_in_scope", "int", "Projects in the campaign's scope in the district."),
        _v("coverage_inspected", "int", "Of them, projects inspected in this round."),
        _v("coverage_pending", "int", "Of them, projects not yet inspected in this round."),
        _v("coverage_percent", "str", "Coverage as printed, e.g. 50% (— when nothing is in scope)."),
        _v("coverage_target", "int", "The campaign's coverage target in percent."),
        _v("reminder_text", "str", "The reminder as the district reads it (one paragraph, composed by the round clock)."),
        _v("letter_text", "str", "The 督办函 as issued: number, addressee, facts, requirement, issuer, date (one line each)."),
        # --- repeat-offender flags (cases/patterns/detect.py) ----------------------------------------
        _v("enterprise_name", "str", "The enterprise flagged (企业名称)."),
        _v("enterprise_credit_code", "str", "Its 统一社会信用代码."),
        _v("pattern_label", "str", "The pattern reached, e.g. 重大事故隐患屡查屡犯 (policy data)."),
        _v("proposal", "str", "The proposed handling (处理建议, policy data)."),
        _v("window_text", "str", "The count as read, e.g. 180日内3次（达到180日内3次）."),
        _v("flagged_cases", "list[mapping]", "The cases behind the flag, in order.",
           item_fields=(("case_number", "case number"), ("case_title", "case title"),
                        ("event_date", "the event's date as printed, e.g. 2026年11月30日"))),
        # --- credit listings (cases/credit/services.py: 黑名单 / 曝光, listed and lifted) -----------------
        _v("list_label", "str", "The list as named, 黑名单 or 曝光名单."),
        _v("listing_action", "str", "What happened: 列入 or 移出."),
        _v("credit_score", "int", "The enterprise's credit score at that moment (derived from its records)."),
        _v("listing_reason", "str", "Why: the threshold reached and the records in force, or why it was lifted."),
        _v("record_item", "str", "A 不良行为记录's item as printed: code and label, e.g. XY-03 未按期完成隐患整改."),
        _v("record_points", "int", "The points the record deducts."),
        _v("listing_period", "str", "The listing's period as printed, e.g. 2026年12月1日至2027年5月30日."),
        # --- system alerts (to administrators) ---------------------------------------------------
        _v("alert_title", "str", "What happened, one line, e.g. 消息模板渲染失败，消息未发送."),
        _v("alert_detail", "str", "The recorded error or detail (e.g. which template variable is missing)."),
        _v("raised_at", "datetime (aware)", "When the problem was detected."),
        _v("failed_message_id", "int | None", "Id of the outbox message concerned; None if not about one message.",
           required=False),
        _v("failed_template_title", "str | None", "Chinese title of that message's template, e.g. 隐患整改通知书.",
           required=False),
        _v("failed_channel", "str | None", "Channel of that message in Chinese, e.g. 电子邮件.", required=False),
    ]
}

# Public, read-only view of every variable definition (name → Variable), e.g. for callers that
# coerce stored JSON to the declared types.
VARIABLES: dict[str, Variable] = _VARIABLES
