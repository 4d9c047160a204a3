"""Guards named by the machine data: a guard returns None when the action may go on, or the Chinese
reason it may not (shown to the user, 409)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


from cases.ledger.accident import accident_grade
from cases.platform.clock import to_local
from cases.platform.errors import ValidationFailed
from cases.models import Jurisdiction
from cases.ledger.rules import ActionContext, create_check, guard


# ---------------------------------------------------------------- guards


@guard
def verification_passed(ctx: ActionContext) -> str | None:
    last = ctx.details.get("last_verification") or {}
    if not last.get("passed"):
        return "尚无通过的复查（核查/验收）记录，不能销号"
    return None


@guard
def completion_reported(ctx: ActionContext) -> str | None:
    if not ctx.details.get("completion"):
        return "责任单位尚未报告整改完成（申请核查），不能核查"
    return None


@guard
def no_pending_review(ctx: ActionContext) -> str | None:
    if ctx.details.get("completion"):
        return "已提交核查申请，正在等待核查"
    return None


@guard
def completion_not_reported(ctx: ActionContext) -> str | None:
    """Once completion is reported, the officer's 复查期限 runs from that report: a second report
    would restart it (and give the officer more time). A failed re-inspection clears it."""
    done = ctx.details.get("completion")
    if done:
        try:
            d = to_local(datetime.fromisoformat(done["reported_at"])).date()
            when = f"已于{d.year}年{d.month}月{d.day}日"
        except (KeyError, TypeError, ValueError):
            when = "已"
        return f"{when}报告整改完成，正在等待复查，不能重复报告"
    return None


@guard
def no_pending_extension(ctx: ActionContext) -> str | None:
    req = ctx.details.get("extension_request")
    if req:
        return "已有待审批的延期申请"
    return None


@guard
def extension_pending(ctx: ActionContext) -> str | None:
    if not ctx.details.get("extension_request"):
        return "没有待审批的延期申请"
    return None


@guard
def is_construction_accident(ctx: ActionContext) -> str | None:
    if ctx.values is None:
        return None
    merged = {**ctx.details, **ctx.values}
    grade = accident_grade(int(merged.get("deaths") or 0), int(merged.get("serious_injuries") or 0),
                           float(merged.get("direct_loss") or 0))
    if grade is None:
        raise ValidationFailed([{
            "field": "direct_loss", "label": "直接经济损失（元）",
            "message": "无人员伤亡且直接经济损失不足100万元，不属于房屋市政工程生产安全事故，可按重大险情报告",
        }])
    return None


# ---------------------------------------------------------------- 重大险情 (dangerous_occurrence)
# The line between a 重大险情 and an accident is the accident threshold itself
# (cases.ledger.accident.accident_grade): one rule, read the same from both sides.

_ACCIDENT_FACTS = (("deaths", "死亡人数", "有人员死亡"), ("serious_injuries", "重伤人数", "有人员重伤"),
                   ("direct_loss", "直接经济损失（元）", "直接经济损失100万元以上"))


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def accident_fact_errors(values: dict[str, Any], then: str) -> list[dict[str, str]]:
    """The facts that make an event an accident, each named by its field, with what to do ``then``."""
    if accident_grade(int(_number(values.get("deaths"))), int(_number(values.get("serious_injuries"))),
                      _number(values.get("direct_loss"))) is None:
        return []
    out = []
    for name, label, fact in _ACCIDENT_FACTS:
        value = _number(values.get(name))
        if (name == "direct_loss" and accident_grade(0, 0, value)) or (name != "direct_loss" and value > 0):
            out.append({"field": name, "label": label,
                        "message": f"{fact}的属于房屋市政工程生产安全事故，不属于重大险情，{then}"})
    return out


@create_check
def below_accident_threshold_at_creation(values: dict[str, Any]) -> list[dict[str, str]]:
    return accident_fact_errors(values, "请按“生产安全事故”报告（新建生产安全事故）")


@guard
def below_accident_threshold(ctx: ActionContext) -> str | None:
    """核查: the facts found on site must still be a 重大险情's; an accident is reclassified instead."""
    if ctx.values is None:
        return None
    errors = accident_fact_errors({**ctx.details, **ctx.values}, "请使用“认定为生产安全事故”转为事故办理")
    if errors:
        raise ValidationFailed(errors)
    return None


@guard
def reaches_accident_threshold(ctx: ActionContext) -> str | None:
    """认定为生产安全事故: only on the facts of an accident (else it stays a 重大险情)."""
    if ctx.values is None:
        return None
    merged = {**ctx.details, **ctx.values}
    if accident_grade(int(_number(merged.get("deaths"))), int(_number(merged.get("serious_injuries"))),
                      _number(merged.get("direct_loss"))) is None:
        raise ValidationFailed([{
            "field": "deaths", "label": "死亡人数",
            "message": "无人员死亡、重伤且直接经济损失不足100万元，未达到生产安全事故标准，仍按重大险情办理",
        }])
    return None


@guard
def flash_report_not_sent(ctx: ActionContext) -> str | None:
    sent = ctx.details.get("flash_report")
    if sent:
        t = to_local(datetime.fromisoformat(sent["at"]))
        return f"已于{t.year}年{t.month}月{t.day}日 {t:%H:%M}上报险情快报（{sent.get('text') or '上一级主管部门'}），不能重复上报"
    return None


@guard
def within_regrade_window(ctx: ActionContext) -> str | None:
    occurred = ctx.details.get("occurred_at")
    if not occurred:
        return None
    days = int(ctx.definition.settings.get("regrade_window_days", 30))
    if ctx.now > datetime.fromisoformat(occurred) + timedelta(days=days):
        return f"事故发生已超过{days}日，伤亡人数不再补报、不再重新定级"
    return None


@guard
def investigation_not_extended(ctx: ActionContext) -> str | None:
    if ctx.details.get("investigation_extension"):
        return "调查期限已延长过一次，不能再次延长"
    return None


@guard
def investigation_report_submitted(ctx: ActionContext) -> str | None:
    if not ctx.details.get("investigation_report"):
        return "尚未提交调查报告"
    return None


@guard
def is_dangerous_grade(ctx: ActionContext) -> str | None:
    if ctx.values is None:
        return None
    if ctx.values.get("appraisal_grade") in ("A", "B"):
        raise ValidationFailed([{
            "field": "appraisal_grade", "label": "鉴定等级",
            "message": "A、B级不属于危险房屋，请使用“鉴定为非危房”结案并设置复鉴定",
        }])
    return None


@guard
def is_safe_grade(ctx: ActionContext) -> str | None:
    if ctx.values is None:
        return None
    if ctx.values.get("appraisal_grade") not in ("A", "B"):
        raise ValidationFailed([{
            "field": "appraisal_grade", "label": "鉴定等级",
            "message": "C、D级为危险房屋，应“鉴定登记”后治理",
        }])
    return None


@guard
def handling_fits_grade(ctx: ActionContext) -> str | None:
    if ctx.values is None:
        return None
    if ctx.values.get("appraisal_grade") == "D" and ctx.values.get("handling") not in ("stop_use", "demolish"):
        raise ValidationFailed([{
            "field": "handling", "label": "处理方式",
            "message": "D级（整幢危房）须停止使用或整体拆除",
        }])
    return None


@guard
def not_yet_evacuated(ctx: ActionContext) -> str | None:
    done = ctx.details.get("evacuation")
    if done:
        at = done.get("evacuated_at") or ""
        when = ""
        if at:
            from cases.platform.clock import to_local

            t = to_local(datetime.fromisoformat(at))
            when = f"（撤离完成时间{t.year}年{t.month}月{t.day}日 {t:%H:%M}）"
        return f"已登记停止使用、人员撤离{when}，不能重复登记"
    return None


@guard
def evacuated_if_grade_d(ctx: ActionContext) -> str | None:
    if ctx.current("appraisal_grade") == "D" and not ctx.details.get("evacuation"):
        return "D级危房须先登记“已停止使用、人员已撤离”，方可开始治理"
    return None


@guard
def supervision_lifted(ctx: ActionContext) -> str | None:
    """A listed case (挂牌督办 still active) is closed only after the listing body lifts it (摘牌)."""
    from cases.clocks.supervision import active_supervision  # no query when the transition's read saw none

    sup = active_supervision(ctx.session, ctx.case.id)
    if sup is None:
        return None
    listing = ctx.session.get(Jurisdiction, sup.listing_jurisdiction_code)
    name = listing.authority_name if listing is not None else "挂牌督办机关"
    return (f"本案件正由{name}挂牌督办（{sup.notice_no}），须经{name}核查摘牌后方可"
            f"{ctx.action.label}")


@guard
def has_rectification_photo(ctx: ActionContext) -> str | None:
    """A major hazard is verified and closed only on photographic proof of the rectification: at
    least one 整改后 photo (an image; a PDF does not count) of the current round (cases/evidence/)."""
    from cases.evidence.services import has_rectification_photo as photo_on_case

    if photo_on_case(ctx.session, ctx.case.id):
        return None
    return (f"尚未上传整改后照片，不能{ctx.action.label}：请先在“证据材料”中上传至少一张用途为“整改后”的现场照片"
            f"（核查不合格或重新打开后，须上传新一轮的整改后照片）")
