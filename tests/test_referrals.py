"""Referrals (移送): the API on both databases — refer, validation naming the field, the lists and
their filters, reply and withdrawal, the reply clock (no light, survives the case's own clocks and
its closure), and who may read: staff of the subtree, never an enterprise."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.models import Deadline, Referral
from tests.machine_paths import HttpDriver

POLICE = {"target": "public_security", "body_name": "苏州市公安局姑苏分局"}


def _case(api, world, clock, kind="major_hazard"):
    drv = HttpDriver(api, world, clock)
    case = drv.create(kind, title="移送测试案件")
    return drv, case


def test_refer_opens_the_reply_clock_and_issues_the_letter(api, world, clock, db):
    drv, case = _case(api, world, clock)
    officer = api(world.officer)
    r = officer.post(f"/api/cases/{case['id']}/referrals", json=POLICE)
    assert r.status_code == 201, r.text
    out = r.json()
    # defaults from the policy: subject, basis, request, attachments; the facts from the case
    assert out["subject"] == "涉嫌危险作业罪案件线索" and "第一百三十四条之一" in out["legal_basis"]
    assert out["request"].startswith("请依法审查是否立案") and "责令停工通知书（复印件）" in out["attachments"]
    assert case["number"] in out["facts"] and "移送测试案件" in out["facts"]
    assert out["letter_no"].startswith("姑苏建质移〔2026〕") and out["state"] == "open" and out["policy_version"] == 1
    with db.session() as s:
        ref = s.get(Referral, out["id"])
        clock_row = s.get(Deadline, ref.deadline_id)
        assert (clock_row.key, clock_row.ladder, clock_row.party, clock_row.affects_light) == \
            ("referral_reply", "officer", "officer", False)
        assert (clock_row.amount, clock_row.unit) == (3, "working_day")
        assert ref.reply_due_date == clock_row.due_date and str(ref.reply_due_date) == out["reply_due_date"]
    docs = officer.get(f"/api/cases/{case['id']}/documents").json()["items"]
    [letter] = [d for d in docs if d["doc_type"] == "referral_letter"]
    assert letter["number"] == out["letter_no"] and letter["title"] == "移送函"
    # a second referral of the same authority gets the next number
    r2 = officer.post(f"/api/cases/{case['id']}/referrals", json={"target": "licence_authority", "body_name": "江苏省住房和城乡建设厅"})
    assert r2.status_code == 201 and r2.json()["letter_no"] == out["letter_no"].replace("1号", "2号")
    assert r2.json()["subject"] == "提请暂扣安全生产许可证"
    with db.session() as s:
        d2 = s.get(Deadline, s.get(Referral, r2.json()["id"]).deadline_id)
        assert (d2.amount, d2.unit) == (15, "working_day")


def test_bad_input_names_the_field(api, world, clock):
    drv, case = _case(api, world, clock)
    officer = api(world.officer)
    r = officer.post(f"/api/cases/{case['id']}/referrals", json={"target": "police", "body_name": "  "})
    assert r.status_code == 422
    fields = {e["field"]: e for e in r.json()["errors"]}
    assert set(fields) == {"target", "body_name"}
    assert fields["target"]["label"] == "移送对象" and "公安机关" in fields["target"]["message"]
    assert fields["body_name"]["label"] == "接收机关名称" and fields["body_name"]["message"] == "必填"
    r = officer.post(f"/api/cases/{case['id']}/referrals", json={**POLICE, "body_name": "公安\n分局"})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "不能包含换行"
    ref = officer.post(f"/api/cases/{case['id']}/referrals", json=POLICE).json()
    r = officer.post(f"/api/referrals/{ref['id']}/reply", json={"received_at": "2027-01-01", "result": "maybe"})
    assert r.status_code == 422
    fields = {e["field"]: e for e in r.json()["errors"]}
    assert set(fields) == {"received_at", "result", "content"}
    assert fields["received_at"]["message"] == "不能晚于今天" and "已立案" in fields["result"]["message"]
    r = officer.post(f"/api/referrals/{ref['id']}/reply", json={"received_at": "2026-11-01", "result": "filed",
                                                                  "content": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "不能早于移送日期"
    r = officer.post(f"/api/referrals/{ref['id']}/withdraw", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "撤回理由"
    assert officer.get(f"/api/referrals/{ref['id']}").json()["state"] == "open"  # nothing changed


def test_reply_meets_and_withdrawal_cancels_the_clock(api, world, clock, db):
    drv, case = _case(api, world, clock)
    officer = api(world.officer)
    a = officer.post(f"/api/cases/{case['id']}/referrals", json=POLICE).json()
    b = officer.post(f"/api/cases/{case['id']}/referrals", json={"target": "fire_rescue", "body_name": "姑苏区消防救援大队"}).json()
    clock.set(clock.now() + timedelta(days=1))
    r = officer.post(f"/api/referrals/{a['id']}/reply", json={
        "received_at": clock.now().isoformat(), "reply_no": "姑苏公立〔2026〕1号", "result": "filed", "content": "已立案侦查"})
    assert r.status_code == 200, r.text
    assert r.json()["reply"]["late"] is False and r.json()["reply"]["result_label"] == "已立案"
    r = officer.post(f"/api/referrals/{b['id']}/withdraw", json={"reason": "经核实不属于消防救援机构管辖"})
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert r.json()["withdrawal"]["reason"] == "经核实不属于消防救援机构管辖"
    assert officer.post(f"/api/referrals/{b['id']}/withdraw", json={"reason": "再次"}).status_code == 409
    assert officer.post(f"/api/referrals/{b['id']}/reply", json={"received_at": "2026-11-24", "result": "other",
                                                                "content": "x"}).status_code == 409
    with db.session() as s:
        statuses = {r.id: s.get(Deadline, r.deadline_id).status for r in s.scalars(select(Referral))}
    assert statuses == {a["id"]: "met", b["id"]: "cancelled"}
    actions = [e["action"] for e in drv.events(case)]
    assert actions.count("referred") == 2 and "referral_replied" in actions and "referral_withdrawn" in actions


def test_the_reply_clock_outlives_the_case_s_own_clocks_and_its_closure(api, world, clock, db):
    """A referral's reply is owed whatever the case does: a transition that opens the case's own
    clocks (register) leaves it running, and so does the case's end (不予立案) — its rungs still fire."""
    from cases.clocks.sweep import fire_all_due
    from cases.models import RungFiring

    drv = HttpDriver(api, world, clock)
    officer = api(world.officer)
    registered = drv.create("hazard", title="登记的隐患")
    dismissed = drv.create("hazard", title="不予立案的隐患")
    a = officer.post(f"/api/cases/{registered['id']}/referrals", json=POLICE).json()
    b = officer.post(f"/api/cases/{dismissed['id']}/referrals", json=POLICE).json()
    registered = drv.act(registered, "register", world.officer)
    assert registered["state"] == "registered"
    dismissed = drv.act(dismissed, "dismiss", world.officer, fields={"reason": "属公安机关管辖，已移送"})
    assert dismissed["state"] == "dismissed"
    with db.session() as s:
        clocks = {r.id: s.get(Deadline, r.deadline_id) for r in s.scalars(select(Referral))}
        assert {k: d.status for k, d in clocks.items()} == {a["id"]: "open", b["id"]: "open"}
        due = max(d.due_at for d in clocks.values())
    clock.set(due + timedelta(hours=1))
    fire_all_due(db, clock.now())
    with db.session() as s:
        fired = {(f.deadline_id, f.rung) for f in s.scalars(select(RungFiring))}
        assert (clocks[b["id"]].id, "overdue") in fired and (clocks[a["id"]].id, "overdue") in fired
    assert officer.get(f"/api/referrals/{b['id']}").json()["state"] == "overdue"


def test_lists_filter_by_target_state_and_jurisdiction(api, world, clock):
    drv = HttpDriver(api, world, clock)
    gusu = drv.create("major_hazard", title="姑苏案件")
    wz = drv.create("major_hazard", user=world.officer_wz, title="吴中案件", project_id=world.p2.id)
    officer, officer_wz, city = api(world.officer), api(world.officer_wz), api(world.supervisor)
    g = officer.post(f"/api/cases/{gusu['id']}/referrals", json=POLICE).json()
    z = officer_wz.post(f"/api/cases/{wz['id']}/referrals", json={"target": "discipline", "body_name": "吴中区纪委监委"}).json()
    assert [x["id"] for x in officer.get("/api/referrals").json()["items"]] == [g["id"]]
    assert {x["id"] for x in city.get("/api/referrals").json()["items"]} == {g["id"], z["id"]}
    assert [x["id"] for x in city.get("/api/referrals", params={"target": "discipline"}).json()["items"]] == [z["id"]]
    assert [x["id"] for x in city.get("/api/referrals", params={"jurisdiction_code": "320506"}).json()["items"]] == [z["id"]]
    assert city.get("/api/referrals", params={"state": "overdue"}).json()["items"] == []
    # the police's 3 working days pass (Mon 23 Nov → Thu 26 Nov end); the 纪委's 30 days do not
    clock.set(clock.now() + timedelta(days=4))
    overdue = city.get("/api/referrals", params={"state": "overdue"}).json()["items"]
    assert [x["id"] for x in overdue] == [g["id"]] and overdue[0]["overdue"]
    listed = city.get("/api/referrals").json()["items"]
    assert listed[0]["id"] == g["id"]  # the overdue first
    assert [x["id"] for x in city.get("/api/referrals", params={"state": "open"}).json()["items"]] == [z["id"]]
    r = officer.get("/api/referrals", params={"jurisdiction_code": "320506"})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "辖区"
    assert officer.get("/api/referrals", params={"target": "army"}).status_code == 422
    assert officer_wz.get(f"/api/referrals/{g['id']}").status_code == 404
    assert officer_wz.post(f"/api/referrals/{g['id']}/reply", json={}).status_code == 404
    assert officer.get(f"/api/cases/{gusu['id']}/referrals").json()["items"][0]["id"] == g["id"]


def test_enterprises_never_see_a_referral(api, world, clock, db):
    """The referred unit's contact sees its case — and nothing of the referral: no route answers,
    no event, no clock, no rung, no document, no message."""
    drv, case = _case(api, world, clock)
    officer, contact = api(world.officer), api(world.contact)
    ref = officer.post(f"/api/cases/{case['id']}/referrals", json=POLICE).json()
    assert contact.get(f"/api/cases/{case['id']}").status_code == 200  # the case itself is theirs
    for path in (f"/api/cases/{case['id']}/referrals", f"/api/referrals/{ref['id']}", "/api/referrals",
                 "/api/referral-targets"):
        r = contact.get(path)
        assert r.status_code == 403, path
        assert "苏州市公安局" not in r.text
    for path in (f"/api/referrals/{ref['id']}/reply", f"/api/referrals/{ref['id']}/withdraw"):
        assert contact.post(path, json={"reason": "x"}).status_code == 403
    assert contact.post(f"/api/cases/{case['id']}/referrals", json=POLICE).status_code == 403
    clock.set(clock.now() + timedelta(days=6))  # past due: rungs fire on the clock
    from cases.clocks.sweep import fire_all_due

    fire_all_due(db, clock.now())
    assert [e for e in drv.events(case) if e["action"] == "rung_fired"]  # staff see the rungs
    seen = api(world.contact)
    events = seen.get(f"/api/cases/{case['id']}/events").json()["items"]
    assert not [e for e in events if e["action"].startswith("referr")
                or (e["action"] == "rung_fired" and "移送" in str(e["payload"]))]
    assert "移送" not in str(seen.get(f"/api/cases/{case['id']}/escalations").json())
    assert "referral_reply" not in str(seen.get(f"/api/cases/{case['id']}/deadlines").json())
    assert "referral_reply" not in str(seen.get(f"/api/cases/{case['id']}").json()["deadlines"])
    docs = seen.get(f"/api/cases/{case['id']}/documents").json()["items"]
    assert "referral_letter" not in {d["doc_type"] for d in docs}
    assert seen.get(f"/api/documents/{ref['document_id']}").status_code == 404
    assert officer.get(f"/api/documents/{ref['document_id']}").status_code == 200
    from cases.models import OutboxMessage

    with db.session() as s:
        to_contact = list(s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_user_id == world.contact.id)))
        assert not [m for m in to_contact if "移送" in str(m.variables)]


def test_suggested_receiving_bodies_follow_the_jurisdiction_s_naming():
    from cases.referrals.policy import suggested_bodies

    up = [("苏州市", "prefecture"), ("江苏省", "province")]
    gusu = suggested_bodies([("姑苏区", "county"), *up])
    assert gusu == {"public_security": ["苏州市公安局姑苏分局"], "fire_rescue": ["苏州市姑苏区消防救援大队"],
                    "licence_authority": ["江苏省住房和城乡建设厅"], "discipline": ["苏州市姑苏区纪委监委"]}
    assert suggested_bodies([("常熟市", "county"), *up])["public_security"] == ["常熟市公安局"]
    assert suggested_bodies([("苏州工业园区", "county"), *up])["public_security"] == ["苏州市公安局苏州工业园区分局"]
    assert suggested_bodies(up)["fire_rescue"] == ["苏州市消防救援支队"]
    assert suggested_bodies([("江苏省", "province")])["public_security"] == ["江苏省公安厅"]


def test_the_policy_is_versioned_and_checked(tmp_path):
    """Each version is its own file; a reply period that is not a positive number of working or
    calendar days is refused when the policy loads, naming the target."""
    import pytest
    import yaml

    from cases.referrals.policy import POLICY_DIR, load_referral_policy

    raw = yaml.safe_load((POLICY_DIR / "referrals-v1.yaml").read_text(encoding="utf-8"))
    assert load_referral_policy(1).targets["public_security"].reply_amount == 3
    raw["version"] = 2
    raw["targets"]["public_security"]["reply"] = {"amount": 5, "unit": "working_day"}
    (tmp_path / "referrals-v2.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    v2 = load_referral_policy(2, tmp_path)
    assert v2.version == 2 and v2.targets["public_security"].reply_amount == 5
    assert load_referral_policy(1).targets["public_security"].reply_amount == 3  # v1 as it was
    raw["targets"]["fire_rescue"]["reply"] = {"amount": 0, "unit": "working_day"}
    (tmp_path / "referrals-v2.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="fire_rescue"):
        load_referral_policy(2, tmp_path)
    raw["targets"]["fire_rescue"]["reply"] = {"amount": 3, "unit": "hour"}
    (tmp_path / "referrals-v2.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="unit"):
        load_referral_policy(2, tmp_path)
