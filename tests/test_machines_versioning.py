"""The machines as data: they load and validate, the API shows them, and publishing a v2 leaves v1 cases alone."""
from __future__ import annotations

import copy

import pytest
import yaml

from cases.ledger import engine
from cases.ledger.engine import check_definitions, set_registry
from state_machines.loader import (
    DEFINITIONS_DIR,
    ROLES,
    DefinitionError,
    MachineRegistry,
    default_registry,
    load_directory,
    parse_definition,
)
from tests.machine_paths import KINDS, HttpDriver


# The published versions of each machine: major_hazard v2 guards 核查/销号 with a 整改后 photo.
PUBLISHED = {"hazard": [1], "major_hazard": [1, 2], "accident": [1], "dangerous_building": [1],
             "dangerous_occurrence": [1], "self_hazard": [1]}


def raw_v1(kind: str) -> dict:
    return yaml.safe_load((DEFINITIONS_DIR / kind / "v1.yaml").read_text(encoding="utf-8"))


def test_definitions_load_and_validate():
    registry = load_directory()
    assert registry.kinds() == list(KINDS)
    check_definitions(registry)  # every guard and effect named exists
    assert {d.kind: registry.versions(d.kind) for d in registry.all()} == PUBLISHED
    # a case number says its kind: no two kinds share a number code
    codes = {registry.latest(k).number_code: k for k in registry.kinds()}
    assert len(codes) == len(registry.kinds()), codes
    for d in registry.all():
        assert d.initial == "found" and d.label and d.number_code
        assert len(d.digest) == 16
        names = set(d.state_names)
        assert any(s.final for s in d.states)
        for a in d.actions:
            assert a.roles and set(a.roles) <= set(ROLES), a.name
            assert set(a.sources) <= names and (a.dest is None or a.dest in names)
            assert all(f.label for f in a.fields)
        # every state is reachable from the initial one, and every non-final state leads on
        reach, todo = {d.initial}, [d.initial]
        while todo:
            s = todo.pop()
            for a in d.actions_from(s):
                if a.dest and a.dest not in reach:
                    reach.add(a.dest)
                    todo.append(a.dest)
        assert reach == names, (d.kind, names - reach)
        for s in d.states:
            if not s.final:
                assert any(a.dest and a.dest != s.name for a in d.actions_from(s.name)), (d.kind, s.name)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["actions"][0].update({"from": "nowhere"}), "unknown source state"),
    (lambda r: r["actions"][0].update({"to": "limbo"}), "unknown target state"),
    (lambda r: r["actions"][0].update({"roles": ["mayor"]}), "unknown role"),
    (lambda r: r["actions"].append(copy.deepcopy(r["actions"][0])), "duplicate action"),
    (lambda r: r["states"].append(dict(r["states"][0])), "duplicate state"),
    (lambda r: r["actions"][0].update({"fields": [{"name": "x", "type": "colour"}]}), "unknown field type"),
    (lambda r: r["actions"][0].update({"fields": [{"name": "x", "type": "enum"}]}), "needs options"),
    (lambda r: r["actions"][0].update({"fields": [{"name": "x", "type": "text", "store": "case"}]}), "not a case column"),
    (lambda r: r.update({"initial": "limbo"}), "unknown initial state"),
    (lambda r: r.pop("states"), "missing key"),
])
def test_bad_definitions_are_refused(mutate, message):
    raw = raw_v1("hazard")
    mutate(raw)
    with pytest.raises(DefinitionError, match=message):
        parse_definition(raw, "hazard/v9.yaml")


def test_unknown_guard_or_effect_is_caught_at_start_up():
    for key, name in (("guards", "moon_is_full"), ("effects", "send_flowers")):
        raw = raw_v1("hazard")
        raw["version"] = 9
        raw["actions"][0][key] = [name]
        registry = default_registry().with_definition(parse_definition(raw))
        with pytest.raises(ValueError, match=name):
            check_definitions(registry)
    with pytest.raises(DefinitionError, match="duplicate definition"):
        default_registry().with_definition(default_registry().latest("hazard"))


def test_machine_api(api, world):
    c = api(world.officer)
    listed = c.get("/api/state-machines").json()["items"]
    assert [m["kind"] for m in listed] == list(KINDS)
    assert {m["kind"]: m["versions"] for m in listed} == PUBLISHED
    assert all(m["latest_version"] == PUBLISHED[m["kind"]][-1] for m in listed)
    r = c.get("/api/state-machines/hazard")
    assert r.status_code == 200
    m = r.json()
    assert m["kind"] == "hazard" and m["version"] == 1 and m["initial"] == "found"
    assert [s["name"] for s in m["states"]] == ["found", "registered", "rectifying", "verified", "closed", "dismissed"]
    assert {s["name"] for s in m["states"] if s["final"]} == {"closed", "dismissed"}
    actions = {a["name"]: a for a in m["actions"]}
    assert actions["register"]["from"] == ["found"] and actions["register"]["to"] == "registered"
    assert actions["register"]["label"] == "登记立案"
    fields = {f["name"]: f for f in actions["register"]["fields"]}
    assert fields["severity"] == {"name": "severity", "type": "enum", "label": "隐患等级", "required": True,
                                  "options": {"general": "一般隐患", "serious": "较大隐患"}}
    assert fields["rectification_days"]["min"] == 1 and fields["rectification_days"]["max"] == 90
    assert actions["comment"]["comment_required"] is True
    assert set(actions["assign"]["from"]) == {"found", "registered", "rectifying", "verified"}
    assert [f["name"] for f in m["create_fields"]] == ["category"]
    mermaid = m["mermaid"]
    assert mermaid.startswith("stateDiagram-v2\n")
    assert "    [*] --> found" in mermaid and "    found --> registered : 登记立案" in mermaid
    assert "    rectifying --> rectifying : 复查不合格" in mermaid and "    closed --> [*]" in mermaid
    acc = c.get("/api/state-machines/accident").json()
    four = next(f for a in acc["actions"] if a["name"] == "verify" for f in a["fields"] if f["name"] == "four_nots")
    assert four["type"] == "checklist" and four["require_all"] is True and len(four["options"]) == 4
    assert c.get("/api/state-machines/volcano").status_code == 404
    r = c.get("/api/state-machines/hazard", params={"version": 7})
    assert r.status_code == 404 and "第7版" in r.json()["message"]


def hazard_v2():
    raw = raw_v1("hazard")
    raw["version"] = 2
    raw["states"].insert(3, {"name": "suspended", "label": "中止整改"})
    raw["actions"].append({"name": "suspend", "label": "中止整改", "from": "rectifying", "to": "suspended",
                           "roles": ["officer", "supervisor"], "fields": ["reason"]})
    raw["actions"].append({"name": "resume", "label": "恢复整改", "from": "suspended", "to": "rectifying",
                           "roles": ["officer", "supervisor"]})
    for a in raw["actions"]:
        if a["name"] == "comment":
            a["from"] = [*a["from"], "suspended"]
    return parse_definition(raw, "hazard/v2.yaml")


@pytest.fixture
def published_v2():
    v2 = hazard_v2()
    registry = default_registry().with_definition(v2)
    check_definitions(registry)
    set_registry(registry)
    try:
        yield v2
    finally:
        set_registry(None)
    assert engine.get_registry() is default_registry()


def test_publishing_v2_keeps_old_cases_on_v1(api, world, clock, published_v2):
    drv = HttpDriver(api, world, clock)
    # a case started before the new version was published
    set_registry(None)
    old = drv.drive("hazard", "registered")
    assert old["machine_version"] == 1
    set_registry(default_registry().with_definition(published_v2))

    c = drv.client(world.officer)
    listed = {m["kind"]: m for m in c.get("/api/state-machines").json()["items"]}
    assert listed["hazard"]["latest_version"] == 2 and listed["hazard"]["versions"] == [1, 2]
    m2 = c.get("/api/state-machines/hazard").json()
    assert m2["version"] == 2 and "suspended" in [s["name"] for s in m2["states"]]
    assert m2["digest"] != c.get("/api/state-machines/hazard", params={"version": 1}).json()["digest"]
    assert "rectifying --> suspended : 中止整改" in m2["mermaid"]

    new = drv.create("hazard")
    assert new["machine_version"] == 2
    new = drv.act(new, "register")
    new = drv.act(new, "start_rectification")
    assert "suspend" in new["allowed_actions"]
    new = drv.act(new, "suspend", reason="冬季停工")
    assert new["state"] == "suspended" and new["state_label"] == "中止整改"
    assert new["allowed_actions"] == ["assign", "comment", "resume"]
    new = drv.act(new, "resume")
    assert new["state"] == "rectifying"

    # the old case keeps v1 for life: no suspend, and the v1 path still works to the end
    old = drv.act(old, "start_rectification")
    assert old["machine_version"] == 1 and "suspend" not in old["allowed_actions"]
    r = drv.try_act(old, "suspend", fields={"reason": "x"})
    assert r.status_code == 404
    old = drv.act(old, "verify")
    old = drv.act(old, "close")
    assert old["state"] == "closed" and old["machine_version"] == 1
    assert [e["seq"] for e in drv.events(old)] == [1, 2, 3, 4, 5]
    # a hazard reclassified now becomes a major hazard on that kind's latest version (v2)
    again = drv.drive("hazard", "registered")
    again = drv.act(again, "reclassify")
    assert again["kind"] == "major_hazard" and again["machine_version"] == 2


def test_v1_cases_survive_a_registry_without_v2(api, world, clock):
    """After the test registry is dropped, v1 cases work as before (no state leaks between tests)."""
    assert isinstance(engine.get_registry(), MachineRegistry)
    assert engine.get_registry().versions("hazard") == [1]
    assert engine.get_registry().versions("major_hazard") == [1, 2]
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "closed")
    assert case["machine_version"] == 1
