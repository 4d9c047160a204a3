"""Load the case-kind state machines from versioned YAML data.

A definition lives in ``definitions/<kind>/v<N>.yaml``. Definitions are data only:
guards and effects are referenced by name and implemented in ``cases.ledger.rules``.
A case records the version it started on and keeps it for life.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
ROLES = ("officer", "supervisor", "admin", "enterprise")
FIELD_TYPES = {
    "string", "text", "integer", "number", "boolean", "date", "datetime", "enum", "checklist",
    "enterprise", "user", "hazard_item", "jurisdiction",
}
# Where an action field's value goes. "details" is the case's kind-specific JSON;
# "event" keeps it only on the event record; the rest are case columns.
CASE_COLUMNS = {
    "enterprise_id", "assignee_id", "severity", "title", "description", "location",
    "project_id", "building_id", "hazard_item_code", "appraisal_grade",
}


class DefinitionError(ValueError):
    pass


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    required: bool = False
    store: str = "details"
    help: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    options: dict[str, str] | None = None  # enum / checklist: value -> Chinese label
    require_all: bool = False  # checklist: every option must be ticked
    must_be: Any = None  # e.g. boolean that must be true ("已停止使用")
    default: Any = None
    not_future: bool = False  # date/datetime: a fact already happened (批复日期, 撤离完成时间)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name, "type": self.type, "label": self.label, "required": self.required,
        }
        for key in ("help", "min", "max", "max_length", "options", "default"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        if self.require_all:
            d["require_all"] = True
        if self.must_be is not None:
            d["must_be"] = self.must_be
        if self.not_future:
            d["not_future"] = True
        return d


@dataclass(frozen=True)
class StateSpec:
    name: str
    label: str
    final: bool = False
    # Whether deadlines run in this state (used by the traffic light and the timers).
    active: bool = True


@dataclass(frozen=True)
class ActionSpec:
    name: str
    label: str
    sources: tuple[str, ...]
    dest: str | None  # None: stays in its state (an internal transition)
    roles: tuple[str, ...]
    fields: tuple[FieldSpec, ...] = ()
    guards: tuple[str, ...] = ()
    effects: tuple[dict[str, Any], ...] = ()
    comment_required: bool = False
    description: str | None = None

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def is_note(self) -> bool:
        """A note (添加备注): it stays in its state and changes no field, so it only adds an event.

        The optimistic lock (``Case.version``) protects state and fields; a note neither checks
        nor bumps it, so a comment never makes someone else's open form stale.
        """
        return self.dest is None and not self.fields and not self.effects


@dataclass(frozen=True)
class CreationSpec:
    """How a kind's cases are created, beyond its ``create_fields`` (the ``creation`` block).

    ``omit``: common creation fields (cases.ledger.services.COMMON_CREATE_FIELDS) this kind leaves
    out — they mean nothing for it (a dangerous building has no project); default: ``building_id``.
    ``require``: common fields it needs (危险房屋案件必须关联房屋). ``checks``: functions of
    cases.ledger.rules (``@create_check``) run on the creation values (422). ``see_also``: other
    kinds the new-case page points to, each with the sentence saying when (重大险情 ↔ 生产安全事故).
    """
    omit: tuple[str, ...] = ("building_id",)
    require: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    see_also: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MachineDefinition:
    kind: str
    version: int
    label: str
    number_code: str
    initial: str
    states: tuple[StateSpec, ...]
    actions: tuple[ActionSpec, ...]
    create_fields: tuple[FieldSpec, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    creation: CreationSpec = CreationSpec()
    short_label: str = ""  # for tight spaces (the digest's table: 危房, 险情); the label if not given

    @property
    def category_field(self) -> str | None:
        """The creation field that says what sort of case it is (the ledger's 类别 column): an enum
        named ``category`` or ending in ``_type`` (隐患类别, 事故类型, 险情类型); None if it has none."""
        for f in self.create_fields:
            if f.type == "enum" and (f.name == "category" or f.name.endswith("_type")):
                return f.name
        return None

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    def state(self, name: str) -> StateSpec:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def actions_from(self, state: str) -> list[ActionSpec]:
        return [a for a in self.actions if state in a.sources]

    def mermaid(self) -> str:
        """``stateDiagram-v2`` text drawn from the definition (not from a runtime graph)."""
        lines = ["stateDiagram-v2"]
        for s in self.states:
            lines.append(f"    {s.name} : {s.label}")
        lines.append(f"    [*] --> {self.initial}")
        for a in self.actions:
            for src in a.sources:
                dest = a.dest or src
                if dest == src and a.dest is None:
                    continue  # internal actions (comments, assignment...) would clutter the diagram
                lines.append(f"    {src} --> {dest} : {a.label}")
        for s in self.states:
            if s.final:
                lines.append(f"    {s.name} --> [*]")
        return "\n".join(lines)


def _parse_field(raw: dict[str, Any], where: str) -> FieldSpec:
    if "name" not in raw or "type" not in raw:
        raise DefinitionError(f"{where}: a field needs name and type")
    if raw["type"] not in FIELD_TYPES:
        raise DefinitionError(f"{where}: unknown field type {raw['type']!r}")
    store = raw.get("store", "case" if raw["name"] in CASE_COLUMNS else "details")
    if store == "case" and raw["name"] not in CASE_COLUMNS:
        raise DefinitionError(f"{where}: {raw['name']} is not a case column")
    if store not in ("case", "details", "event"):
        raise DefinitionError(f"{where}: unknown store {store!r}")
    options = raw.get("options")
    if raw["type"] in ("enum", "checklist") and not options:
        raise DefinitionError(f"{where}: {raw['name']} needs options")
    if raw.get("not_future") and raw["type"] not in ("date", "datetime"):
        raise DefinitionError(f"{where}: not_future applies to date and datetime fields only")
    return FieldSpec(
        name=raw["name"], type=raw["type"], label=raw.get("label", raw["name"]),
        required=bool(raw.get("required", False)), store=store, help=raw.get("help"),
        min=raw.get("min"), max=raw.get("max"), max_length=raw.get("max_length"),
        options={str(k): str(v) for k, v in options.items()} if options else None,
        require_all=bool(raw.get("require_all", False)), must_be=raw.get("must_be"),
        default=raw.get("default"), not_future=bool(raw.get("not_future", False)),
    )


def _parse_creation(raw: dict[str, Any], source: str) -> CreationSpec:
    unknown = set(raw) - {"omit", "require", "checks", "see_also"}
    if unknown:
        raise DefinitionError(f"{source}: creation: unknown keys {sorted(unknown)}")
    see_also = []
    for item in raw.get("see_also", ()):
        if not isinstance(item, dict) or "kind" not in item or "text" not in item:
            raise DefinitionError(f"{source}: creation.see_also entries need kind and text")
        see_also.append((str(item["kind"]), str(item["text"])))
    require = tuple(raw.get("require", ()))
    omit = tuple(raw.get("omit", CreationSpec.omit))
    if set(require) & set(omit):
        raise DefinitionError(f"{source}: creation: a field both omitted and required")
    return CreationSpec(omit=omit, require=require, checks=tuple(raw.get("checks", ())), see_also=tuple(see_also))


def parse_definition(raw: dict[str, Any], source: str = "<data>") -> MachineDefinition:
    try:
        states = tuple(
            StateSpec(s["name"], s["label"], bool(s.get("final", False)), bool(s.get("active", True)))
            for s in raw["states"]
        )
        names = [s.name for s in states]
        if len(set(names)) != len(names):
            raise DefinitionError(f"{source}: duplicate state")
        non_final = [s.name for s in states if not s.final]
        shared_fields = {f["name"]: f for f in raw.get("fields", [])}
        actions = []
        for a in raw["actions"]:
            where = f"{source}: action {a.get('name')}"
            src = a["from"]
            if src == "*active":
                sources = tuple(non_final)
            else:
                sources = tuple([src] if isinstance(src, str) else src)
            for s in sources:
                if s not in names:
                    raise DefinitionError(f"{where}: unknown source state {s!r}")
            dest = a.get("to")
            if dest is not None and dest not in names:
                raise DefinitionError(f"{where}: unknown target state {dest!r}")
            roles = tuple(a.get("roles", ()))
            for r in roles:
                if r not in ROLES:
                    raise DefinitionError(f"{where}: unknown role {r!r}")
            fields = []
            for f in a.get("fields", []):
                if isinstance(f, str):  # reference to a shared field
                    f = shared_fields[f]
                elif "ref" in f:
                    f = {**shared_fields[f["ref"]], **{k: v for k, v in f.items() if k != "ref"}}
                fields.append(_parse_field(f, where))
            effects = tuple(e if isinstance(e, dict) else {"name": e} for e in a.get("effects", ()))
            actions.append(ActionSpec(
                name=a["name"], label=a["label"], sources=sources, dest=dest, roles=roles,
                fields=tuple(fields), guards=tuple(a.get("guards", ())), effects=effects,
                comment_required=bool(a.get("comment_required", False)),
                description=a.get("description"),
            ))
        if len({a.name for a in actions}) != len(actions):
            raise DefinitionError(f"{source}: duplicate action")
        create_fields = tuple(
            _parse_field(shared_fields[f] if isinstance(f, str) else f, f"{source}: create")
            for f in raw.get("create_fields", [])
        )
        digest = hashlib.sha256(yaml.safe_dump(raw, sort_keys=True, allow_unicode=True).encode()).hexdigest()
        definition = MachineDefinition(
            kind=raw["kind"], version=int(raw["version"]), label=raw["label"],
            number_code=raw["number_code"], initial=raw.get("initial", names[0]),
            states=states, actions=tuple(actions), create_fields=create_fields,
            settings=dict(raw.get("settings", {})), digest=digest[:16],
            creation=_parse_creation(raw.get("creation") or {}, source),
            short_label=str(raw.get("short_label") or raw["label"]),
        )
    except KeyError as exc:
        raise DefinitionError(f"{source}: missing key {exc}") from exc
    if definition.initial not in names:
        raise DefinitionError(f"{source}: unknown initial state")
    return definition


class MachineRegistry:
    """All versions of all kinds. ``latest(kind)`` starts new cases; old cases keep theirs."""

    def __init__(self, definitions: list[MachineDefinition]):
        self._by_key: dict[tuple[str, int], MachineDefinition] = {}
        for d in definitions:
            key = (d.kind, d.version)
            if key in self._by_key:
                raise DefinitionError(f"duplicate definition {key}")
            self._by_key[key] = d

    def get(self, kind: str, version: int) -> MachineDefinition:
        try:
            return self._by_key[(kind, version)]
        except KeyError:
            raise KeyError(f"no state machine {kind} v{version}") from None

    def latest(self, kind: str) -> MachineDefinition:
        versions = [d for (k, _), d in self._by_key.items() if k == kind]
        if not versions:
            raise KeyError(f"no state machine for kind {kind!r}")
        return max(versions, key=lambda d: d.version)

    def kinds(self) -> list[str]:
        """Every kind, in the order people see them (lists, the new-case chooser, the cockpit's
        columns, 422 options): the four first kinds in their historical order, then the others
        by ``number_code`` — a new kind needs no entry here."""
        order = {"hazard": 0, "major_hazard": 1, "accident": 2, "dangerous_building": 3}
        return sorted({k for k, _ in self._by_key},
                      key=lambda k: (order.get(k, 99), self.latest(k).number_code, k))

    def versions(self, kind: str) -> list[int]:
        return sorted(v for k, v in self._by_key if k == kind)

    def with_definition(self, definition: MachineDefinition) -> "MachineRegistry":
        """A copy with one more definition (tests use it to publish a new version)."""
        return MachineRegistry([*self._by_key.values(), definition])

    def all(self) -> list[MachineDefinition]:
        return list(self._by_key.values())


def load_directory(directory: Path = DEFINITIONS_DIR) -> MachineRegistry:
    definitions = []
    for path in sorted(directory.glob("*/v*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        definition = parse_definition(raw, str(path.relative_to(directory)))
        if path.parent.name != definition.kind or path.stem != f"v{definition.version}":
            raise DefinitionError(f"{path}: file name does not match kind/version")
        definitions.append(definition)
    return MachineRegistry(definitions)


@lru_cache
def default_registry() -> MachineRegistry:
    return load_directory()
