from __future__ import annotations

from fastapi import APIRouter, Query

from cases.ledger.engine import get_registry
from cases.platform.errors import NotFound
from state_machines.loader import MachineDefinition

router = APIRouter(prefix="/api/state-machines", tags=["state machines"])


def definition_json(d: MachineDefinition) -> dict:
    return {
        "kind": d.kind, "version": d.version, "label": d.label, "short_label": d.short_label,
        "number_code": d.number_code, "initial": d.initial, "digest": d.digest, "settings": d.settings,
        # how a case of the kind is created: the common fields it omits and requires, other kinds to consider
        "creation": {"omit": list(d.creation.omit), "require": list(d.creation.require),
                     "see_also": [{"kind": k, "text": t} for k, t in d.creation.see_also]},
        "states": [{"name": s.name, "label": s.label, "final": s.final} for s in d.states],
        "create_fields": [f.to_dict() for f in d.create_fields],
        "actions": [{
            "name": a.name, "label": a.label, "description": a.description, "from": list(a.sources),
            "to": a.dest, "roles": list(a.roles), "guards": list(a.guards), "comment_required": a.comment_required,
            "fields": [f.to_dict() for f in a.fields],
        } for a in d.actions],
        "mermaid": d.mermaid(),
    }


@router.get("", summary="全部案件类型及其状态机版本")
def list_machines():
    r = get_registry()
    return {"items": [{"kind": k, "label": r.latest(k).label, "latest_version": r.latest(k).version,
                       "versions": r.versions(k)} for k in r.kinds()]}


@router.get("/{kind}", summary="状态机：状态、操作、每个操作所需字段、Mermaid 图")
def get_machine(kind: str, version: int | None = Query(None, description="默认最新版本")):
    r = get_registry()
    try:
        d = r.get(kind, version) if version else r.latest(kind)
    except KeyError:
        raise NotFound(f"没有案件类型“{kind}”" + (f"的第{version}版状态机" if version else "")) from None
    return definition_json(d)
