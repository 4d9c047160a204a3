"""Guards and effects referenced by name from the state-machine data.

A guard returns None when the action may proceed and a Chinese sentence when it may not
(→ 409), or raises ValidationFailed when the submitted values are the problem (→ 422).
Guards that need the submitted values return None while listing allowed actions
(``ctx.values is None``): the form will ask for them.

An effect changes the pending update held by the context (case columns, details, event
payload) or adds rows to the same session; all of it commits with the transition or not at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger.accident import GRADE_LABELS, accident_grade
from cases.ledger.identifiers import LEVEL_RANK
from cases.models import Case, Enterprise, Jurisdiction, User

if TYPE_CHECKING:
    from state_machines.loader import ActionSpec, MachineDefinition


@dataclass
class ActionContext:
    """Everything one action sees; ``state`` is what transitions reads and writes."""

    session: Session
    case: Case
    definition: "MachineDefinition"
    action: "ActionSpec"
    actor: User | None
    now: datetime
    values: dict[str, Any] | None  # None while listing allowed actions
    comment: str | None = None
    state: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    event_payload: dict[str, Any] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    # Set by an effect that moves the case to another machine (hazard → major hazard).
    new_definition: "MachineDefinition | None" = None

    def __post_init__(self) -> None:
        self.state = self.case.state
        self.details = dict(self.case.details or {})

    def current(self, name: str) -> Any:
        """A case column as it will be after this action."""
        return self.changes.get(name, getattr(self.case, name))

    @property
    def actor_ref(self) -> dict[str, Any] | None:
        if self.actor is None:
            return None
        return {"id": self.actor.id, "name": self.actor.display_name}


GUARDS: dict[str, Callable[[ActionContext], str | None]] = {}
EFFECTS: dict[str, Callable[..., None]] = {}
# Checks on a new case's values, named by a definition's ``creation.checks``: fn(values) → the
# errors ({field, label, message}) that refuse the creation with 422, or an empty list.
CREATE_CHECKS: dict[str, Callable[[dict[str, Any]], list[dict[str, str]]]] = {}


def guard(fn):
    GUARDS[fn.__name__] = fn
    return fn


def effect(fn):
    EFFECTS[fn.__name__] = fn
    return fn


def create_check(fn):
    CREATE_CHECKS[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------- effects


@effect
def assign_actor_if_unassigned(ctx: ActionContext) -> None:
    if ctx.current("assignee_id") is None and ctx.actor is not None and ctx.actor.role in ("officer", "supervisor"):
        ctx.changes["assignee_id"] = ctx.actor.id


@effect
def record_verification(ctx: ActionContext, passed: bool) -> None:
    record = {
        "passed": passed, "at": ctx.now.isoformat(), "by": ctx.actor_ref,
        "opinion": (ctx.values or {}).get("opinion"),
    }
    ctx.details["last_verification"] = record
    # A new completion report is needed after a failed check.
    ctx.details.pop("completion", None)
    if not passed:
        # 退回补充调查: likewise a (supplementary) investigation report before approval;
        # the returned one stays on its submit_report event.
        ctx.details.pop("investigation_report", None)
    if passed and (ctx.values or {}).get("new_grade"):
        ctx.changes["appraisal_grade"] = ctx.values["new_grade"]


@effect
def increment_rectification_rounds(ctx: ActionContext) -> None:
    ctx.changes["rectification_rounds"] = ctx.case.rectification_rounds + 1
    ctx.event_payload["rectification_round"] = ctx.changes["rectification_rounds"]


@effect
def mark_closed(ctx: ActionContext) -> None:
    ctx.changes["closed_at"] = ctx.now


@effect
def reopen(ctx: ActionContext) -> None:
    ctx.changes["reopen_count"] = ctx.case.reopen_count + 1
    ctx.changes["closed_at"] = None
    ctx.details.pop("last_verification", None)
    ctx.details.pop("completion", None)
    # A request nobody decided before the case was closed is moot; the new round may ask afresh.
    ctx.details.pop("extension_request", None)


@effect
def record_completion_report(ctx: ActionContext) -> None:
    ctx.details["completion"] = {
        "reported_at": ctx.now.isoformat(), "by": ctx.actor_ref,
        "report": (ctx.values or {}).get("completion_report"),
    }
    ctx.details.pop("completion_report", None)


@effect
def record_report(ctx: ActionContext, key: str, field: str) -> None:
    """A report made on the case (险情快报 to the level above, the written report): who, when and
    what, kept in ``details[key]``; its clock is met by the action (policy ``met_on``)."""
    ctx.details[key] = {"at": ctx.now.isoformat(), "by": ctx.actor_ref, "text": (ctx.values or {}).get(field)}
    if key != field:
        ctx.details.pop(field, None)


@effect
def record_extension_request(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["extension_request"] = {
        "days": v.get("extension_days"), "reason": v.get("reason"),
        "requested_at": ctx.now.isoformat(), "by": ctx.actor_ref,
    }
    for k in ("extension_days", "reason"):
        ctx.details.pop(k, None)


@effect
def record_extension_decision(ctx: ActionContext) -> None:
    v = ctx.values or {}
    request = ctx.details.pop("extension_request", None) or {}
    approved = bool(v.get("approved"))
    days = int(v.get("approved_days") or request.get("days") or 0) if approved else 0
    decision = {**request, "approved": approved, "approved_days": days,
                "decided_at": ctx.now.isoformat(), "decided_by": ctx.actor_ref, "opinion": v.get("opinion")}
    ctx.details.setdefault("extensions", [])
    ctx.details["extensions"] = [*ctx.details["extensions"], decision]
    ctx.event_payload["extension"] = decision
    for k in ("approved", "approved_days", "opinion"):
        ctx.details.pop(k, None)


@effect
def record_evacuation(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["evacuation"] = {
        "use_stopped": True, "evacuated_count": v.get("evacuated_count"),
        "evacuated_at": v.get("evacuated_at"), "recorded_by": ctx.actor_ref,
    }
    for k in ("use_stopped", "evacuated_count", "evacuated_at"):
        ctx.details.pop(k, None)


@effect
def record_safe_verdict(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["safe_verdict"] = {"grade": v.get("appraisal_grade"), "valid_until": v.get("valid_until")}
    # "closing requires a passed verification": a safe appraisal is that verification.
    ctx.details["last_verification"] = {"passed": True, "at": ctx.now.isoformat(), "by": ctx.actor_ref,
                                        "opinion": "鉴定为非危险房屋"}


@effect
def record_investigation_report(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["investigation_report"] = {
        "summary": v.get("report_summary"), "penalties": v.get("penalties"),
        "submitted_at": ctx.now.isoformat(), "by": ctx.actor_ref,
    }
    for k in ("report_summary", "penalties"):
        ctx.details.pop(k, None)


@effect
def record_investigation_extension(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["investigation_extension"] = {"days": v.get("extension_days"), "reason": v.get("reason"),
                                              "at": ctx.now.isoformat()}
    for k in ("extension_days", "reason"):
        ctx.details.pop(k, None)


def _ancestor_at_level(session: Session, code: str, level: str) -> Jurisdiction | None:
    j = session.get(Jurisdiction, code)
    while j is not None and LEVEL_RANK.get(j.level, 9) > LEVEL_RANK[level]:
        j = session.get(Jurisdiction, j.parent_code) if j.parent_code else None
    return j


@effect
def grade_accident(ctx: ActionContext) -> None:
    d = ctx.details
    grade = accident_grade(int(d.get("deaths") or 0), int(d.get("serious_injuries") or 0),
                           float(d.get("direct_loss") or 0))
    previous = ctx.case.accident_grade
    ctx.changes["accident_grade"] = grade
    if grade != previous:
        ctx.event_payload["grade"] = {"from": previous, "to": grade,
                                      "label": GRADE_LABELS.get(grade or "", "未达事故等级")}
    # The investigating authority follows the grade (493 Art. 19); a higher grade moves the case up.
    # Checked on every grading, not only when the grade rises: an accident already graded 较大 at
    # the flash report must still go to the city when it is registered (never moves down).
    if grade:
        level = ctx.definition.settings.get("investigating_level", {}).get(grade)
        current = ctx.session.get(Jurisdiction, ctx.current("jurisdiction_code"))
        if level and current is not None and LEVEL_RANK.get(current.level, 9) > LEVEL_RANK[level]:
            target = _ancestor_at_level(ctx.session, current.code, level)
            if target is not None and target.code != current.code:
                ctx.changes["jurisdiction_code"] = target.code
                ctx.event_payload["escalated"] = {"from": current.code, "to": target.code,
                                                  "reason": f"{GRADE_LABELS[grade]}由{target.name}负责调查"}
                # The county officer may no longer act on it: the case waits for the new authority to
                # assign one of its own (its reminders meanwhile go to that authority's supervisors).
                assignee_id = ctx.changes.get("assignee_id", ctx.current("assignee_id"))
                assignee = ctx.session.get(User, assignee_id) if assignee_id else None
                home = ctx.session.get(Jurisdiction, assignee.jurisdiction_code) if assignee is not None else None
                if home is not None and not target.path.startswith(home.path):  # not of the target or above it
                    ctx.changes["assignee_id"] = None
                    ctx.event_payload["escalated"]["unassigned"] = assignee.id


@effect
def deduct_credit(ctx: ActionContext) -> None:
    """A 不良行为记录 for the responsible unit (cases/credit/: the versioned deduction table, once
    per case; the score is derived from the records)."""
    from cases.credit.causes import record_major_hazard

    enterprise_id = ctx.current("enterprise_id")
    if not enterprise_id:
        return
    recorded = record_major_hazard(ctx.session, ctx.case, enterprise_id, ctx.current("jurisdiction_code"), ctx.now,
                                   actor=ctx.actor)
    if recorded:
        ctx.event_payload["credit_deduction"] = {"enterprise_id": enterprise_id, "points": recorded["points"]}


@effect
def reclassify(ctx: ActionContext, to_kind: str) -> None:
    from cases.ledger.engine import get_registry

    target = get_registry().latest(to_kind)
    ctx.new_definition = target
    ctx.changes["kind"] = target.kind
    ctx.changes["machine_version"] = target.version
    ctx.event_payload["reclassified"] = {"from": ctx.case.kind, "to": target.kind, "machine_version": target.version}
    # A number of its new kind (320508-YH-… → 320508-ZD-…); the old one is kept, searchable, 原编号.
    if target.number_code != ctx.definition.number_code:
        from cases.platform.clock import to_local
        from cases.ledger.numbering import format_case_number, next_serial

        code, year = ctx.case.origin_jurisdiction_code, to_local(ctx.now).year
        number = format_case_number(code, target.number_code, year,
                                    next_serial(ctx.session, code, target.number_code, year))
        ctx.changes["number"] = number
        ctx.changes["previous_numbers"] = ",".join([*case_previous_numbers(ctx.case), ctx.case.number])
        ctx.event_payload["reclassified"].update(number=number, previous_number=ctx.case.number)
    # The major-hazard cycle starts afresh at registration: a completion report, a check or a
    # pending extension request made for the ordinary hazard must not satisfy its guards.
    for key in ("completion", "last_verification", "extension_request"):
        ctx.details.pop(key, None)
    if ctx.current("assignee_id") is None and ctx.actor is not None:
        ctx.changes["assignee_id"] = ctx.actor.id
    # What major-hazard registration does, it does here too.
    saved = ctx.definition
    ctx.definition = target
    try:
        deduct_credit(ctx)
    finally:
        ctx.definition = saved


def case_previous_numbers(case: Case) -> list[str]:
    """The numbers a case had before it was reclassified, oldest first."""
    return [n for n in (case.previous_numbers or "").split(",") if n]


def lookup_problem(session: Session, kind: str, value: Any) -> str | None:
    """Existence checks for reference fields (enterprise, user, catalogue item, jurisdiction)."""
    from cases.models import HazardCatalogItem

    if kind == "enterprise":
        return None if session.get(Enterprise, value) else f"企业（编号{value}）不存在"
    if kind == "user":
        u = session.get(User, value)
        if u is None or not u.active:
            return f"用户（编号{value}）不存在或已停用"
        if u.role not in ("officer", "supervisor"):
            return "承办人须为监管人员"
        return None
    if kind == "hazard_item":
        found = session.scalar(select(HazardCatalogItem.id).where(HazardCatalogItem.item_code == value).limit(1))
        return None if found else f"判定标准中没有条目“{value}”"
    if kind == "jurisdiction":
        return None if session.get(Jurisdiction, value) else f"行政区划代码“{value}”不存在"
    return None


@guard
def appraisal_not_running(ctx: ActionContext) -> str | None:
    if ctx.details.get("technical_appraisal"):
        return "技术鉴定正在进行中"
    return None


@guard
def appraisal_running(ctx: ActionContext) -> str | None:
    if not ctx.details.get("technical_appraisal"):
        return "没有进行中的技术鉴定"
    return None


@effect
def start_technical_appraisal(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["technical_appraisal"] = {"started_at": ctx.now.isoformat(), "subject": v.get("subject"),
                                          "by": ctx.actor_ref}
    ctx.details.pop("subject", None)


@effect
def finish_technical_appraisal(ctx: ActionContext) -> None:
    running = ctx.details.pop("technical_appraisal", None) or {}
    v = ctx.values or {}
    ctx.details.setdefault("technical_appraisals", [])
    ctx.details["technical_appraisals"] = [*ctx.details["technical_appraisals"],
                                           {**running, "finished_at": ctx.now.isoformat(), "conclusion": v.get("conclusion")}]
    ctx.details.pop("conclusion", None)


@effect
def record_detailed_report(ctx: ActionContext) -> None:
    v = ctx.values or {}
    ctx.details["detailed_report"] = {"text": v.get("detailed_report"), "at": ctx.now.isoformat(), "by": ctx.actor_ref}
    ctx.details.pop("detailed_report_text", None)


# The guards register themselves in GUARDS when imported (named by the machine data).
from cases.ledger import guards as _guards  # noqa: E402,F401
