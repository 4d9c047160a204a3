"""The form engine: a machine definition's field specs → the widgets of a form, and a posted form →
the payload the services validate.

``widgets(...)`` describes each field for the ``_fields.html`` macro: its Chinese label, help, the
required mark, the limits as HTML attributes (maxlength, min, max, step), enum options with their
labels (radio buttons up to three, else a select), a checklist (四不放过) as checkboxes, a date or a
Beijing-time ``datetime-local`` input, a yes/no choice, and the reference fields as pickers (an
``<input list>`` with a server-filled ``<datalist>``; the catalogue of 重大事故隐患 as a grouped select).

``payload_from_form(...)`` is the reverse: empty optional fields are left out; integers, booleans,
checklists and reference ids get their types; what cannot be read is passed on as typed, so the same
``services.perform_action`` / ``services.create_case`` validation answers with its own Chinese message
(``ValidationFailed.errors``: field, label, message) — shown next to the field, the values kept.
A datetime typed without a zone is Beijing time (``cases.ledger.validation`` reads it so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.pages.cases import pickers
from api.pages.common import SHANGHAI
from cases.ledger.access import subtree_codes
from cases.ledger.services import COMMENT_MAX_LENGTH
from cases.ledger.validation import EARLIEST_DATE, text_limit
from cases.models import Jurisdiction
from state_machines.loader import FieldSpec

# Reference fields: which picker lists their values (by type, or by name for the common integer ids).
PICKER_BY_TYPE = {"enterprise": "enterprises", "user": "users"}
PICKER_BY_NAME = {"project_id": "projects", "building_id": "buildings"}
RADIO_MAX = 3  # an enum with this many options or fewer is radio buttons, else a select


def picker_of(spec: FieldSpec) -> str | None:
    return PICKER_BY_TYPE.get(spec.type) or PICKER_BY_NAME.get(spec.name)


@dataclass
class Widget:
    name: str
    label: str
    kind: str  # text textarea number date datetime select radio checklist boolean confirm picker hazard
    required: bool = False
    help: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    options: list[tuple[str, str]] = field(default_factory=list)
    groups: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)
    value: Any = ""
    values: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    picker: str | None = None
    chosen: str | None = None  # the label of the chosen reference (or the catalogue item's text)
    blank: str = "请选择"  # a select's empty option


def _limits(spec: FieldSpec) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if spec.type in ("string", "text"):
        attrs["maxlength"] = text_limit(spec)
    if spec.type in ("integer", "number"):
        if spec.min is not None:
            attrs["min"] = _num(spec.min)
        if spec.max is not None:
            attrs["max"] = _num(spec.max)
        attrs["step"] = "1" if spec.type == "integer" else "any"
        attrs["inputmode"] = "numeric" if spec.type == "integer" else "decimal"
    return attrs


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _help(spec: FieldSpec) -> str | None:
    parts = [spec.help] if spec.help else []
    if spec.type in ("integer", "number") and (spec.min is not None or spec.max is not None):
        if spec.min is not None and spec.max is not None:
            parts.append(f"{_num(spec.min)}～{_num(spec.max)}")
        elif spec.min is not None:
            parts.append(f"不小于{_num(spec.min)}")
        else:
            parts.append(f"不大于{_num(spec.max)}")
    if spec.type == "datetime":
        parts.append("北京时间")
    if spec.not_future:
        parts.append("不能晚于现在")
    if spec.type == "checklist" and spec.require_all:
        parts.append("须全部落实")
    return "；".join(parts) or None


def display_value(spec: FieldSpec, raw: Any) -> Any:
    """A value as its input shows it: a stored instant → Beijing ``YYYY-MM-DDTHH:MM``."""
    if raw is None:
        return ""
    if spec.type == "datetime" and isinstance(raw, str) and ("+" in raw[10:] or raw.endswith("Z")):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return raw


def case_values(case, specs: Iterable[FieldSpec]) -> dict[str, Any]:
    """A fresh action form's values: what the case's own columns already hold for its fields."""
    return {f.name: getattr(case, f.name) for f in specs
            if f.store == "case" and getattr(case, f.name, None) is not None}


def _time_limits(spec: FieldSpec, now: datetime | None) -> dict[str, str]:
    """A date/time input's min (no date before EARLIEST_DATE) and, for a field that may not lie in the
    future, its max (now, Beijing time) — so a phone's date picker offers only what the service takes."""
    if spec.type not in ("date", "datetime"):
        return {}
    fmt = "%Y-%m-%d" if spec.type == "date" else "%Y-%m-%dT%H:%M"
    attrs = {"min": EARLIEST_DATE.isoformat() + ("" if spec.type == "date" else "T00:00")}
    if spec.not_future and now is not None:
        attrs["max"] = now.astimezone(SHANGHAI).strftime(fmt)
    return attrs


def widgets(session: Session, user, specs: Iterable[FieldSpec], values: dict[str, Any] | None = None,
            errors: dict[str, list[str]] | None = None, *, required: Iterable[str] = (),
            now: datetime | None = None) -> list[Widget]:
    """One widget per spec; ``values`` are what was posted (kept on a re-render), ``errors`` by field;
    ``now`` bounds the inputs of fields that may not lie in the future."""
    values = values or {}
    errors = errors or {}
    also_required = set(required)
    out = []
    for spec in specs:
        raw = values.get(spec.name, spec.default)
        w = Widget(name=spec.name, label=spec.label, kind="text", required=spec.required or spec.name in also_required,
                   help=_help(spec), attrs=_limits(spec), errors=list(errors.get(spec.name, [])))
        t = spec.type
        source = picker_of(spec)
        if t == "hazard_item":
            w.kind = "hazard"
            w.groups = pickers.hazard_groups(session)
            w.value = str(raw or "")
            w.chosen = next((o["text"] for _, opts in w.groups for o in opts if o["value"] == w.value), None)
        elif source:
            w.kind, w.picker = "picker", source
            w.options = [(o["value"], o["label"]) for o in pickers.items(session, user, source)]
            w.value = "" if raw is None else str(raw)
            if w.value.isdigit():
                w.chosen = pickers.label_of(session, user, source, int(w.value))
        elif t == "jurisdiction":
            w.kind = "select"
            rows = session.execute(select(Jurisdiction.code, Jurisdiction.name).where(
                Jurisdiction.code.in_(subtree_codes(user.jurisdiction_code))).order_by(Jurisdiction.path))
            w.options = [(code, name) for code, name in rows]
            w.blank = "不选则按工程项目、房屋或本人所在辖区"
            w.value = raw or ""
        elif t == "enum":
            w.options = list((spec.options or {}).items())
            w.kind = "radio" if len(w.options) <= RADIO_MAX else "select"
            w.value = "" if raw is None else str(raw)
        elif t == "checklist":
            w.kind = "checklist"
            w.options = list((spec.options or {}).items())
            w.values = [str(v) for v in raw] if isinstance(raw, list) else []
        elif t == "boolean":
            w.kind = "confirm" if spec.must_be is True else "boolean"
            w.value = display_value(spec, raw)
        else:
            w.kind = {"text": "textarea", "integer": "number", "number": "number", "date": "date",
                      "datetime": "datetime"}.get(t, "text")
            w.attrs.update(_time_limits(spec, now))
            w.value = display_value(spec, raw)
        out.append(w)
    return out


def comment_widget(required: bool, value: str = "", errors: list[str] | None = None) -> Widget:
    """The 备注 every action takes (required where the machine says so)."""
    return Widget(name="comment", label="备注", kind="textarea", required=required, attrs={"maxlength": COMMENT_MAX_LENGTH},
                  value=value, errors=list(errors or []), help=None if required else "选填，记入办理记录")


@dataclass
class Parsed:
    payload: dict[str, Any]  # for the service
    kept: dict[str, Any]  # what the form shows again (as typed)
    unresolved: dict[str, str]  # reference fields whose typed text named no single visible row → why


def payload_from_form(session: Session, user, specs: Iterable[FieldSpec], form: FormData) -> Parsed:
    """The posted form → the payload (types converted, empty optional fields left out)."""
    payload: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    unresolved: dict[str, str] = {}
    for spec in specs:
        name, t = spec.name, spec.type
        if t == "checklist":
            ticked = [v for v in form.getlist(name) if isinstance(v, str)]
            kept[name] = ticked
            if ticked:
                payload[name] = ticked
            continue
        raw = form.get(name)
        if t == "boolean" and spec.must_be is True:  # a checkbox: unticked is "no" (the service says why not)
            value = raw == "true"
            kept[name] = value
            payload[name] = value
            continue
        if not isinstance(raw, str):
            continue
        kept[name] = raw
        text = raw if t == "text" else raw.strip()
        if not text.strip():
            continue  # empty: left out (the service says 必填 where it is)
        source = picker_of(spec)
        if t == "boolean":
            payload[name] = {"true": True, "false": False}.get(text, text)
        elif source:
            value, problem = pickers.resolve(session, user, source, text)
            if problem:
                unresolved[name] = problem
            payload[name] = value
        elif t == "integer" and text.lstrip("-").isdigit():
            payload[name] = int(text)
        elif t == "number":
            try:
                payload[name] = float(text)
            except ValueError:
                payload[name] = text
        else:
            payload[name] = text
    return Parsed(payload, kept, unresolved)


def field_errors(errors: list[dict[str, str]], parsed: Parsed | None = None,
                 known: Iterable[str] = ()) -> tuple[dict[str, list[str]], list[str]]:
    """ValidationFailed.errors → messages by field (shown next to it) and the rest (shown on top)."""
    known = set(known)
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for e in errors:
        f = e.get("field", "")
        message = e.get("message", "")
        if parsed is not None and f in parsed.unresolved:
            message = parsed.unresolved[f]
        if f in known:
            by_field.setdefault(f, []).append(message)
        else:
            general.append(f"{e.get('label', f)}：{message}")
    return by_field, general
