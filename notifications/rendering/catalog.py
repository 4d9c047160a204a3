"""Catalogue of the messages and official documents the system renders.

Every template type is described here once: its name (the key callers use), its Chinese title,
whether it is a *message* (short text + e-mail) and/or a *document* (printable HTML + PDF), and the
variables its templates use. ``tests/test_templates.py`` checks that this list matches what the
template files really reference, so ``docs/templates.md`` and the callers cannot drift from them.

Variables are defined once in ``notifications/rendering/template_variables.py`` (``_VARIABLES``) so that the same name means the same thing in every
template; a type picks the ones it needs and may mark some optional (with a default).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from notifications.rendering.template_variables import _VARIABLES, VARIABLES, Variable  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    title: str  # Chinese title, e.g. 隐患整改通知书
    description: str  # English, one line: when it is sent
    is_message: bool
    is_document: bool
    variables: tuple[Variable, ...]
    reply_form: str | None = None  # Chinese title of the attached reply form (回执), if any
    files: tuple[str, ...] = field(default=())
    # Documents: who it is addressed to (主送) and who gets a copy (抄送), as parties of the case
    # (see PARTIES); notifications.rendering.variables turns them into ``recipient`` and ``cc``.
    addressee: str | None = None
    cc_parties: tuple[str, ...] = ()

    @property
    def required(self) -> list[str]:
        return [v.name for v in self.variables if v.required]

    @property
    def optional(self) -> dict[str, Any]:
        return {v.name: v.default for v in self.variables if not v.required}

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


# The parties a document can be addressed or copied to (TemplateSpec.addressee / cc_parties).
PARTIES = {
    "responsible_unit": "the case's responsible unit (责任单位, case.enterprise_id); else the 施工单位",
    "contractor": "the project's 施工单位",
    "builder": "the project's 建设单位",
    "supervision_unit": "the project's 监理单位",
    "supervised_authority": "the authority the case is supervised in (督办责任单位: a listing's supervised "
                            "jurisdiction, else the case's jurisdiction)",
    "parent_authority": "the authority one level above the case's jurisdiction (reports up the chain)",
    "property_owner": "the building's owner or user (房屋所有人/使用人)",
}
# Parties a notice to an enterprise is copied to (the addressee itself is never copied).
_PROJECT_PARTIES = ("contractor", "builder", "supervision_unit")

# Template files per form, relative to notifications/templates/<name>/.
SHORT_FILE = "short.txt.j2"
SUBJECT_FILE = "subject.txt.j2"
EMAIL_FILE = "email.html.j2"
PRINT_FILE = "print.html.j2"


def _pick(*names: str, optional: dict[str, Any] | None = None) -> tuple[Variable, ...]:
    """Variables by name; ``optional`` turns some into optional ones with the given default."""
    out = []
    for n in names:
        var = _VARIABLES[n]
        if optional and n in optional:
            var = replace(var, required=False, default=optional[n])
        out.append(var)
    return tuple(out)


_CASE = ("case_number", "case_title", "case_url")
_DOC = ("issuing_authority", "doc_number", "issued_at", "recipient", "contact_name", "contact_phone", "cc")
_DOC = (*_DOC, "original_case_number")  # printed by the layout next to 案件编号 after a reclassification
_UNITS = ("contractor_name", "contractor_credit_code", "builder_name", "builder_credit_code",
          "supervision_unit_name", "supervision_unit_credit_code")
_DEADLINE = ("deadline_at", "due_date", "deadline_provisional")
_RESPONSIBLE = ("responsible_unit_name", "responsible_unit_credit_code")
# What a case is about, for letters and messages of every case kind: a project prints 工程名称, a
# building 房屋名称 and 房屋地址, a case with neither prints neither (never a wrong label).
_SITE = ("project_name", "building_name", "building_address")
_SITE_OPTIONAL = {"project_name": None, "building_name": None, "building_address": None}


def _spec(name: str, title: str, description: str, *, message: bool = True, document: bool,
          variables: tuple[Variable, ...], reply_form: str | None = None, addressee: str | None = None,
          cc: tuple[str, ...] = ()) -> TemplateSpec:
    assert addressee is None or addressee in PARTIES and set(cc) <= set(PARTIES), name
    files = [SHORT_FILE, SUBJECT_FILE, EMAIL_FILE] if message else []
    if document:
        files.append(PRINT_FILE)
    return TemplateSpec(name=name, title=title, description=description, is_message=message,
                        is_document=document, variables=variables, reply_form=reply_form,
                        files=tuple(files), addressee=addressee, cc_parties=tuple(cc))


CATALOG: dict[str, TemplateSpec] = {
    s.name: s
    for s in [
        _spec("reminder", "催办提醒",
              "Before a deadline (yellow light): reminds the person or unit in charge.",
              document=False,
              variables=_pick(*_CASE, *_SITE, "recipient_name", "task", *_DEADLINE,
                              "days_left", "light", "issuing_authority", "contact_name",
                              "contact_phone", optional=_SITE_OPTIONAL)),
        _spec("overdue_warning", "逾期预警",
              "A deadline has passed (red light): warns the unit in charge and names the next measure.",
              document=False,
              variables=_pick(*_CASE, *_SITE, "recipient_name", "task", "deadline_at",
                              "due_date", "overdue_days", "next_measure", "rung", "issuing_authority",
                              "contact_name", "contact_phone", optional={**_SITE_OPTIONAL, "rung": None})),
        _spec("rectification_notice", "隐患整改通知书",
              "Hazard registered: orders the units to rectify by a deadline (rung 0).",
              document=True, reply_form="隐患整改回复单", addressee="responsible_unit", cc=_PROJECT_PARTIES,
              variables=_pick(*_CASE, *_DOC, "project_name", "location", *_UNITS, *_RESPONSIBLE, "inspected_at",
                              "hazard_description", "legal_basis", "requirements", *_DEADLINE)),
        _spec("stop_work_order", "责令停工通知书",
              "Major hazard or grave danger: orders a full or partial stop; work resumes only after review.",
              document=True, reply_form="停工整改报告暨复工申请表", addressee="responsible_unit",
              cc=_PROJECT_PARTIES,
              variables=_pick(*_CASE, *_DOC, "project_name", "location", *_UNITS, *_RESPONSIBLE, "inspected_at",
                              "hazard_description", "hazard_catalog_item", "partial_stop",
                              "stop_scope", "stop_from", "legal_basis", "requirements", *_DEADLINE)),
        _spec("supervision_notice", "挂牌督办通知书",
              "A case is listed for supervision (挂牌督办) by a higher authority (rung 4).",
              document=True, reply_form="挂牌督办事项整改情况报告单", addressee="supervised_authority",
              cc=("responsible_unit", *_PROJECT_PARTIES),
              variables=_pick(*_CASE, *_DOC, *_SITE, "location", "contractor_name",
                              *_RESPONSIBLE, "builder_name", "hazard_description",
                              "hazard_catalog_item", "supervised_unit", "public_posting",
                              "legal_basis", "requirements", *_DEADLINE,
                              optional={**_SITE_OPTIONAL, "contractor_name": None, "builder_name": None,
                                        "responsible_unit_credit_code": None})),
        _spec("supervision_letter", "督办函",
              "Urges a lower authority or unit whose case is overdue (rung 3).",
              document=True, reply_form="督办事项办理情况回复单", addressee="supervised_authority",
              variables=_pick(*_CASE, *_DOC, *_SITE, "issue_summary", "original_due_date",
                              "overdue_days", "legal_basis", "requirements", *_DEADLINE,
                              "next_measure", optional=_SITE_OPTIONAL)),
        _spec("interview_notice", "约谈通知书",
              "Summons a unit's or authority's leaders to an interview (约谈, rung 1 or after overdue supervision).",
              document=True, reply_form="约谈参加人员回执", addressee="supervised_authority",
              variables=_pick(*_CASE, *_DOC, *_SITE, "interview_reason", "interview_at",
                              "interview_place", "attendees_required", "materials", "legal_basis",
                              optional=_SITE_OPTIONAL)),
        _spec("interview_record", "约谈记录",
              "An interview (约谈) was held: who attended, what was said, the commitments with their dates; "
              "to the interviewed units (cases/interviews).",
              document=True, addressee="supervised_authority",
              variables=_pick(*_CASE, *_DOC, *_SITE, "interview_reason", "interview_held_at", "interview_place",
                              "interview_hosts", "interview_minutes", "interview_notice_number", "attendees",
                              "commitments", optional=_SITE_OPTIONAL)),
        _spec("reinspection_opinion", "复查意见书",
              "Result of a re-inspection: accepted, or returned for rectification with a new deadline.",
              document=True, addressee="responsible_unit", cc=_PROJECT_PARTIES,
              variables=_pick(*_CASE, *_DOC, "project_name", "location", "contractor_name",
                              "hazard_description", "original_doc_number", "original_doc_title", "reinspected_at",
                              "inspectors", "findings", "reinspection_passed", "rectification_round",
                              "requirements", *_DEADLINE,
                              optional={"requirements": (), "deadline_at": None, "due_date": None,
                                        "deadline_provisional": None})),
        _spec("closure_confirmation", "隐患整改销号确认书",
              "The case is closed (销号) after verification; for listed cases, the listing body agreed.",
              document=True, addressee="responsible_unit", cc=_PROJECT_PARTIES,
              variables=_pick(*_CASE, *_DOC, "project_name", "location", "contractor_name",
                              "hazard_description", "original_doc_number", "original_doc_title",
                              "rectification_summary",
                              "verified_at", "closed_at", "listing_authority", "lookback_due_date")),
        _spec("accident_flash_report", "事故快报",
              "First report of an accident to the next authority up (1–2 hour clock).",
              document=True, addressee="parent_authority",
              variables=_pick(*_CASE, *_DOC, *_SITE, "location", *_UNITS, "occurred_at",
                              "accident_type", "accident_grade", "deaths", "serious_injuries",
                              "missing_persons", "direct_loss_yuan", "sequence", "cause_preliminary",
                              "measures_taken", "reported_at",
                              optional={**_SITE_OPTIONAL, **{u: None for u in _UNITS}})),
        _spec("occurrence_flash_report", "险情快报",
              "Report of a 重大险情 (no death or serious injury, a loss under the accident threshold) to the "
              "next authority up (2-hour clock).",
              document=True, addressee="parent_authority",
              variables=_pick(*_CASE, *_DOC, *_SITE, "location", *_UNITS, "occurred_at", "occurrence_type",
                              "endangered", "evacuated", "minor_injuries", "direct_loss_yuan", "sequence",
                              "measures_taken", "reported_at",
                              optional={**_SITE_OPTIONAL, **{u: None for u in _UNITS}})),
        _spec("dangerous_building_notice", "危险房屋通知书",
              "Tells the owner a building was appraised dangerous (grade C/D), the handling option and measures.",
              document=True, reply_form="危险房屋通知书送达回执", addressee="property_owner",
              variables=_pick(*_CASE, *_DOC, "building_name", "building_address", "property_owner",
                              "appraisal_grade", "appraisal_org", "appraisal_report_number",
                              "appraised_at", "handling_option", "hazard_description", "measures",
                              "legal_basis", *_DEADLINE)),
        _spec("warning_letter", "警示函",
              "First escalation rung after a missed deadline: warns the unit (rung 1).",
              document=True, addressee="responsible_unit", cc=_PROJECT_PARTIES,
              variables=_pick(*_CASE, *_DOC, *_SITE, *_RESPONSIBLE, "issue_summary", "legal_basis",
                              "requirements", *_DEADLINE, "next_measure",
                              optional={**_SITE_OPTIONAL, "responsible_unit_credit_code": None})),
        _spec("referral_letter", "移送函",
              "A case referred to another body (公安机关, 消防救援机构, the licence authority, 纪检监察机关): "
              "sent outside the system, so a document only (cases/referrals).",
              message=False, document=True, reply_form="移送材料接收回执",
              variables=_pick("case_number", "case_title", *_DOC, *_SITE, *_RESPONSIBLE, "location", "referral_target", "referral_subject",
                              "facts", "legal_basis", "referral_request", "referral_attachments",
                              "referral_reply_due_date",
                              optional={**_SITE_OPTIONAL, "responsible_unit_name": None,
                                        "responsible_unit_credit_code": None, "location": None})),
        _spec("public_criticism", "通报批评",
              "Public criticism of a unit or a lower authority (rung 3).",
              document=True, addressee="supervised_authority",
              variables=_pick(*_CASE, *_DOC, *_SITE, "criticized_unit",
                              "criticized_unit_credit_code", "facts", "legal_basis",
                              "requirements", "credit_deduction", *_DEADLINE, optional=_SITE_OPTIONAL)),
        _spec("escalation_transfer", "提级督办",
              "The case moves up to the parent jurisdiction's authority (rung 5).",
              document=False,
              variables=_pick(*_CASE, *_SITE, "recipient_name", "from_authority",
                              "to_authority", "rung_name", "reason", "escalated_at",
                              "contact_name", "contact_phone", optional=_SITE_OPTIONAL)),
        _spec("self_check_handover", "企业自查隐患逾期移交",
              "A self-found hazard left overdue becomes the regulator's case: to its officers and the unit "
              "(docs/self-inspection.md).",
              document=False,
              variables=(*_pick(*_CASE, *_SITE, "recipient_name", "responsible_unit_name", "original_due_date",
                                "handed_over_at", *_DEADLINE, "issuing_authority", optional=_SITE_OPTIONAL),
                         # the self-inspection number it had: always there on a handed-over case
                         replace(_VARIABLES["original_case_number"], required=True))),
        _spec("complaint_received", "群众举报待处理",
              "A public complaint or a 12345 referral became a case: tells the district's staff, with the reply's due date.",
              document=False,
              variables=(*_pick(*_CASE, "recipient_name", "complaint_channel", "complaint_content", "reply_due_date",
                                "location", optional={"location": None}),
                         _VARIABLES["referral_no"])),
        _spec("daily_digest", "每日督办汇总",
              "Daily list for supervisors of overdue (red) and near-due (yellow) cases.",
              document=False,
              variables=_pick("recipient_name", "jurisdiction_name", "digest_date", "total_open",
                              "cases", "dashboard_url")),
        _spec("campaign_round_reminder", "专项行动轮次到期提醒",
              "A campaign round falls due soon and the district is below the coverage target: reminds its staff.",
              document=False,
              variables=_pick("recipient_name", "campaign_name", "round_name", "due_date", "district_name",
                              "issuing_authority", "coverage_in_scope", "coverage_inspected", "coverage_pending",
                              "coverage_percent", "coverage_target", "reminder_text", "dashboard_url")),
        _spec("campaign_supervision_letter", "专项行动督办函",
              "A campaign round fell due with the district below target: the organiser's 督办函 to the district.",
              document=False,
              variables=_pick("recipient_name", "campaign_name", "round_name", "due_date", "district_name",
                              "issuing_authority", "doc_number", "issued_at", "coverage_in_scope",
                              "coverage_inspected", "coverage_pending", "coverage_percent", "coverage_target",
                              "letter_text", "dashboard_url")),
        _spec("repeat_offender_flag", "屡查屡犯提示",
              "An enterprise reached a repeat-offender pattern (patterns-v1.yaml): to the supervisors of the jurisdiction.",
              document=False,
              variables=_pick("recipient_name", "enterprise_name", "enterprise_credit_code", "pattern_label",
                              "legal_basis", "proposal", "window_text", "flagged_cases", "issuing_authority",
                              "dashboard_url")),
        _spec("credit_listing", "信用惩戒告知",
              "An enterprise was listed on, or lifted from, the 黑名单 or the 曝光 list (credit-vN.yaml thresholds): "
              "to its contacts, by the authority of its registration.",
              document=False,
              variables=_pick("recipient_name", "enterprise_name", "enterprise_credit_code", "list_label",
                              "listing_action", "credit_score", "listing_reason", "listing_period", "issuing_authority",
                              "dashboard_url")),
        _spec("credit_record", "不良行为记录告知",
              "A 不良行为记录 was made against an enterprise (credit-vN.yaml item): to its contacts, by the "
              "recording authority, with the points, the validity and the right to appeal.",
              document=False,
              variables=_pick("recipient_name", "enterprise_name", "enterprise_credit_code", "record_item",
                              "record_points", "listing_reason", "listing_period", "credit_score", "issuing_authority",
                              "dashboard_url")),
        _spec("system_alert", "系统告警",
              "To the province's administrators: a message failed (e.g. a template variable is missing) and needs fixing.",
              document=False,
              variables=_pick("recipient_name", "alert_title", "alert_detail", "raised_at", "failed_message_id",
                              "failed_template_title", "failed_channel", *_CASE,
                              optional={"case_number": None, "case_title": None, "case_url": None})),
    ]
}


def get_spec(name: str) -> TemplateSpec:
    """The spec of a template type; raises KeyError if unknown (render.py maps it to UnknownTemplate)."""
    return CATALOG[name]
