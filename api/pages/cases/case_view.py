"""What the case page shows, read through the same functions as the API's case routes.

``case_view`` gathers, in one session: the case (``api.serialize.case_detail``, with the actions
``services.allowed_actions`` lets this user take now), its events (``events_json``), deadlines
(``api.routes.deadlines.case_deadline_list``) with the countdown of the running ones
(``cases.clocks.countdown``), escalations (``case_escalation_list``), listings
(``cases.clocks.supervision.case_supervisions``), documents (``api.routes.documents.case_document_list``)
and messages with receipts (``api.routes.notifications.case_message_list``: the transport detail is
the API's policy). Labels come from the machine data (field specs, states, actions), the common
creation fields (``services.COMMON_CREATE_FIELDS``) and ``cases.ledger.labels``; ids are turned into
names with one statement per kind of thing, never one per row.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.pages.common import cn_date, cn_datetime
from api.routes.deadlines import case_deadline_list, case_escalation_list
from api.routes.documents import case_document_list
from api.routes.notifications import case_message_list
from api.serialize import case_detail, events_json
from cases.analogs.reads import case_tasks, mark_for
from cases.calendar.calendar_store import get_calendar
from cases.clocks.countdown import countdown
from cases.clocks.supervision import case_supervisions, supervisions_json
from cases.inspections.findings import case_inspection_link
from cases.ledger import services
from cases.ledger.access import STAFF_ROLES
from cases.reads.jurisdiction_cache import jurisdiction_facts
from cases.ledger.labels import event_label, field_label, options_of
from cases.models import Building, Enterprise, Project, User
from notifications.channels.send import CHANNEL_NAMES
from notifications.delivery.receipts import status_label
from state_machines.loader import FieldSpec, MachineDefinition

# The values a system event (not a machine action) carries that a person reads, by event.
SYSTEM_EVENT_VALUES = {
    "supervision_extension_requested": ("days", "reason"),
    "supervision_extension_decided": ("approved", "granted_days", "opinion"),
    "supervision_lifted": ("opinion",),
    "reply_complainant": ("reply",),
}
# Whose reference ids a field holds: looked up by name for the page.
_REFS = {"enterprise": Enterprise, "user": User}
_REF_FIELDS = {"project_id": Project, "building_id": Building, "enterprise_id": Enterprise, "assignee_id": User}
_NAME = {Enterprise: Enterprise.name, User: User.display_name, Project: Project.name, Building: Building.name}


def field_index(definition: MachineDefinition) -> dict[str, FieldSpec]:
    """Every field the kind knows (creation, then the actions'), by name: labels and options."""
    out: dict[str, FieldSpec] = {f.name: f for f in services.COMMON_CREATE_FIELDS}
    for f in definition.create_fields:
        out.setdefault(f.name, f)
    for action in definition.actions:
        for f in action.fields:
            out.setdefault(f.name, f)
    return out


def _model_of(name: str, spec: FieldSpec | None):
    if name in _REF_FIELDS:
        return _REF_FIELDS[name]
    return _REFS.get(spec.type) if spec is not None else None


class Names:
    """Ids → names, collected first and read with one statement per model."""

    def __init__(self) -> None:
        self.wanted: dict[Any, set[int]] = {}
        self.found: dict[Any, dict[int, str]] = {}
        self.jurisdictions: set[str] = set()

    def want(self, model, value) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            self.wanted.setdefault(model, set()).add(value)

    def load(self, s: Session) -> None:
        for model, ids in self.wanted.items():
            key = model.__mapper__.primary_key[0]
            self.found[model] = dict(s.execute(select(key, _NAME[model]).where(key.in_(ids))).all())
        self.jurisdiction_names = {c: f.name for c, f in jurisdiction_facts(s, self.jurisdictions).items()}

    def name(self, model, value) -> str:
        return self.found.get(model, {}).get(value) or f"（编号{value}）"


def display(spec: FieldSpec | None, name: str, value: Any, names: Names) -> str:
    """A value as a person reads it: option labels, names for ids, 是/否, Chinese dates."""
    if value is None or value == "" or value == []:
        return "—"
    model = _model_of(name, spec)
    if model is not None:
        return names.name(model, value)
    kind = spec.type if spec is not None else None
    if isinstance(value, bool):
        return "是" if value else "否"
    if kind == "jurisdiction":
        return names.jurisdiction_names.get(value, str(value))
    if spec is not None and spec.options:
        if isinstance(value, list):
            return "、".join(spec.options.get(v, str(v)) for v in value)
        return spec.options.get(value, str(value))
    if kind == "datetime" or isinstance(value, datetime):
        return cn_datetime(value)
    if kind == "date" or isinstance(value, date):
        return cn_date(value)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{k}：{v}" for k, v in value.items())
    return str(value)


def _state_label(definition: MachineDefinition, state: str | None) -> str | None:
    if state is None:
        return None
    try:
        return definition.state(state).label
    except KeyError:
        return (options_of("state") or {}).get(state, state)


def _event_fields(definition: MachineDefinition, index: dict[str, FieldSpec], e: dict[str, Any]):
    """(name, spec, label, value) of what the event's person entered, in the form's order."""
    payload = e["payload"]
    values = payload.get("values") or {}
    action = definition.action(e["action"])
    if action is not None:
        specs = list(action.fields)
        known = {f.name for f in specs}
        specs += [index[k] for k in values if k not in known and k in index]
        return [(f.name, f, f.label, values[f.name]) for f in specs if f.name in values]
    if e["action"] == "create":
        return [(k, index.get(k), index[k].label if k in index else field_label(k), v)
                for k, v in values.items() if k in index or field_label(k)]
    return [(k, None, field_label(k), payload[k]) for k in SYSTEM_EVENT_VALUES.get(e["action"], ())
            if k in payload and field_label(k)]


def timeline(definition: MachineDefinition, events: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    index = field_index(definition)
    rows = []
    for e in events:
        fields = _event_fields(definition, index, e)
        rows.append({"e": e, "fields": fields})
        for name, spec, _, value in fields:
            model = _model_of(name, spec)
            if model is not None:
                names.want(model, value)
            elif spec is not None and spec.type == "jurisdiction":
                names.jurisdictions.add(value)
    return rows


def _render_timeline(definition: MachineDefinition, rows: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        e = row["e"]
        changed = e["to_state"] != e["from_state"]
        out.append({
            "id": e.get("id"), "seq": e["seq"], "at": e["at"], "actor": e["actor"]["name"] or "系统",
            "label": event_label(e["action"], definition), "comment": e["comment"],
            "to_state": _state_label(definition, e["to_state"]) if changed else None,
            "values": [(label, display(spec, name, value, names)) for name, spec, label, value in row["fields"]],
            "documents": [d.get("number") for d in e["payload"].get("documents") or [] if d.get("number")],
        })
    return out


_AMOUNT = {"working_day": "{}个工作日", "calendar_day": "{}天", "hour": "{}小时"}


def amount_text(amount: int, unit: str) -> str:
    """7个工作日 / 30天 / 48小时."""
    return _AMOUNT.get(unit, "{}" + ((options_of("unit") or {}).get(unit) or unit)).format(amount)


def _deadlines(s: Session, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    listed = case_deadline_list(s, user, case_id, now)
    calendar = get_calendar(s) if any(d["status"] == "open" for d in listed["items"]) else None
    for d in listed["items"]:
        d["amount_text"] = amount_text(d["amount"], d["unit"])
        d["extension_texts"] = [amount_text(x, d["unit"]) for x in d["extensions"]]
        if d["status"] == "open":
            cd = countdown(d["due_at"], d["due_date"], now, calendar)
            d["countdown"], d["countdown_state"] = cd.text, cd.state
    # Running clocks first (in their order), then the history.
    listed["items"].sort(key=lambda d: (d["status"] != "open", d["id"]))
    return listed


def _facts(definition: MachineDefinition, detail: dict[str, Any], index: dict[str, FieldSpec], names: Names):
    """The case's kind-specific facts (its ``details`` and grade columns) with their labels."""
    out = []
    for name in ("severity", "appraisal_grade"):
        if detail.get(name) is not None and name in index:
            out.append((index[name].label, display(index[name], name, detail[name], names)))
    if detail.get("accident_grade_label"):
        out.append(("事故等级", detail["accident_grade_label"]))
    if detail.get("hazard_item_code") and "hazard_item_code" in index:
        out.append((index["hazard_item_code"].label, detail["hazard_item_code"]))
    for name, value in (detail.get("details") or {}).items():
        spec = index.get(name)
        if spec is not None and name not in ("severity", "appraisal_grade"):
            out.append((spec.label, display(spec, name, value, names)))
    return out


def _analog_tasks(s: Session, user: User, case, now: datetime) -> list[dict[str, Any]] | None:
    """The 类比排查 tasks the case proposed, with what this user may do (staff only: cases/analogs/)."""
    if user.role not in STAFF_ROLES:
        return None
    items = case_tasks(s, user, case.id, now)
    mark_for(s, user, items, {case.id: case.jurisdiction_code})
    return items


def case_view(s: Session, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    """Everything the case page shows (404 for a case the user may not see, as the API)."""
    case = services.get_case(s, user, case_id)
    definition = services.definition_of(case)
    allowed = services.allowed_actions(s, user, case, now=now)
    detail = case_detail(s, case, allowed, now, actor=user)
    index = field_index(definition)
    names = Names()
    rows = timeline(definition, events_json(s, services.case_events(s, user, case_id)), names)
    for name in ("project_id", "building_id"):
        names.want(_REF_FIELDS[name], detail.get(name))
    for name in ("details",):
        for key, value in (detail.get(name) or {}).items():
            if (model := _model_of(key, index.get(key))) is not None:
                names.want(model, value)
    messages = case_message_list(s, user, case_id)
    for m in messages:
        names.want(User, m.get("recipient_user_id"))
    names.load(s)
    for m in messages:
        m["recipient"] = (names.name(User, m["recipient_user_id"]) if m.get("recipient_user_id")
                          else m.get("recipient_address") or "—")
        m["channel_label"] = CHANNEL_NAMES.get(m["channel"], m["channel"])
        m["status_text"] = m.get("status_label") or status_label(m["status"])
        m["attempt_count"] = m.get("attempts") if m.get("attempts") is not None else len(m.get("receipts") or [])
    documents = case_document_list(s, user, case_id)
    for d in documents:  # the pages' cookie-authenticated twins of the API's file links
        d["page_pdf"] = f"/documents/{d['id']}.pdf" if d.get("pdf_url") else None
        d["page_html"] = f"/documents/{d['id']}.html" if d.get("html_url") else None
    roles = options_of("related_enterprises.role") or {}
    return {
        "case": detail, "definition": definition,
        # Exactly what the API allows this user now (a closed case: 重新打开 / 添加备注 where the machine says so).
        "actions": detail["actions"],
        "source_label": services.SOURCES.get(detail.get("source") or "", None),
        "project_name": names.name(Project, detail["project_id"]) if detail.get("project_id") else None,
        "building_name": names.name(Building, detail["building_id"]) if detail.get("building_id") else None,
        "related": [{**r, "role_label": roles.get(r["role"], r["role"])} for r in detail["related_enterprises"]],
        "kind_facts": _facts(definition, detail, index, names),
        "timeline": _render_timeline(definition, rows, names),
        "deadlines": _deadlines(s, user, case_id, now),
        "escalations": case_escalation_list(s, user, case_id),
        "supervisions": supervisions_json(s, case_supervisions(s, case_id)),
        "documents": documents,
        "messages": messages,
        "admin_view": user.role == "admin",
        # Made from a failed item of an inspection: the 检查记录 it came from (cases/inspections/findings.py).
        "inspection": case_inspection_link(s, case_id),
        # 类比排查 proposed by this case (staff only: cases/analogs/reads.py)
        "analog_tasks": _analog_tasks(s, user, case, now),
    }
