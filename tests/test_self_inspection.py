"""Enterprise self-inspection (自查自纠, docs/self-inspection.md): a contact records its own unit's
hazard on one of its own projects; rectified in time with a 整改后 photo it never enters the
ladder; left overdue the sweep hands it over — once — as an ordinary hazard on the regulator's ledger."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from cases.clocks.sweep import fire_due_batch
from cases.models import Case, Deadline, OutboxMessage, RungFiring
from state_machines.policies import load_policy
from tests.evidence_files import PHOTO_REFUSAL, upload_photo


def record(api, world, **extra):
    body = {"kind": "self_hazard", "title": "2号楼外架剪刀撑缺失", "description": "2号楼东侧外架8-10层剪刀撑未连续设置",
            "location": "2号楼东侧外架", "project_id": world.p1.id, "severity": "general", "rectification_days": 5,
            "category": "scaffolding", "measures": "补设剪刀撑，班组交底", **extra}
    return api(world.contact).post("/api/cases", json=body)


def sweep_twice(db, clock, *, per_timer: bool = False) -> list[dict]:
    """The real sweep, run twice at the same instant (``per_timer``: only the one-by-one path)."""
    kw = {"crash_after": 10**6} if per_timer else {}
    return [fire_due_batch(db, clock.now(), worker="test", **kw) for _ in range(2)]


def test_policy_v2_keeps_every_v1_rule_and_ladder():
    v1, v2 = load_policy(1), load_policy(2)
    # (that v2 changes no v1 rule but to add: tests/test_complaint_policy.py)
    for name, ladder in v1.ladders.items():
        assert v2.ladders[name] == ladder, name
    assert v1.supervision == v2.supervision and v1.letters == v2.letters
    [rule] = v2.rules_for("self_hazard")
    assert rule.party == "self" and rule.ladder == "self_inspection"
    effects = {e for rung in v2.ladder("self_inspection") for e in rung.effects}
    assert effects == {"remind", "hand_over"}  # no 警示函, 督办 or 挂牌 rung


def test_contact_records_its_own_self_found_hazard(api, world, clock):
    r = record(api, world)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["kind"] == "self_hazard" and case["state"] == "found"
    assert case["number"].startswith("320508-ZC-2026-")
    assert case["enterprise"]["id"] == world.e1.id and case["source"] == "self_check"
    assert case["jurisdiction"]["code"] == world.p1.jurisdiction_code
    [clock_] = case["deadlines"]
    assert clock_["label"] == "自查整改期限" and clock_["party"] == "self"
    assert clock_["due_date"] == "2026-11-30"  # Mon 23 Nov + 5 days = Sat 28 Nov → the next working day
    assert case["allowed_actions"] == ["start_rectification", "comment"]
    case = api(world.contact).act(case, "start_rectification").json()
    assert case["state"] == "rectifying"
    assert case["allowed_actions"] == ["comment"]  # 报告整改完成 once a 整改后 photo is on the case
    upload_photo(api(world.contact), case["id"])
    assert "report_completion" in api(world.contact).get(f"/api/cases/{case['id']}").json()["allowed_actions"]
    # the regulator of the project's jurisdiction sees it; another county does not
    assert api(world.officer).get(f"/api/cases/{case['id']}").status_code == 200
    assert api(world.officer_wz).get(f"/api/cases/{case['id']}").status_code == 404


def test_contact_may_record_only_its_own_unit_and_projects_and_only_this_kind(api, world):
    r = record(api, world, project_id=world.p2.id)  # 吴中测试项目: e2's project
    assert r.status_code == 422, r.text
    assert any(e["field"] == "project_id" and "不是本单位参建的项目" in e["message"] for e in r.json()["errors"])
    r = record(api, world, enterprise_id=world.e2.id)
    assert r.status_code == 422 and any(e["label"] == "责任单位" for e in r.json()["errors"])
    r = record(api, world, project_id=None)
    assert r.status_code == 422 and any(e["field"] == "project_id" for e in r.json()["errors"])
    r = record(api, world, source="inspection")
    assert r.status_code == 422 and any(e["label"] == "来源" for e in r.json()["errors"])
    r = record(api, world, assignee_id=world.officer.id)
    assert r.status_code == 422 and any(e["label"] == "承办人" for e in r.json()["errors"])
    r = record(api, world, rectification_days=31)
    assert r.status_code == 422 and any(e["field"] == "rectification_days" for e in r.json()["errors"])
    for kind in ("hazard", "major_hazard", "accident", "dangerous_building"):
        r = record(api, world, kind=kind)
        assert r.status_code == 403, (kind, r.text)
        assert "企业联系人" in r.json()["message"]
    # and staff do not record an enterprise's self-inspection
    r = api(world.officer).post("/api/cases", json={"kind": "self_hazard", "title": "x", "project_id": world.p1.id,
                                                    "severity": "general", "rectification_days": 3})
    assert r.status_code == 403 and "企业联系人" in r.json()["message"]


def test_rectified_in_time_with_a_photo_never_enters_the_ladder(api, world, clock, db):
    contact = api(world.contact)
    case = contact.act(record(api, world).json(), "start_rectification").json()
    r = contact.act(case, "report_completion", completion_report="已补设剪刀撑")
    assert r.status_code == 409 and PHOTO_REFUSAL in r.json()["message"]
    upload_photo(contact, case["id"])
    case = contact.act(case, "report_completion", completion_report="已补设剪刀撑并验收").json()
    assert case["state"] == "rectified" and case["closed_at"]
    with db.session() as s:
        [d] = s.scalars(select(Deadline).where(Deadline.case_id == case["id"]))
        assert d.status == "met"
    clock.advance(timedelta(days=30))
    sweep_twice(db, clock)
    after = contact.get(f"/api/cases/{case['id']}").json()
    assert after["kind"] == "self_hazard" and after["number"] == case["number"] and after["state"] == "rectified"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RungFiring).where(RungFiring.case_id == case["id"])) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.case_id == case["id"])) == 0


def _overdue_case(api, world, clock, db, *, per_timer: bool):
    case = record(api, world).json()
    due = case["deadlines"][0]["due_at"]
    clock.advance(timedelta(days=4))  # Fri 27 Nov 09:00, 1 working day before Mon 30: the reminder, to the contact only
    sweep_twice(db, clock, per_timer=per_timer)
    with db.session() as s:
        reminders = list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case["id"])))
        assert reminders and {m.recipient_user_id for m in reminders} == {world.contact.id}
        assert {m.template for m in reminders} == {"reminder"}
    clock.advance(timedelta(days=4))  # Tue 1 Dec 09:00: overdue since Mon 30 Nov ended
    runs = sweep_twice(db, clock, per_timer=per_timer)
    return case, due, runs


def _check_handed_over(api, world, db, case, runs):
    assert runs[1]["fired"] == 0  # the second sweep finds nothing left to do
    officer = api(world.officer)
    now = officer.get(f"/api/cases/{case['id']}").json()
    assert now["kind"] == "hazard" and now["state"] == "registered" and now["source"] == "self_check"
    assert now["number"].startswith("320508-YH-2026-") and now["previous_numbers"] == [case["number"]]
    [clock_] = now["deadlines"]
    assert clock_["label"] == "整改期限" and clock_["party"] == "enterprise"
    assert clock_["due_date"] == "2026-12-10"  # the hazard's 7 days (一般隐患) from Tue 1 Dec, in working days
    assert "register" not in now["allowed_actions"] and "start_rectification" in now["allowed_actions"]
    with db.session() as s:
        firings = list(s.scalars(select(RungFiring).where(RungFiring.case_id == case["id"],
                                                          RungFiring.rung == "hand_over")))
        assert len(firings) == 1
        assert s.scalar(select(func.count()).select_from(Case).where(Case.number.like("320508-YH-%"))) == 1
        clocks = [(d.label, d.status) for d in s.scalars(select(Deadline).where(Deadline.case_id == case["id"])
                                                         .order_by(Deadline.id))]
        assert clocks == [("自查整改期限", "missed"), ("整改期限", "open")]
        told = {m.recipient_user_id for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == case["id"], OutboxMessage.template == "self_check_handover"))}
    assert told == {world.officer.id, world.contact.id}
    events = officer.get(f"/api/cases/{case['id']}/events").json()["items"]
    assert [e["action"] for e in events].count("handed_over") == 1
    # visible to the officers in their lists; the unit still sees it as its case
    listed = officer.get("/api/cases", params={"kind": "hazard"}).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]
    assert api(world.contact).get(f"/api/cases/{case['id']}").status_code == 200
    found = officer.get("/api/cases", params={"q": case["number"]}).json()["items"]
    assert [c["id"] for c in found] == [case["id"]]


def test_left_overdue_it_is_handed_over_once(api, world, clock, db):
    case, due, runs = _overdue_case(api, world, clock, db, per_timer=False)
    _check_handed_over(api, world, db, case, runs)


def test_the_per_timer_path_hands_over_alike(api, world, clock, db):
    case, due, runs = _overdue_case(api, world, clock, db, per_timer=True)
    _check_handed_over(api, world, db, case, runs)


def test_self_inspection_ledger_scoped_and_counts_agree(api, world, clock, db):
    contact = api(world.contact)
    fixed = contact.act(record(api, world, title="配电箱门锁损坏").json(), "start_rectification").json()
    upload_photo(contact, fixed["id"])
    contact.act(fixed, "report_completion", completion_report="已更换门锁")
    record(api, world, title="安全网破损", rectification_days=1)
    open_ = record(api, world, title="临边防护缺失", rectification_days=30).json()
    clock.advance(timedelta(days=3))
    fire_due_batch(db, clock.now(), worker="test")

    mine = contact.get("/api/self-inspection").json()
    assert mine["summary"] == [{"enterprise_id": world.e1.id, "enterprise_name": world.e1.name, "found": 3,
                                "rectifying": 1, "rectified_on_time": 1, "rectified_late": 0, "handed_over": 1}]
    statuses = {row["title"]: row["status"] for row in mine["items"]}
    assert statuses == {"配电箱门锁损坏": "rectified_on_time", "安全网破损": "handed_over", "临边防护缺失": "rectifying"}
    for status, n in (("rectifying", 1), ("rectified_on_time", 1), ("handed_over", 1)):
        listed = contact.get("/api/self-inspection", params={"status": status}).json()
        assert listed["total"] == n and len(listed["items"]) == n, status
    assert [r["id"] for r in contact.get("/api/self-inspection", params={"status": "rectifying"}).json()["items"]] \
        == [open_["id"]]
    # the regulator sees the same; another county's officer sees none of it
    officer = api(world.officer).get("/api/self-inspection").json()
    assert officer["summary"] == mine["summary"] and officer["total"] == 3
    assert api(world.officer_wz).get("/api/self-inspection").json() == {
        "items": [], "total": 0, "page": 1, "page_size": 50, "summary": []}
    # a contact cannot ask for another unit's ledger
    other = contact.get("/api/self-inspection", params={"enterprise_id": world.e2.id}).json()
    assert other["total"] == 0 and other["summary"] == []
    bad = contact.get("/api/self-inspection", params={"status": "lost"})
    assert bad.status_code == 422 and "状态" in bad.text


def test_a_rung_of_a_rectified_self_hazard_is_stale_on_both_paths(api, world, clock, db):
    """Closing cancelled its timers; were one pending still (the second line of defence), the sweep
    counts it stale and hands nothing over — through the batch path and the per-timer path."""
    from sqlalchemy import update

    from cases.models import Timer

    contact = api(world.contact)
    for per_timer in (False, True):
        case = contact.act(record(api, world).json(), "start_rectification").json()
        upload_photo(contact, case["id"])
        case = contact.act(case, "report_completion", completion_report="已整改").json()
        with db.transaction() as s:
            n = s.execute(update(Timer).where(Timer.case_id == case["id"], Timer.rung == "hand_over")
                          .values(status="pending")).rowcount
        assert n == 1
        clock.advance(timedelta(days=10))
        runs = sweep_twice(db, clock, per_timer=per_timer)
        assert runs[0]["stale"] >= 1 and runs[0]["fired"] == 0, runs
        after = contact.get(f"/api/cases/{case['id']}").json()
        assert after["kind"] == "self_hazard" and after["state"] == "rectified" and after["number"] == case["number"]
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(RungFiring).where(RungFiring.case_id == case["id"])) == 0


def test_rectified_after_its_date_before_the_sweep_came_stays_the_units(api, world, clock, db):
    """The sweep was down over the due instant; the unit reports its rectification first: the ledger
    says 逾期后整改, and the late sweep hands nothing over."""
    contact = api(world.contact)
    case = contact.act(record(api, world, rectification_days=1).json(), "start_rectification").json()
    clock.advance(timedelta(days=3))  # no sweep meanwhile
    upload_photo(contact, case["id"])
    case = contact.act(case, "report_completion", completion_report="已整改").json()
    assert case["state"] == "rectified"
    runs = sweep_twice(db, clock)
    assert runs[0]["fired"] == 0
    after = contact.get(f"/api/cases/{case['id']}").json()
    assert after["kind"] == "self_hazard" and after["number"] == case["number"]
    book = contact.get("/api/self-inspection").json()
    assert [r["status"] for r in book["items"]] == ["rectified_late"]
    assert book["summary"][0]["rectified_late"] == 1 and book["summary"][0]["handed_over"] == 0
