"""The state diagram (api/pages/cases/diagram.py): drawn from the machine data, layered by distance from
the initial state, back-edges dashed, the current state marked, every text escaped."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from api.pages.cases.diagram import back_edges, columns_of, edges_of, state_diagram_svg
from cases.ledger.engine import get_registry
from state_machines.loader import parse_definition

SVG = "{http://www.w3.org/2000/svg}"


def _machine(label="测试<b>流程</b>"):
    return parse_definition({
        "kind": "t", "version": 1, "label": label, "number_code": "TT", "initial": "a",
        "states": [{"name": "a", "label": "甲"}, {"name": "b", "label": "乙<i>"}, {"name": "c", "label": "丙"},
                   {"name": "d", "label": "丁", "final": True}],
        "actions": [
            {"name": "go", "label": "前进", "from": "a", "to": "b", "roles": ["officer"]},
            {"name": "on", "label": "继续", "from": "b", "to": "c", "roles": ["officer"]},
            {"name": "jump", "label": "跳过&结束", "from": "a", "to": "d", "roles": ["officer"]},
            {"name": "end", "label": "结束", "from": "c", "to": "d", "roles": ["officer"]},
            {"name": "back", "label": "退回", "from": "c", "to": "b", "roles": ["officer"]},
            {"name": "again", "label": "再办", "from": "c", "to": "c", "roles": ["officer"]},
            {"name": "note", "label": "备注", "from": ["a", "b", "c", "d"], "roles": ["officer"]},
        ]})


def test_layers_back_edges_and_the_current_state():
    m = _machine()
    edges = edges_of(m)
    assert {(e.source, e.target) for e in edges} == {("a", "b"), ("b", "c"), ("a", "d"), ("c", "d"), ("c", "b"), ("c", "c")}
    back = back_edges(m, edges)
    assert {(e.source, e.target) for e in back} == {("c", "b"), ("c", "c")}
    # Longest distance over forward edges: the skip a → d does not pull 丁 before 丙.
    assert columns_of(m, edges, back) == {"a": 0, "b": 1, "c": 2, "d": 3}

    svg = str(state_diagram_svg(m, "c"))
    root = ET.fromstring(svg)  # well-formed XML
    states = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert set(states) == {"a", "b", "c", "d"}
    assert states["c"].get("aria-current") == "true" and "current" in states["c"].get("class")
    assert [s for s, g in states.items() if "current" in g.get("class")] == ["c"]
    assert "当前状态" in "".join(states["c"].itertext()) and "final" in states["d"].get("class")
    paths = {(p.get("data-from"), p.get("data-to")): p for p in root.iter(f"{SVG}path") if p.get("data-from")}
    assert set(paths) == {(e.source, e.target) for e in edges}  # the note (no target) is not drawn
    assert paths[("c", "b")].get("stroke-dasharray") and "back" in paths[("c", "b")].get("class")
    assert paths[("c", "c")].get("stroke-dasharray") and not paths[("a", "b")].get("stroke-dasharray")
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "sd-label"]
    assert sorted(labels) == sorted(["前进", "继续", "跳过&结束", "结束", "退回", "再办"])
    # Labels are data: escaped, never markup.
    assert "<b>" not in svg and "<i>" not in svg and "测试&lt;b&gt;流程" in svg and "乙&lt;i&gt;" in svg
    assert "跳过&amp;结束" in svg
    # Columns left to right.
    x = {s: float(g.find(f"{SVG}rect").get("x")) for s, g in states.items()}
    assert x["a"] < x["b"] < x["c"] < x["d"]


def test_every_published_machine_draws():
    r = get_registry()
    for kind in r.kinds():
        for version in r.versions(kind):
            m = r.get(kind, version)
            for state in m.state_names:
                svg = str(state_diagram_svg(m, state))
                root = ET.fromstring(svg)
                marked = [g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("aria-current") == "true"]
                assert marked == [state]
            labels = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "sd-label"}
            drawn = {a.label for a in m.actions if a.dest is not None}
            assert labels == drawn, kind
            assert re.search(r'viewBox="0 0 \d+ \d+"', svg)
