"""重大险情 (dangerous_occurrence) over real HTTP: its life with the back-edges, its clocks, the line
between it and an accident (both directions), its number, and the ledger's filter and exports."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select

from cases.models import Deadline
from cases.reads.export import HEADERS
from state_machines.policies import load_policy
from tests.machine_paths import HttpDriver
from tests.test_lifecycle_http import check_log


def _clocks(case: dict) -> dict[str, str]:
    return {d["key"]: d["party"] for d in case["deadlines"]}


def test_life_with_reports_reject_close_and_reopen(api, db, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("dangerous_occurrence", title="3号楼外脚手架局部下沉变形")
    assert case["kind_label"] == "重大险情" and case["state_label"] == "已快报"
    assert case["number"] == "320508-XQ-2026-000001"
    assert case["details"]["occurrence_type"] == "scaffolding" and case["details"]["evacuated"] == 12
    # the report clocks and the 核查 clock run from the 快报
    labels = {d["key"]: d["label"] for d in case["deadlines"]}
    assert labels == {"flash_report": "险情快报上报（2小时）", "written_report": "书面报告（24小时）",
                      "verification": "核查期限（5个工作日）"}
    assert set(_clocks(case).values()) == {"officer"}
    assert case["allowed_actions"] == ["report_up", "submit_written_report", "register", "dismiss", "reclassify",
                                       "assign", "comment"]
    assert drv.get(case, world.contact)["allowed_actions"] == ["comment"]

    clock.advance(timedelta(hours=1))
    case = drv.act(case, "report_up", reported_to="苏州市住房和城乡建设局")
    assert case["details"]["flash_report"]["text"] == "苏州市住房和城乡建设局"
    assert "flash_report" not in _clocks(case)
    again = drv.try_act(case, "report_up", reported_to="苏州市住房和城乡建设局")
    assert again.status_code == 409 and "不能重复上报" in again.json()["message"], again.text
    case = drv.act(case, "submit_written_report", written_report="9时40分3号楼外架东侧立杆下沉约15厘米……")
    assert set(_clocks(case)) == {"verification"}

    clock.advance(timedelta(days=1))
    case = drv.act(case, "register", deaths=0, serious_injuries=0, minor_injuries=1, direct_loss=80000,
                   finding="现场核查属实，立杆基础被雨水浸泡下沉")
    assert case["state"] == "registered" and case["enterprise"]["id"] == world.e1.id
    assert case["assignee"]["id"] == world.officer.id and case["deadlines"] == []

    case = drv.act(case, "start_rectification", measures_required="拆除变形架体，重新做基础并验收", rectification_days=7)
    [rect] = case["deadlines"]
    assert (rect["key"], rect["party"], rect["amount"], rect["unit"]) == ("rectification", "enterprise", 7, "working_day")
    assert set(drv.get(case, world.contact)["allowed_actions"]) == {"report_completion", "comment"}
    case = drv.act(case, "report_completion", world.contact, completion_report="已拆除重搭并经验收")
    assert _clocks(case) == {"reinspection": "officer"}
    case = drv.act(case, "reject", opinion="连墙件仍未补齐", rectification_days=5)
    assert case["rectification_rounds"] == 1 and _clocks(case) == {"rectification": "enterprise"}
    case = drv.act(case, "report_completion", world.contact, completion_report="连墙件已补齐")
    case = drv.act(case, "verify", opinion="险情已排除，整改到位")
    assert case["state"] == "verified" and case["deadlines"] == []
    case = drv.act(case, "close", lessons="全市在建项目开展脚手架基础专项检查")
    assert case["state"] == "closed" and case["final"] and case["closed_at"]
    assert case["allowed_actions"] == ["reopen", "comment"]
    case = drv.act(case, "reopen", reason="回头看发现架体再次下沉")
    assert case["state"] == "rectifying" and case["reopen_count"] == 1 and _clocks(case) == {"rectification": "enterprise"}

    check_log(drv.events(case), [
        ("create", None, "found", "officer"),
        ("report_up", "found", "found", "officer"),
        ("submit_written_report", "found", "found", "officer"),
        ("register", "found", "registered", "officer"),
        ("start_rectification", "registered", "rectifying", "officer"),
        ("report_completion", "rectifying", "rectifying", "contact"),
        ("reject", "rectifying", "rectifying", "officer"),
        ("report_completion", "rectifying", "rectifying", "contact"),
        ("verify", "rectifying", "verified", "officer"),
        ("close", "verified", "closed", "officer"),
        ("reopen", "closed", "rectifying", "officer"),
    ])
    # the clocks were opened under the latest policy version, the one holding the kind's rules
    with db.session() as s:
        versions = set(s.scalars(select(Deadline.policy_version).where(Deadline.case_id == case["id"])))
    assert versions == {load_policy().version} and load_policy().version >= 2


def test_dismissed_when_the_report_is_not_true(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("dangerous_occurrence")
    case = drv.act(case, "dismiss", reason="经核查为正常沉降观测，不属于险情")
    assert case["state"] == "dismissed" and case["final"] and case["deadlines"] == []
    assert case["allowed_actions"] == ["comment"]


def test_an_accident_is_not_a_dangerous_occurrence(api, world, clock):
    """A death, a serious injury or a loss of 1 M is an accident: refused, naming the field and pointing
    to 生产安全事故 — at creation, and at 核查 (then to its reclassification)."""
    drv = HttpDriver(api, world, clock)
    off = drv.client(world.officer)
    from tests.machine_paths import create_payload

    for facts, field in (({"deaths": 1}, "deaths"), ({"serious_injuries": 2}, "serious_injuries"),
                         ({"direct_loss": 1_000_000}, "direct_loss")):
        r = off.post("/api/cases", json=create_payload("dangerous_occurrence", world, clock, **facts))
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["field"] == field
        assert "属于房屋市政工程生产安全事故，不属于重大险情" in error["message"]
        assert "请按“生产安全事故”报告" in error["message"]
    assert off.get("/api/cases?kind=dangerous_occurrence").json()["total"] == 0
    # just below the line it is a 重大险情
    ok = drv.create("dangerous_occurrence", direct_loss=999_999, minor_injuries=3)
    assert ok["state"] == "found"

    # 核查 finds a serious injury: refused, pointing to 认定为生产安全事故; nothing written
    before = drv.get(ok)
    r = drv.try_act(ok, "register", serious_injuries=1)
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "serious_injuries" and "认定为生产安全事故" in error["message"]
    assert drv.get(ok) == before


def test_reclassified_as_an_accident(api, db, world, clock, fresh_data_settings):
    """认定为生产安全事故: refused on a 险情's facts; on a death the case becomes an accident (SG number,
    the XQ number kept as 原编号), the 险情 clocks end and the accident's start."""
    drv = HttpDriver(api, world, clock)
    case = drv.drive("dangerous_occurrence", "registered")
    number = case["number"]
    r = drv.try_act(case, "reclassify", deaths=0, serious_injuries=0, direct_loss=50_000, accident_type="collapse")
    assert r.status_code == 422 and "未达到生产安全事故标准" in r.json()["errors"][0]["message"], r.text

    clock.advance(timedelta(hours=3))
    case = drv.act(case, "reclassify", deaths=1, serious_injuries=0, direct_loss=0, accident_type="fall",
                   reason="一名受伤工人经抢救无效死亡")
    assert case["kind"] == "accident" and case["kind_label"] == "生产安全事故" and case["state"] == "found"
    assert case["number"].startswith("320508-SG-2026-") and case["previous_numbers"] == [number]
    keys = {d["key"] for d in case["deadlines"]}
    assert {"report_up", "detailed_report", "investigation"} <= keys
    assert not keys & {"flash_report", "written_report", "verification", "rectification"}
    # the 事故快报 goes up as for an accident reported as one, numbered at once
    docs = drv.client(world.officer).get(f"/api/cases/{case['id']}/documents").json()["items"]
    assert [(d["doc_type"], d["number"]) for d in docs] == [("accident_flash_report", "姑苏建质快〔2026〕1号")]
    from cases.models import Document
    from notifications.documents.store import read_stored, render_pending_documents

    render_pending_documents(db, clock.now(), settings=fresh_data_settings)
    with db.session() as s:
        doc = s.scalars(select(Document).where(Document.case_id == case["id"])).one()
        s.expunge(doc)
    assert doc.status == "rendered", doc.error
    html = read_stored(doc, fresh_data_settings, "html").decode()
    for text in ("事故快报", "高处坠落", "死亡1人", "事故等级待核定", "原编号", number):
        assert text in html, text
    # now it follows the accident machine: 定级上报 grades it
    case = drv.act(case, "register", deaths=1, serious_injuries=0, direct_loss=0)
    assert case["state"] == "registered" and case["accident_grade"] == "ordinary"
    rec = next(e for e in drv.events(case) if e["action"] == "reclassify")
    assert rec["payload"]["reclassified"]["from"] == "dangerous_occurrence"
    assert rec["payload"]["reclassified"]["to"] == "accident"


def test_the_accident_refusal_points_to_a_dangerous_occurrence(api, world, clock):
    drv = HttpDriver(api, world, clock)
    acc = drv.create("accident")
    r = drv.try_act(acc, "register", deaths=0, serious_injuries=0, direct_loss=300_000)
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].endswith("不属于房屋市政工程生产安全事故，可按重大险情报告")


def test_the_ledger_lists_filters_and_exports_it(api, world, clock):
    """台账 of 重大事故隐患、非亡人事故和重大险情: the kind filter, several kinds at once, both exports."""
    drv = HttpDriver(api, world, clock)
    off = drv.client(world.officer)
    occurrence = drv.create("dangerous_occurrence", title="塔吊顶升过程中标准节螺栓断裂")
    drv.create("major_hazard")
    drv.create("hazard")
    listed = off.get("/api/cases?kind=dangerous_occurrence").json()
    assert [c["id"] for c in listed["items"]] == [occurrence["id"]]
    assert listed["items"][0]["kind_label"] == "重大险情"
    both = off.get("/api/cases?kind=major_hazard,dangerous_occurrence").json()
    assert {c["kind"] for c in both["items"]} == {"major_hazard", "dangerous_occurrence"}
    r = off.get("/api/cases?kind=bogus")
    assert r.status_code == 422 and "dangerous_occurrence（重大险情）" in r.text

    r = off.get("/api/cases/export.csv?kind=dangerous_occurrence")
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(HEADERS) and len(rows) == 2
    row = dict(zip(HEADERS, rows[1]))
    assert (row["案件编号"], row["类型"], row["状态"], row["标题"]) == \
        (occurrence["number"], "重大险情", "已快报", "塔吊顶升过程中标准节螺栓断裂")
    assert row["工程项目"] == world.p1.name and row["红黄绿灯"] and row["类别"] == "脚手架险情"
    r = off.get("/api/cases/export.xlsx?kind=major_hazard,dangerous_occurrence")
    assert r.status_code == 200
    # every kind's category in the one 类别 column: 隐患类别, 险情类型; none for a major hazard
    r = off.get("/api/cases/export.csv")
    rows = [dict(zip(HEADERS, row)) for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline=""))][1:]
    assert {(row["类型"], row["类别"]) for row in rows} == {
        ("重大险情", "脚手架险情"), ("重大事故隐患", ""), ("一般安全隐患", "脚手架工程")}


def test_the_machine_api_says_how_to_create_one(api, world):
    m = api(world.officer).get("/api/state-machines/dangerous_occurrence").json()
    assert (m["label"], m["short_label"], m["number_code"]) == ("重大险情", "险情", "XQ")
    assert m["creation"]["omit"] == ["building_id"] and m["creation"]["see_also"][0]["kind"] == "accident"
    assert "occurrence_type" in [f["name"] for f in m["create_fields"]]


def test_the_cockpit_counts_it_in_its_own_column(api, world, clock):
    drv = HttpDriver(api, world, clock)
    drv.create("dangerous_occurrence")
    r = drv.client(world.supervisor).get("/api/stats/lights")
    assert r.status_code == 200, r.text
    assert "dangerous_occurrence" in r.text


# ---------------------------------------------------------------- what makes a kind data only


def test_every_kind_comes_from_the_machine_data():
    """The lists that name kinds are derived from the loaded definitions: the API's CaseCreate.kind,
    the digest's short names, the creation form's fields."""
    from api.routes.cases import CaseCreate
    from cases.ledger.engine import get_registry
    from notifications.rendering.filters import case_kind

    registry = get_registry()
    assert CaseCreate.model_json_schema()["properties"]["kind"]["enum"] == registry.kinds()
    assert {k: case_kind(k) for k in registry.kinds()} == {
        "hazard": "一般隐患", "major_hazard": "重大隐患", "accident": "事故", "dangerous_building": "危房",
        "dangerous_occurrence": "险情", "self_hazard": "企业自查"}
    building = registry.latest("dangerous_building").creation
    assert (building.omit, building.require) == (("project_id", "enterprise_id"), ("building_id",))
    assert registry.latest("dangerous_occurrence").creation.omit == ("building_id",)


def test_a_creation_block_naming_nothing_known_fails_at_start_up():
    import pytest

    from cases.ledger.engine import check_definitions, get_registry
    from state_machines.loader import DefinitionError, parse_definition
    import yaml
    from state_machines.loader import DEFINITIONS_DIR

    raw = yaml.safe_load((DEFINITIONS_DIR / "dangerous_occurrence" / "v1.yaml").read_text(encoding="utf-8"))
    for creation, problem in (({"checks": ["no_such_check"]}, "unknown check"),
                              ({"see_also": [{"kind": "ufo", "text": "…"}]}, "unknown kind"),
                              ({"require": ["category"]}, "not a common creation field")):
        d = parse_definition({**raw, "version": 2, "creation": creation})
        with pytest.raises(ValueError, match=problem):
            check_definitions(get_registry().with_definition(d))
    with pytest.raises(DefinitionError, match="unknown keys"):
        parse_definition({**raw, "creation": {"hide": ["project_id"]}})


def test_a_policy_version_states_only_what_it_adds(tmp_path):
    """deadlines-v2 ``extends: 1``: v1's rules stay as they were, v2 adds the kind's; a version with no
    escalation file of its own takes the one before; new deadlines are opened under the latest."""
    import shutil

    import pytest

    from state_machines.policies import POLICY_DIR, latest_version, load_policy

    v1, v2 = load_policy(1), load_policy(2)
    assert latest_version() == load_policy().version >= 2
    assert v1.rules_for("dangerous_occurrence") == () and "report" not in v1.ladders
    assert [r.key for r in v2.rules_for("dangerous_occurrence")] == \
        ["flash_report", "written_report", "verification", "rectification", "reinspection"]
    for kind in ("hazard", "major_hazard", "dangerous_building"):  # v1's rules untouched by v2 (which adds
        assert v2.rules_for(kind)[:len(v1.rules_for(kind))] == v1.rules_for(kind)  # complaint_reply to some)
    assert v1.rule("accident", "report_up").start_on == ("create",)
    assert v2.rule("accident", "report_up").start_on == ("create", "reclassify")
    assert v2.rule("accident", "report_up").amount == v1.rule("accident", "report_up").amount  # merged, not replaced
    assert v2.supervision == v1.supervision and v2.letters == v1.letters
    assert [r.rung for r in v2.ladder("report")] == ["remind_before", "overdue", "supervise"]

    for name in ("deadlines-v1.yaml", "escalation-v1.yaml", "deadlines-v2.yaml", "escalation-v2.yaml"):
        shutil.copy(POLICY_DIR / name, tmp_path / name)
    (tmp_path / "deadlines-v3.yaml").write_text("version: 3\nextends: 2\nkinds: {hazard: {lookback: {amount: 60}}}\n",
                                                encoding="utf-8")
    v3 = load_policy(directory=tmp_path)
    assert v3.version == 3 and v3.rule("hazard", "lookback").amount == 60 and v3.rule("hazard", "lookback").label == "回头看"
    assert v3.ladders == v2.ladders  # no escalation-v3: v2's ladders
    (tmp_path / "deadlines-v4.yaml").write_text("version: 4\nextends: 4\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not an earlier version"):
        load_policy(directory=tmp_path)


def test_the_flash_report_needs_a_place(api, world, clock):
    """上报险情快报 issues the 险情快报: without a 地点 (none typed, no project) it is refused naming the
    field — no report that could never be printed; with one it is numbered at once."""
    drv = HttpDriver(api, world, clock)
    case = drv.create("dangerous_occurrence", location="", project_id=None)
    r = drv.try_act(case, "report_up", reported_to="苏州市住房和城乡建设局")
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["location"]
    assert drv.get(case)["version"] == case["version"]
    case = drv.create("dangerous_occurrence")
    case = drv.act(case, "report_up", reported_to="苏州市住房和城乡建设局")
    docs = drv.client(world.officer).get(f"/api/cases/{case['id']}/documents").json()["items"]
    assert [(d["doc_type"], d["title"], d["number"]) for d in docs] == \
        [("occurrence_flash_report", "险情快报", "姑苏建质险〔2026〕1号")]
