"""Credit records (不良行为记录): each cause recorded once from the ledger and both firing paths,
the score derived from the records in force, the appeal trail, thresholds and the sweep's lifting,
the public exposure list and its export (cases/credit/, docs/credit.md)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
from sqlalchemy import select

from cases.clocks.sweep import fire_due_batch
from cases.credit import causes, services as credit, sweep as credit_sweep
from cases.models import CreditListing, CreditRecord, CreditRecordEvent, Enterprise
from state_machines.credit_policy import credit_policy, load_credit_policy
from tests.machine_paths import HttpDriver, ServiceDriver


def _records(db, enterprise_id):
    with db.session() as s:
        rows = list(s.scalars(select(CreditRecord).where(CreditRecord.enterprise_id == enterprise_id).order_by(CreditRecord.id)))
        s.expunge_all()
        return rows


def _cached_score(db, enterprise_id):
    with db.session() as s:
        return s.scalar(select(Enterprise.credit_score).where(Enterprise.id == enterprise_id))


def _major_hazard(drv, world):
    case = drv.create("major_hazard", title="外架连墙件缺失", hazard_item_code="7.2")
    return drv.act(case, "register", fields={"enterprise_id": world.e1.id, "hazard_item_code": "7.2",
                                             "stop_work_scope": "whole", "requirements": "立即停止外架作业",
                                             "rectification_days": 30})


def test_major_hazard_records_once_under_the_table_and_the_score_follows(api, world, clock, db):
    drv = HttpDriver(api, world, clock)
    case = _major_hazard(drv, world)
    body = drv.client(world.officer).get(f"/api/enterprises/{world.e1.id}/credit").json()
    assert body["score"] == 90 and body["base_score"] == 100
    [rec] = body["records"]
    assert (rec["cause"], rec["item_code"], rec["table_version"], rec["points"]) == ("major_hazard", "XY-01", credit_policy().version, 10)
    assert rec["case"]["id"] == case["id"] and rec["authority_name"] == "苏州市姑苏区住房和城乡建设局"
    assert rec["valid_from"] == "2026-11-23" and rec["valid_until"] == "2027-05-22"
    assert rec["document"]["number"]  # the case's 责令停工通知书, derived after commit
    assert [e["action"] for e in rec["events"]] == ["recorded"]
    assert _cached_score(db, world.e1.id) == 90  # the cache, recomputed from the records
    # the same cause again (a retry, a re-registration, the reclassify path) records nothing more
    with db.transaction() as s:
        from cases.models import Case
        c = s.get(Case, case["id"])
        assert causes.record_major_hazard(s, c, world.e1.id, "320508", clock.now()) is None
    assert len(_records(db, world.e1.id)) == 1 and _cached_score(db, world.e1.id) == 90
    # an enterprise contact reads its own credit; another county's officer does not see it
    assert drv.client(world.contact).get(f"/api/enterprises/{world.e1.id}/credit").json()["score"] == 90
    assert drv.client(world.officer_wz).get(f"/api/enterprises/{world.e1.id}/credit").status_code == 404
    assert drv.client(world.contact).get(f"/api/enterprises/{world.e2.id}/credit").status_code == 404


def test_overdue_rectification_records_once_on_the_bulk_path(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    bulk_case = drv.create("hazard", title="临边防护缺失")
    drv.act(bulk_case, "register", payload={"enterprise_id": world.e1.id, "severity": "general", "rectification_days": 1,
                                            "requirements": "补设临边防护"})
    other = drv.create("hazard", title="配电箱无门")
    drv.act(other, "register", payload={"enterprise_id": world.e2.id, "severity": "general", "rectification_days": 1,
                                            "requirements": "更换配电箱"})
    clock.set(clock.now() + timedelta(days=4))
    fire_due_batch(db, clock.now(), worker="t")
    [rec] = [r for r in _records(db, world.e1.id) if r.cause == "overdue_rectification"]
    assert rec.document_number and rec.case_id == bulk_case and rec.points == 5
    assert rec.source_key.startswith("rung:") and rec.source_key.endswith(":overdue")
    clock.set(clock.now() + timedelta(days=1))
    # the same firing reported again by either path records nothing more
    with db.transaction() as s:
        deadline_id = int(rec.source_key.split(":")[1])
        assert causes.record_rung_firings(s, [(bulk_case, deadline_id, "rectification", "overdue", "rectification")],
                                          clock.now()) == 0
    assert len([r for r in _records(db, world.e1.id) if r.cause == "overdue_rectification"]) == 1
    # e2's hazard in the same batch: its own record, its own 警示函
    e2 = [r for r in _records(db, world.e2.id) if r.cause == "overdue_rectification"]
    assert len(e2) == 1 and e2[0].document_number and e2[0].document_number != rec.document_number


def test_per_timer_path_records_the_overdue_rung(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    case = drv.create("hazard", title="临边防护缺失")
    drv.act(case, "register", payload={"enterprise_id": world.e1.id, "severity": "general", "rectification_days": 1,
                                       "requirements": "补设临边防护"})
    clock.set(clock.now() + timedelta(days=4))
    counts = fire_due_batch(db, clock.now(), worker="t", crash_after=10_000)  # the per-timer path only
    assert counts["fired"] >= 1
    [rec] = [r for r in _records(db, world.e1.id) if r.cause == "overdue_rectification"]
    assert rec.document_number and _cached_score(db, world.e1.id) == 95
    fire_due_batch(db, clock.now(), worker="t", crash_after=10_000)
    assert len(_records(db, world.e1.id)) == 1


def test_accident_graded_then_regraded_changes_the_same_record(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    case = drv.create("accident", title="高处坠落事故")
    payload = {"enterprise_id": world.e1.id, "deaths": 1, "serious_injuries": 0, "minor_injuries": 0, "direct_loss": 0,
               "cause": "临边防护缺失"}
    drv.act(case, "register", payload=payload, user=world.supervisor)
    [rec] = _records(db, world.e1.id)
    assert (rec.cause, rec.points, rec.item_code) == ("accident_ordinary", 15, "XY-02-1")
    assert "一般事故" in rec.summary and _cached_score(db, world.e1.id) == 85
    drv.act(case, "update_casualties", payload={"deaths": 3, "serious_injuries": 0, "direct_loss": 0}, user=world.supervisor)
    [rec] = _records(db, world.e1.id)
    assert (rec.cause, rec.points, rec.original_points) == ("accident_larger", 30, 15)
    with db.session() as s:
        trail = [(e.action, e.points_before, e.points_after) for e in s.scalars(
            select(CreditRecordEvent).where(CreditRecordEvent.record_id == rec.id).order_by(CreditRecordEvent.id))]
    assert trail == [("recorded", None, 15), ("regraded", 15, 30)]
    assert _cached_score(db, world.e1.id) == 70


def test_missed_detailed_report_is_recorded_when_its_clock_runs_out_and_once_when_filed_late(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    case = drv.create("accident", title="物体打击事故")
    drv.act(case, "register", payload={"enterprise_id": world.e1.id, "deaths": 1, "serious_injuries": 0,
                                       "minor_injuries": 0, "direct_loss": 0}, user=world.supervisor)
    clock.set(clock.now() + timedelta(hours=60))
    fire_due_batch(db, clock.now(), worker="t")
    late = [r for r in _records(db, world.e1.id) if r.cause == "late_report"]
    assert len(late) == 1 and "漏报" in late[0].summary and "详细报告" in late[0].summary
    drv.act(case, "submit_detailed_report", payload={"detailed_report": "补报详细情况"}, user=world.supervisor)
    assert len([r for r in _records(db, world.e1.id) if r.cause == "late_report"]) == 1


def test_a_report_filed_late_before_the_sweep_is_recorded_as_late(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    case = drv.create("accident", title="坍塌事故")
    drv.act(case, "register", payload={"enterprise_id": world.e1.id, "deaths": 1, "serious_injuries": 0,
                                       "minor_injuries": 0, "direct_loss": 0}, user=world.supervisor)
    clock.set(clock.now() + timedelta(hours=60))  # no sweep ran: the action itself finds the clock met late
    drv.act(case, "submit_detailed_report", payload={"detailed_report": "详细情况"}, user=world.supervisor)
    [late] = [r for r in _records(db, world.e1.id) if r.cause == "late_report"]
    assert "迟报" in late.summary


def test_appeal_and_decision_with_their_trail(api, world, clock, db):
    drv = HttpDriver(api, world, clock)
    _major_hazard(drv, world)
    [rec] = _records(db, world.e1.id)
    contact, officer = drv.client(world.contact), drv.client(world.officer)
    # only the enterprise's contact appeals; the reason is required (422 naming the field)
    assert officer.post(f"/api/credit-records/{rec.id}/appeal", json={"reason": "x"}).status_code == 403
    r = contact.post(f"/api/credit-records/{rec.id}/appeal", json={"reason": ""})
    assert r.status_code == 422 and "申诉理由" in r.text
    # deciding before any appeal: 409
    assert officer.post(f"/api/credit-records/{rec.id}/decision",
                        json={"outcome": "upheld", "reason": "事实清楚"}).status_code == 409
    r = contact.post(f"/api/credit-records/{rec.id}/appeal", json={"reason": "隐患当日已整改完毕"})
    assert r.status_code == 200 and r.json()["status"] == "appealed", r.text
    # another county's officer may not decide; a correction must lower the points
    assert drv.client(world.officer_wz).post(f"/api/credit-records/{rec.id}/decision",
                                             json={"outcome": "upheld", "reason": "维持"}).status_code == 404
    r = officer.post(f"/api/credit-records/{rec.id}/decision", json={"outcome": "corrected", "reason": "情节较轻", "points": 10})
    assert r.status_code == 422 and "更正后分值" in r.text
    r = officer.post(f"/api/credit-records/{rec.id}/decision", json={"outcome": "corrected", "reason": "情节较轻", "points": 6})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "active" and out["points"] == 6 and out["original_points"] == 10 and out["table_version"] == credit_policy().version
    assert [(e["action"], e["points_before"], e["points_after"], (e["actor"] or {}).get("name")) for e in out["events"]] == [
        ("recorded", None, 10, "officer"), ("appealed", 10, 10, "contact"), ("corrected", 10, 6, "officer")]
    assert officer.get(f"/api/enterprises/{world.e1.id}/credit").json()["score"] == 94 == _cached_score(db, world.e1.id)
    # one appeal per record
    assert contact.post(f"/api/credit-records/{rec.id}/appeal", json={"reason": "再次申诉"}).status_code == 409


def test_refusal_to_stop_work_is_recorded_by_staff_with_the_case(api, world, clock, db):
    drv = HttpDriver(api, world, clock)
    hazard = drv.create("hazard", title="一般隐患")
    officer = drv.client(world.officer)
    r = officer.post("/api/credit-records", json={"case_id": hazard["id"], "cause": "refused_stop_work", "facts": "拒不停工"})
    assert r.status_code == 409 and "停工" in r.json()["message"]
    case = _major_hazard(drv, world)
    r = officer.post("/api/credit-records", json={"case_id": case["id"], "cause": "refused_stop_work", "facts": ""})
    assert r.status_code == 422 and "事实经过" in r.text
    r = officer.post("/api/credit-records", json={"case_id": case["id"], "cause": "refused_stop_work",
                                                  "facts": "11月23日复查发现仍在进行外架作业"})
    assert r.status_code == 201, r.text
    assert r.json()["points"] == 20 and r.json()["document"]["number"] and "仍在进行外架作业" in r.json()["summary"]
    again = officer.post("/api/credit-records", json={"case_id": case["id"], "cause": "refused_stop_work", "facts": "再次"})
    assert again.status_code == 409
    assert drv.client(world.contact).post("/api/credit-records", json={
        "case_id": case["id"], "cause": "refused_stop_work", "facts": "x"}).status_code == 403
    assert drv.client(world.officer_wz).post("/api/credit-records", json={
        "case_id": case["id"], "cause": "refused_stop_work", "facts": "x"}).status_code == 404


def _record(db, clock, enterprise_id, cause, key):
    with db.transaction() as s:
        return credit.record_cause(s, enterprise_id=enterprise_id, cause=cause, source_key=key, authority_code="320506",
                                   now=clock.now(), summary=f"测试：{cause}").id


def test_thresholds_list_and_the_sweep_lifts_once_when_the_period_ends(api, world, clock, db):
    _record(db, clock, world.e2.id, "refused_stop_work", "t:1")    # 80 → exposure (≤85)
    with db.session() as s:
        assert [lst.list for lst in s.scalars(select(CreditListing))] == ["exposure"]
    _record(db, clock, world.e2.id, "overdue_rectification", "t:2")  # 75
    _record(db, clock, world.e2.id, "interview", "t:3")              # 70 → blacklist (≤70)
    with db.session() as s:
        listings = {lst.list: lst for lst in s.scalars(select(CreditListing))}
    assert set(listings) == {"exposure", "blacklist"} and listings["blacklist"].score == 70
    assert "未按期完成隐患整改" in listings["blacklist"].reason
    anon = api(None)
    public = anon.get("/api/public/exposure").json()
    assert [i["enterprise_name"] for i in public["items"]] == ["吴中第二建筑有限公司"]
    assert set(public["items"][0]) == {"enterprise_name", "credit_code", "causes", "score", "listed_on", "until",
                                       "authority_name"}
    assert "拒不执行停工指令" in public["items"][0]["causes"]
    csv_r = anon.get("/api/public/exposure/export.csv")
    assert csv_r.content.startswith("\ufeff".encode()) and "attachment" in csv_r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
    assert rows[0][1] == "企业名称" and rows[1][1] == "吴中第二建筑有限公司"
    wb = openpyxl.load_workbook(io.BytesIO(anon.get("/api/public/exposure/export.xlsx").content))
    assert wb.active["B2"].value == "吴中第二建筑有限公司" and wb.active.title == "曝光名单"
    page = anon.get("/public/exposure")
    assert page.status_code == 200 and "吴中第二建筑有限公司" in page.text and "2026年11月23日" in page.text
    # the staff list, within the subtree
    assert [i["enterprise"]["name"] for i in api(world.officer_wz).get("/api/credit-listings?list=blacklist").json()["items"]] \
        == ["吴中第二建筑有限公司"]
    assert api(world.officer).get("/api/credit-listings").json()["items"] == []
    # day 91: the overdue and 约谈 records expired (90 days) → 80; the exposure period (90 days) ended
    # but 80 still reaches its threshold, so it stays; the blacklist period (180 days) runs on
    clock.set(clock.now() + timedelta(days=91))
    assert credit_sweep.sweep(db, clock.now()) == {"credit_expired": 2, "credit_lifted": 0}
    assert _cached_score(db, world.e2.id) == 80
    # day 181: the refusal expires (180 days) → 100; both lists lifted, once
    clock.set(clock.now() + timedelta(days=90))
    assert credit_sweep.sweep(db, clock.now()) == {"credit_expired": 1, "credit_lifted": 2}
    assert credit_sweep.sweep(db, clock.now()) == {"credit_expired": 0, "credit_lifted": 0}
    assert anon.get("/api/public/exposure").json()["items"] == []
    history = api(world.officer_wz).get("/api/credit-listings?active=false").json()["items"]
    assert {h["list"] for h in history} == {"exposure", "blacklist"}
    assert all(not h["active"] and "列入期限届满" in h["lifted_reason"] for h in history)
    with db.session() as s:
        assert s.scalar(select(CreditRecordEvent.action).where(CreditRecordEvent.action == "expired").limit(1)) == "expired"


def test_a_new_table_version_applies_to_new_records_and_never_rewrites_past_ones(db, world, clock, tmp_path, monkeypatch):
    v1 = load_credit_policy(1)
    monkeypatch.setattr(credit, "credit_policy", lambda version=None: v1)  # installed: version 1
    first = _record(db, clock, world.e2.id, "interview", "v:1")
    (tmp_path / "credit-v2.yaml").write_text(
        open("state_machines/policies/credit-v1.yaml", encoding="utf-8").read()
        .replace("version: 1", "version: 2").replace("points: 5, validity_days: 90}\n  refused", "points: 8, validity_days: 90}\n  refused"),
        encoding="utf-8")
    v2 = load_credit_policy(2, tmp_path)
    assert v2.item("interview").points == 8 and v1.item("interview").points == 5
    monkeypatch.setattr(credit, "credit_policy", lambda version=None: v1 if version == 1 else v2)
    second = _record(db, clock, world.e2.id, "interview", "v:2")
    with db.session() as s:
        a, b = s.get(CreditRecord, first), s.get(CreditRecord, second)
        assert (a.table_version, a.points) == (1, 5) and (b.table_version, b.points) == (2, 8)
    assert _cached_score(db, world.e2.id) == 87


def test_table_v2_only_adds_the_missed_commitment_item():
    """credit-v2.yaml: v1's items, rungs and thresholds unchanged, plus 未履行约谈承诺事项 (XY-07)."""
    v1, v2 = load_credit_policy(1), load_credit_policy(2)
    assert set(v2.items) - set(v1.items) == {"commitment_missed"}
    assert all(v2.items[c] == i for c, i in v1.items.items())
    assert v2.rungs == v1.rungs and v2.thresholds == v1.thresholds and v2.base_score == v1.base_score
    assert (v2.item("commitment_missed").code, v2.item("commitment_missed").points) == ("XY-07", 5)
