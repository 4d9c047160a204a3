"""Binds the versioned machine data to `transitions` and fires actions.

One shared model-less ``transitions.Machine`` per (kind, version), fired on a per-request
context object: no Machine per case, nothing kept between requests (see
shared/notes/state-machines.md for why).
"""
from __future__ import annotations

import threading

from transitions import Machine, MachineError

from cases.platform.errors import ActionNotAllowed
from cases.ledger.rules import CREATE_CHECKS, EFFECTS, GUARDS, ActionContext
from state_machines.loader import MachineDefinition, MachineRegistry, default_registry

_registry: MachineRegistry | None = None
_machines: dict[tuple[str, int, str], Machine] = {}
_lock = threading.Lock()


def get_registry() -> MachineRegistry:
    return _registry or default_registry()


def set_registry(registry: MachineRegistry | None) -> None:
    """Swap the definitions (tests publish a v2 this way)."""
    global _registry
    with _lock:
        _registry = registry
        _machines.clear()


def check_definitions(registry: MachineRegistry) -> None:
    """Every guard, effect and creation check a definition names must exist, and every common
    field and kind its ``creation`` block names: fail at start-up, not mid-request."""
    from cases.ledger.services import COMMON_CREATE_FIELDS

    common = {f.name for f in COMMON_CREATE_FIELDS}
    kinds = set(registry.kinds())
    for d in registry.all():
        where = f"{d.kind} v{d.version}: creation"
        for name in (*d.creation.omit, *d.creation.require):
            if name not in common:
                raise ValueError(f"{where} names {name!r}, not a common creation field ({sorted(common)})")
        for c in d.creation.checks:
            if c not in CREATE_CHECKS:
                raise ValueError(f"{where} names unknown check {c!r}")
        for kind, _ in d.creation.see_also:
            if kind not in kinds:
                raise ValueError(f"{where}: see_also names unknown kind {kind!r}")
        for a in d.actions:
            for g in a.guards:
                if g not in GUARDS:
                    raise ValueError(f"{d.kind} v{d.version}: action {a.name} names unknown guard {g!r}")
            for e in a.effects:
                if e["name"] not in EFFECTS:
                    raise ValueError(f"{d.kind} v{d.version}: action {a.name} names unknown effect {e['name']!r}")


def _condition(guard_name: str):
    guard = GUARDS[guard_name]

    def check(event) -> bool:
        ctx: ActionContext = event.model
        reason = guard(ctx)
        if reason:
            ctx.refusals.append(reason)
            return False
        return True

    check.__name__ = f"guard_{guard_name}"
    return check


def machine_for(definition: MachineDefinition) -> Machine:
    key = (definition.kind, definition.version, definition.digest)
    m = _machines.get(key)
    if m is None:
        with _lock:
            m = _machines.get(key)
            if m is None:
                m = Machine(
                    model=None,
                    states=list(definition.state_names),
                    initial=definition.initial,
                    transitions=[
                        {
                            "trigger": a.name,
                            "source": list(a.sources),
                            "dest": a.dest,  # None → internal transition, the state stays
                            "conditions": [_condition(g) for g in a.guards],
                        }
                        for a in definition.actions
                    ],
                    auto_transitions=False,
                    send_event=True,
                )
                _machines[key] = m
    return m


def fire(ctx: ActionContext) -> None:
    """Run the action's transition (guards included), then its effects. Raises ActionNotAllowed."""
    machine = machine_for(ctx.definition)
    try:
        ok = machine.events[ctx.action.name].trigger(ctx)
    except MachineError:
        raise ActionNotAllowed(
            f"当前状态“{ctx.definition.state(ctx.case.state).label}”下不能执行“{ctx.action.label}”",
            state=ctx.case.state,
        ) from None
    if not ok:
        raise ActionNotAllowed(
            ctx.refusals[0] if ctx.refusals else f"不满足“{ctx.action.label}”的条件",
            state=ctx.case.state, reasons=list(ctx.refusals),
        )
    for spec in ctx.action.effects:
        params = {k: v for k, v in spec.items() if k != "name"}
        EFFECTS[spec["name"]](ctx, **params)


def guards_pass(ctx: ActionContext) -> bool:
    """For listing allowed actions: state guards only (values are not known yet)."""
    for g in ctx.action.guards:
        if GUARDS[g](ctx):
            return False
    return True
