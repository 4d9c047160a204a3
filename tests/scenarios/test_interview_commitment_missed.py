"""An 约谈 commitment missed climbs its own ladder, once per rung.

A major hazard of 苏州测试建设有限公司 (e1) on 姑苏测试项目 is registered on Monday 23 November 2026
and listed by 苏州市 at once. Nobody finishes it: the 督办期限 runs out, and three working days
later the sweep issues the city's 约谈通知书 to the 姑苏区 bureau — which opens the 约谈 record by
itself (time and place as the notice says). The district officer records the interview held: the
bureau and the company attended, what was said, and two commitments — the bureau promises a
written plan within three working days, the company the scaffold rebuilt by a date. The 约谈记录
(numbered by the city) prints the attendees, the minutes, both commitments with their dates and
the signature places, and reaches the company's contact and the bureau's staff.

The bureau hands in its plan: the officer marks it met with a note, its clock ends and nothing of
it ever fires. The company does nothing: its contact and the officer are reminded the working day
before and on the day; when the day ends the officer and their supervisor are warned (next measure
通报批评) and the commitment is recorded missed — the hook's subscribers hear it once; five working
days later the city's 通报批评 of the company goes out (addressed to it, naming the promise and the
missed date). Weeks of sweeps later nothing fired twice. The case's light is not the commitment's.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from cases.interviews import hooks
from cases.models import CaseEvent, Deadline, Document, OutboxMessage, RungFiring, User
from cases.platform.clock import to_local
from tests.scenarios.conftest import beijing, cn

CITY_BUREAU = "苏州市住房和城乡建设局"
GUSU_BUREAU = "苏州市姑苏区住房和城乡建设局"


def _notified_by(story, cause_prefix: str) -> set[str]:
    """Usernames the messages of one rung (cause ``rung:<deadline>:<rung>``) went to."""
    with story.db.session() as s:
        ids = {m.recipient_user_id for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedupe_key.startswith(cause_prefix)))}
        return {u.username for u in s.scalars(select(User).where(User.id.in_(ids)))} if ids else set()


def _firings(story, deadline_id: int) -> list[str]:
    with story.db.session() as s:
        return [r for r in s.scalars(select(RungFiring.rung).where(RungFiring.deadline_id == deadline_id)
                                     .order_by(RungFiring.id))]


def test_interview_commitment_missed_climbs_its_ladder_once(story):
    world = story.world
    officer, contact, city = world.officer, world.contact, world.supervisor
    heard: list[tuple[int, int]] = []
    hook = hooks.on_commitment_missed(lambda s, c, iv, event: heard.append((c.id, event.id)))
    try:
        _story(story, world, officer, contact, city, heard)
    finally:
        hooks.COMMITMENT_MISSED.remove(hook)


def _story(story, world, officer, contact, city, heard):
    case = story.drv.create("major_hazard", title="外脚手架连墙件大面积缺失", description="3#楼外脚手架12至15层连墙件缺失",
                            location="3#楼东侧外脚手架")
    case = story.act(case, "register", rectification_days=5)
    assert case["supervision"]["status"] == "listed"

    # The supervision runs out; three working days later the city's 约谈通知书 goes to the bureau.
    story.advance(days=14, step=timedelta(hours=6))
    [notice] = story.document_rows(case, "interview_notice")
    assert notice.issuing_jurisdiction_code == "320500"
    text = story.text_of(notice)
    assert f"{GUSU_BUREAU}：" in text

    # The notice opened the 约谈 record by itself: time and place as the notice says, the bureau summoned.
    r = story.client(officer).get(f"/api/cases/{case['id']}/interviews")
    assert r.status_code == 200, r.text
    [interview] = r.json()["items"]
    assert interview["status"] == "scheduled" and interview["source"] == "notice"
    assert interview["notice"]["number"] == notice.number
    assert interview["jurisdiction"]["code"] == "320500"
    assert [u["name"] for u in interview["units"]] == [GUSU_BUREAU]
    assert datetime.fromisoformat(interview["scheduled_at"]) == datetime.fromisoformat(notice.variables["interview_at"])
    assert f"约谈时间{cn(datetime.fromisoformat(interview['scheduled_at']))}" in text
    # Asking again for the same notice answers the same record.
    again = story.client(officer).post("/api/interviews", json={"notice_document_id": notice.id})
    assert again.status_code == 200 and again.json()["id"] == interview["id"]
    # The company cannot see a 约谈 that did not summon it.
    assert story.client(contact).get(f"/api/interviews/{interview['id']}").status_code == 404

    # The interview is held; the officer records it with two commitments.
    held_at = story.clock.now() - timedelta(hours=1)
    bureau_unit = interview["units"][0]["id"]
    today = to_local(story.clock.now()).date()
    promised = today + timedelta(days=10)
    bad = story.client(officer).post(f"/api/interviews/{interview['id']}/held", json={
        "held_at": (story.clock.now() + timedelta(days=1)).isoformat(), "hosts": "刘芳", "minutes": "",
        "attendees": []})
    assert bad.status_code == 422
    labels = {e["label"] for e in bad.json()["errors"]} if "errors" in bad.json() else bad.text
    assert "约谈时间" in str(labels) and "约谈内容" in str(labels) and "参加人员" in str(labels)
    r = story.client(officer).post(f"/api/interviews/{interview['id']}/held", json={
        "held_at": held_at.isoformat(), "hosts": "刘芳（苏州市住建局）", "summon_enterprise": True,
        "minutes": "约谈人通报了挂牌督办事项逾期情况。姑苏区住建局表示将于三个工作日内报送督办整改方案；"
                   "苏州测试建设有限公司表示立即组织重新搭设连墙件。",
        "attendees": [{"name": "王强", "unit": GUSU_BUREAU, "position": "副局长"},
                      {"name": "周建明", "unit": world.e1.name, "position": "法定代表人"}],
        "commitments": [
            {"content": "报送督办事项整改方案", "responsible_person": "王强", "within": 3, "unit": "working_day"}]})
    assert r.status_code == 422 and "责任单位" in r.text, "two units summoned: a commitment names which one"
    interview = story.client(officer).get(f"/api/interviews/{interview['id']}").json()
    assert interview["status"] == "scheduled", "a refused record leaves nothing behind"
    r = story.client(officer).post(f"/api/interviews/{interview['id']}/held", json={
        "held_at": held_at.isoformat(), "hosts": "刘芳（苏州市住建局）", "summon_enterprise": True,
        "minutes": "约谈人通报了挂牌督办事项逾期情况。姑苏区住建局表示将于三个工作日内报送督办整改方案；"
                   "苏州测试建设有限公司表示立即组织重新搭设连墙件。",
        "attendees": [{"name": "王强", "unit": GUSU_BUREAU, "position": "副局长"},
                      {"name": "周建明", "unit": world.e1.name, "position": "法定代表人"}],
        "commitments": [{"content": "报送督办事项整改方案", "responsible_person": "王强", "unit_id": bureau_unit,
                         "within": 3, "unit": "working_day"}]})
    assert r.status_code == 200, r.text
    interview = r.json()
    [plan] = interview["commitments"]
    company_unit = next(u["id"] for u in interview["units"] if u["kind"] == "enterprise")
    # The company's written undertaking, handed in after the meeting, is added to the record.
    r = story.client(officer).post(f"/api/interviews/{interview['id']}/commitments", json={"commitments": [
        {"content": "按专项方案重新设置3#楼外脚手架连墙件并经验收合格", "responsible_person": "周建明",
         "unit_id": company_unit, "due_date": promised.isoformat()}]})
    assert r.status_code == 200, r.text
    [scaffold] = r.json()["items"]
    assert scaffold["due_on"] >= promised.isoformat() and scaffold["status"] == "open"
    assert plan["party"] == "authority" and scaffold["party"] == "enterprise"

    # The 约谈记录: numbered by the city, to the bureau and the company; what a reader finds in it.
    story.advance(hours=1)
    [record] = story.document_rows(case, "interview_record")
    assert record.issuing_jurisdiction_code == "320500" and "约记" in record.number
    text = story.text_of(record)
    assert text.startswith(CITY_BUREAU) and "约谈记录" in text
    assert GUSU_BUREAU in text and world.e1.name in text and "王强" in text and "副局长" in text
    assert notice.number in text, "it names the notice that summoned them"
    assert "立即组织重新搭设连墙件" in text and "签名" in text and "盖章" in text
    assert "报送督办事项整改方案" in text and "王强" in text, "the commitment made at the meeting, with who answers for it"
    assert {"contact", "officer"} <= story.notified(case, "interview_record")
    # The company now reads the 约谈 that summoned it, and its commitments.
    seen = story.client(contact).get("/api/interviews").json()["items"]
    assert [i["id"] for i in seen] == [interview["id"]]

    # The bureau hands in its plan the next day: met with a note; its clock ends, nothing of it fires.
    story.advance(days=1, step=timedelta(hours=6))
    assert story.client(contact).post(f"/api/interview-commitments/{plan['id']}/met",
                                      json={"note": "已报送"}).status_code == 403
    r = story.client(officer).post(f"/api/interview-commitments/{plan['id']}/met",
                                   json={"note": "姑苏区住建局已报送《督办事项整改方案》（姑苏建〔2026〕88号）"})
    assert r.status_code == 200 and r.json()["status"] == "met", r.text
    assert story.client(officer).post(f"/api/interview-commitments/{plan['id']}/met",
                                      json={"note": "再次"}).status_code == 409

    # The company lets its date pass. The case's light does not follow the commitment.
    with story.db.session() as s:
        scaffold_clock = s.get(Deadline, scaffold["deadline_id"])
        plan_clock = s.get(Deadline, plan["deadline_id"])
        assert plan_clock.status == "met" and scaffold_clock.affects_light is False
        due = scaffold_clock.due_date
    story.advance(to=beijing(due.year, due.month, due.day, 23, 0), step=timedelta(hours=6))
    assert _firings(story, scaffold["deadline_id"]) == ["remind_before", "remind_due_day"]
    assert {"contact", "officer"} <= _notified_by(story, f"rung:{scaffold['deadline_id']}:remind_before")
    story.advance(hours=2)
    assert _firings(story, scaffold["deadline_id"]) == ["remind_before", "remind_due_day", "overdue"]
    warned = _notified_by(story, f"rung:{scaffold['deadline_id']}:overdue")
    assert warned == {"officer", "supervisor"}, warned
    with story.db.session() as s:
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(
            f"rung:{scaffold['deadline_id']}:overdue"))).first()
        assert msg.variables["next_measure"] == "通报批评"
        assert "连墙件" in msg.variables["task"]
    c = story.client(officer).get(f"/api/interviews/{interview['id']}").json()["commitments"]
    assert [x["status"] for x in c] == ["met", "overdue"]
    assert [x for x in story.events(case) if x["action"] == "commitment_missed"][0]["payload"]["due_on"] == due.isoformat()
    assert len(heard) == 1 and heard[0][0] == scaffold["id"]
    # The company's 不良行为记录 for the promise not kept (credit-v2 item XY-07), by the city that held
    # the 约谈; the company reads it on its own credit page.
    records = story.client(contact).get(f"/api/enterprises/{world.e1.id}/credit").json()["records"]
    missed = [r for r in records if r["cause"] == "commitment_missed"]
    assert [(r["item_code"], r["points"], r["authority_code"]) for r in missed] == [("XY-07", 5, "320500")], records
    assert "按专项方案重新设置3#楼外脚手架连墙件" in missed[0]["summary"]

    # Five working days later: the city's 通报批评 of the company.
    story.advance(days=10, step=timedelta(hours=6))
    assert _firings(story, scaffold["deadline_id"]) == ["remind_before", "remind_due_day", "overdue", "criticism"]
    with story.db.session() as s:
        [letter] = s.scalars(select(Document).where(Document.cause == f"rung:{scaffold['deadline_id']}:criticism"))
        s.expunge(letter)
    assert letter.doc_type == "public_criticism" and letter.issuing_jurisdiction_code == "320500"
    text = story.text_of(letter)
    assert f"关于对{world.e1.name}予以通报批评的通报" in text and f"{world.e1.name}：" in text
    assert "按专项方案重新设置3#楼外脚手架连墙件" in text and f"于{cn(due)}前完成" in text
    assert "contact" in _notified_by(story, f"rung:{scaffold['deadline_id']}:criticism")

    # Weeks later: every rung fired once, the met clock never; the hook heard one miss.
    story.advance(days=30, step=timedelta(days=1))
    assert _firings(story, scaffold["deadline_id"]) == ["remind_before", "remind_due_day", "overdue", "criticism"]
    assert _firings(story, plan["deadline_id"]) == []
    with story.db.session() as s:
        assert len(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case["id"],
                                                     CaseEvent.action == "commitment_missed")).all()) == 1
    assert len(heard) == 1
    records = story.client(contact).get(f"/api/enterprises/{world.e1.id}/credit").json()["records"]
    assert len([r for r in records if r["cause"] == "commitment_missed"]) == 1
    # Met late: recorded so, its clock ends.
    r = story.client(officer).post(f"/api/interview-commitments/{scaffold['id']}/met",
                                   json={"note": "连墙件已按方案设置，监理验收合格（附验收记录）"})
    assert r.status_code == 200 and r.json()["status"] == "met_late"
