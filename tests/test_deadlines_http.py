"""Deadlines, lights, listed supervision and the ladder, seen through the HTTP API while the
injected clock moves (the sweep is called directly here; tests/test_workflows.py runs it as
real Prefect flows)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from cases.clocks.sweep import fire_all_due
from cases.models import OutboxMessage, RungFiring
from tests.conftest import T0
from tests.evidence_files import upload_photo


def _hazard(api, world, **register):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "hazard", "title": "临边防护缺失", "project_id": world.p1.id}).json()
    body = {"enterprise_id": world.e1.id, "severity": "general", "requirements": "立即整改", **register}
    case = officer.act(case, "register", **body).json()
    return officer, case


def test_registration_sets_legal_deadline_and_green_light(api, world, clock):
    officer, case = _hazard(api, world)
    assert case["light"] == "green"
    [d] = case["deadlines"]
    # Registered Monday 2026-11-23 09:00 Beijing; a 7-day period is ≤10 days, so working days
    # (行政强制法 Art. 69), start day excluded → Wed 2 Dec 24:00 (not Mon 30 Nov: calendar days).
    assert d["key"] == "rectification" and d["due_date"] == "2026-12-02" and d["unit"] == "working_day"
    assert d["due_at"].startswith("2026-12-02T16:00:00")
    assert d["provisional"] is False
    r = officer.get(f"/api/cases/{case['id']}/events").json()["items"][-1]
    assert r["payload"]["deadlines"][0]["change"] == "opened"


def test_officer_override_within_limits(api, world):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "hazard", "title": "x", "project_id": world.p1.id}).json()
    r = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="x", rectification_days=500)
    assert r.status_code == 422 and "不能大于90" in r.json()["message"]
    case = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="x",
                       rectification_days=3).json()
    assert case["deadlines"][0]["due_date"] == "2026-11-26"


def test_light_moves_yellow_then_red_and_ladder_fires_once(api, world, clock, db):
    officer, case = _hazard(api, world)
    supervisor = api(world.supervisor)
    # Due Wed 2 Dec (7 working days); 3 working days before is Fri 27 Nov → yellow from 09:00 that day.
    clock.set(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert officer.get(f"/api/cases/{case['id']}").json()["light"] == "yellow"
    fire_all_due(db, clock.now())
    clock.set(datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc))  # past 2 Dec 24:00 Beijing
    listed = officer.get("/api/cases", params={"light": "red"}).json()
    assert [c["id"] for c in listed["items"]] == [case["id"]] and listed["items"][0]["light"] == "red"
    assert [c["id"] for c in supervisor.get("/api/overdue").json()["items"]] == [case["id"]]
    counts = supervisor.get("/api/stats/lights").json()
    assert counts["totals"]["red"] == 1
    fire_all_due(db, clock.now())
    fire_all_due(db, clock.now())  # a second sweep at the same instant does nothing more
    rungs = [e["rung"] for e in officer.get(f"/api/cases/{case['id']}/escalations").json()["items"]]
    # No sweep ran on the due day: its "今日到期" reminder is no longer true the day after, so it is
    # skipped with its reason (docs/legal-time.md "Late rungs"); the overdue warning speaks instead.
    assert rungs == ["remind_before", "overdue"]
    skipped = [e for e in officer.get(f"/api/cases/{case['id']}/events").json()["items"] if e["action"] == "rung_skipped"]
    assert [e["payload"]["rung"] for e in skipped] == ["remind_due_day"] and "届满" in skipped[0]["payload"]["reason"]
    # 5 working days after the due date (9 Dec) the city lists it: 挂牌督办 with a 督办通知书 number.
    clock.set(datetime(2026, 12, 9, 2, 0, tzinfo=timezone.utc))
    fire_all_due(db, clock.now())
    sups = supervisor.get("/api/supervisions").json()["items"]
    assert len(sups) == 1 and sups[0]["listing_authority"]["code"] == "320500"
    assert sups[0]["notice_no"] == "苏州建质督〔2026〕1号"
    detail = officer.get(f"/api/cases/{case['id']}").json()
    assert detail["supervision"]["status"] == "listed"
    with db.session() as s:
        per_rung = s.execute(select(RungFiring.deadline_id, RungFiring.rung, func.count()).group_by(
            RungFiring.deadline_id, RungFiring.rung)).all()
        assert all(n == 1 for *_, n in per_rung)
        keys = s.scalars(select(OutboxMessage.dedupe_key)).all()
        assert len(keys) == len(set(keys)) > 0
    # The supervision's own ladder ends in 提级: the case moves to the city.
    clock.set(datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc))
    fire_all_due(db, clock.now())
    detail = officer.get(f"/api/cases/{case['id']}").json()
    assert detail["jurisdiction"]["code"] == "320500"
    actions = [e["action"] for e in officer.get(f"/api/cases/{case['id']}/events").json()["items"]]
    assert actions.count("escalated") == 1 and actions.count("listed") == 1


def test_verification_meets_deadline_and_cancels_timers(api, world, clock, db):
    officer, case = _hazard(api, world)
    case = officer.act(case, "start_rectification").json()
    case = officer.act(case, "verify", opinion="整改到位").json()
    assert case["light"] == "none" and case["deadlines"] == []
    clock.advance(timedelta(days=60))
    assert fire_all_due(db, clock.now())["fired"] == 0


def test_extension_pauses_then_extends(api, world, clock):
    officer, case = _hazard(api, world)
    contact = api(world.contact)
    case = officer.act(case, "start_rectification").json()
    clock.advance(timedelta(days=2))
    case = contact.act(case, "request_extension", extension_days=5, reason="材料未到场").json()
    assert case["deadlines"][0]["paused"] is True and case["light"] == "green"
    clock.advance(timedelta(days=2))
    case = api(world.supervisor).act(case, "decide_extension", approved=True, approved_days=5).json()
    d = case["deadlines"][0]
    assert not d["paused"]
    # 7 working days + 2 paused working days + 5 extension days (the period's unit) from 23 Nov → Fri 11 Dec.
    assert d["due_date"] == "2026-12-11"


def test_major_hazard_listed_at_registration_and_lifted_by_listing_body(api, world, clock):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": "连墙件整层缺失", "project_id": world.p1.id}).json()
    case = officer.act(case, "register", enterprise_id=world.e1.id, hazard_item_code="7.2",
                       stop_work_scope="whole", requirements="停工整改").json()
    assert case["supervision"]["status"] == "listed" and case["supervision"]["listing_jurisdiction_code"] == "320500"
    sup_id = case["supervision"]["id"]
    supervisor = api(world.supervisor)
    r = supervisor.post(f"/api/supervisions/{sup_id}/lift", json={"opinion": "已整改"})
    assert r.status_code == 409 and "核查合格" in r.json()["message"]
    r = officer.post(f"/api/supervisions/{sup_id}/lift", json={"opinion": "已整改"})
    assert r.status_code == 403
    case = officer.act(case, "start_rectification", measures="m", funds=10, plan_deadline="2026-12-20",
                       responsible_person="王某", contingency_plan="p").json()
    upload_photo(api(world.contact), case["id"])  # 整改后 photo: 核查 needs one (major_hazard v2)
    case = api(world.contact).act(case, "apply_review", completion_report="完成").json()
    case = officer.act(case, "verify", opinion="合格", resume_work_approved=True).json()
    r = supervisor.post(f"/api/supervisions/{sup_id}/lift", json={"opinion": "现场核查合格，同意摘牌"})
    assert r.status_code == 200 and r.json()["status"] == "lifted"
    assert officer.get(f"/api/cases/{case['id']}").json()["supervision"] is None


def test_supervision_extension_request_and_decision(api, world, clock):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": "x", "project_id": world.p1.id}).json()
    case = officer.act(case, "register", enterprise_id=world.e1.id, hazard_item_code="8.5",
                       stop_work_scope="partial", requirements="r").json()
    sid = case["supervision"]["id"]
    r = officer.post(f"/api/supervisions/{sid}/extension", json={"days": 0, "reason": ""})
    assert r.status_code == 422
    r = officer.post(f"/api/supervisions/{sid}/extension", json={"days": 10, "reason": "专家论证"})
    assert r.status_code == 200 and r.json()["status"] == "extension_requested" and r.json()["deadline"]["paused"]
    assert officer.post(f"/api/supervisions/{sid}/extension/decision", json={"approved": True}).status_code == 403
    r = api(world.supervisor).post(f"/api/supervisions/{sid}/extension/decision", json={"approved": True, "days": 5})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "listed" and not body["deadline"]["paused"]
    assert body["history"][0]["granted_days"] == 5


def test_dangerous_building_d_grade_24_hour_clock(api, world, clock, db):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "dangerous_building", "title": "老公房", "building_id": world.b1.id}).json()
    case = officer.act(case, "register", appraisal_grade="D", appraisal_org="鉴定中心", appraisal_report_no="1",
                       appraised_on="2026-11-20", handling="stop_use").json()
    [d] = case["deadlines"]
    assert d["key"] == "stop_use" and d["due_at"].startswith("2026-11-24T01:00:00")
    clock.advance(timedelta(hours=25))
    assert officer.get(f"/api/cases/{case['id']}").json()["light"] == "red"
    fire_all_due(db, clock.now())
    with db.session() as s:
        urgent = s.scalars(select(OutboxMessage.urgent).where(OutboxMessage.template == "overdue_warning")).all()
    assert urgent and all(urgent)  # hour clocks are urgent: they ignore quiet hours


def test_accident_clocks_start_from_occurrence(api, world, clock):
    officer = api(world.officer)
    occurred = (T0 - timedelta(hours=3)).isoformat()
    case = officer.post("/api/cases", json={"kind": "accident", "title": "高处坠落", "project_id": world.p1.id,
                                            "occurred_at": occurred, "accident_type": "fall"}).json()
    keys = {d["key"]: d for d in case["deadlines"]}
    assert set(keys) >= {"report_up", "detailed_report", "investigation"}
    assert keys["detailed_report"]["due_at"].startswith("2026-11-24T22:00:00")  # 48 h after occurrence
    assert keys["investigation"]["due_date"] == "2027-01-22"  # 60 calendar days, start day excluded


def test_calendar_preview_and_year_load_recomputes_provisional(api, world, clock, db):
    officer = api(world.officer)
    r = officer.get("/api/calendar/deadline", params={"start": "2026-12-28T10:00:00+08:00", "amount": 5, "unit": "working_day"})
    body = r.json()
    assert r.status_code == 200 and body["provisional"] is True and body["due_date"] == "2027-01-04"
    bad = officer.get("/api/calendar/deadline", params={"amount": 5, "unit": "fortnight"})
    assert bad.status_code == 422
    # The preview of a deadline rule applies its unit: a rectification period of ≤10 days runs in
    # working days, a longer one in calendar days — the dates the case and its notice get.
    start = "2026-11-23T09:00:00+08:00"
    r = officer.get("/api/calendar/deadline", params={"start": start, "amount": 7, "rule": "hazard.rectification"}).json()
    assert (r["unit"], r["due_date"]) == ("working_day", "2026-12-02")
    r = officer.get("/api/calendar/deadline", params={"start": start, "amount": 15, "rule": "hazard.rectification"}).json()
    assert (r["unit"], r["due_date"]) == ("calendar_day", "2026-12-08")
    r = officer.get("/api/calendar/deadline", params={"amount": 7, "rule": "hazard.nothing"})
    assert r.status_code == 422 and "期限规则" in r.json()["message"]
    # A case whose deadline crosses into 2027 is provisional until the 2027 notice is loaded.
    clock.set(datetime(2026, 12, 28, 2, 0, tzinfo=timezone.utc))
    _, case = _hazard(api, world, rectification_days=5)
    assert case["deadlines"][0]["provisional"] is True and case["deadlines"][0]["due_date"] == "2027-01-04"
    notice = {"year": 2027, "notice": "测试用放假安排（非官方）", "days_off": ["2027-01-01", "2027-01-04"], "workdays": []}
    assert officer.post("/api/admin/calendar/years", json=notice).status_code == 403
    r = api(world.admin).post("/api/admin/calendar/years", json=notice)
    assert r.status_code == 200, r.text
    assert r.json()["deadlines_recomputed"] >= 1
    d = officer.get(f"/api/cases/{case['id']}").json()["deadlines"][0]
    # 5 days ≤ 10: working days. 29, 30, 31 Dec, then past 1 Jan (day off), the weekend and the (test)
    # day off 4 Jan: Tue 5 and Wed 6 Jan.
    assert d["provisional"] is False and d["due_date"] == "2027-01-06"
    events = [e["action"] for e in officer.get(f"/api/cases/{case['id']}/events").json()["items"]]
    assert "deadline_recomputed" in events
    r = api(world.admin).post("/api/admin/calendar/years", json={"year": 2027, "notice": "x", "days_off": ["2028-01-01"]})
    assert r.status_code == 422 and "2028" in r.json()["message"]


def test_my_queue_sorted_by_urgency(api, world, clock):
    officer = api(world.officer)
    _, slow = _hazard(api, world, severity="serious")            # 15 days
    _, fast = _hazard(api, world, rectification_days=2)          # 2 days
    clock.advance(timedelta(days=3))
    queue = officer.get("/api/queue").json()["items"]
    assert [c["id"] for c in queue][:2] == [fast["id"], slow["id"]]
    assert queue[0]["light"] == "red" and queue[1]["light"] == "green"


def test_late_reminders_are_skipped_alike_by_both_firing_paths(api, world, clock, db):
    """After an outage the bulk path (fire_all_due) and the per-timer path (fire_timer) apply the
    same rule: the stale reminders are skipped with their reason, the overdue rung fires once."""
    from cases.clocks.sweep import due_timers, fire_timer
    from cases.models import CaseEvent, Deadline, Timer

    _, bulk = _hazard(api, world, rectification_days=4)        # due Fri 27 Nov
    _, single = _hazard(api, world, rectification_days=4)
    clock.set(datetime(2026, 12, 7, 0, 0, tzinfo=timezone.utc))  # ten days later, nothing swept
    with db.transaction() as s:
        outcomes = [fire_timer(s, t, clock.now(), "test") for t in due_timers(s, clock.now(), 100)
                    if t.case_id == single["id"]]
    assert sorted(outcomes) == ["fired", "fired", "stale", "stale"]  # overdue + listing; two reminders skipped
    result = fire_all_due(db, clock.now())
    assert result["fired"] == 2 and result["stale"] == 2

    def story_of(case_id):
        with db.session() as s:
            timers = dict(s.execute(select(Timer.rung, Timer.status).join(Deadline, Deadline.id == Timer.deadline_id)
                                    .where(Timer.case_id == case_id, Deadline.key == "rectification")).all())
            events = [(e.action, e.payload["rung"], e.payload.get("reason")) for e in s.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action.in_(("rung_fired", "rung_skipped")))
                .order_by(CaseEvent.seq)) if e.payload["deadline"] == "整改期限"]
        return timers, events

    assert story_of(bulk["id"]) == story_of(single["id"])
    timers, events = story_of(bulk["id"])
    assert timers == {"remind_before": "skipped", "remind_due_day": "skipped", "overdue": "fired", "listing": "fired"}
    assert [a for a, *_ in events] == ["rung_skipped", "rung_skipped", "rung_fired", "rung_fired"]
    assert all("2026年11月27日" in reason for a, _, reason in events if a == "rung_skipped")
