"""自查自纠, as a regulator tells it (docs/self-inspection.md).

On Monday 23 November 2026 the contractor's safety officer records two hazards its own site check
found on the 姑苏区 project, each with the period the unit sets itself: 配电箱门锁损坏 in 3 days and
外架剪刀撑缺失 in 5 (Saturday 28 November, so Monday 30 November). The first is rectified on the
Tuesday with a 整改后 photo: it stays in the unit's ledger as 按期整改, nobody at the bureau is
bothered, no rung of the ladder ever fires. The second is forgotten: the unit alone is reminded on
Friday and on Monday; when Monday ends the sweep hands it over — once — to the 姑苏区 bureau as an
ordinary hazard (new number, the self-inspection number kept), the district officer and the unit
are told, and from then on the ordinary 整改期限 and its ladder run: when that passes too, the
警示函 goes to the unit.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from cases.models import RungFiring
from tests.evidence_files import upload_photo
from tests.scenarios.conftest import beijing


def test_a_self_found_hazard_left_overdue_becomes_the_regulators_case(story):
    world, contact = story.world, story.world.contact
    story.clock.set(beijing(2026, 11, 23, 9, 0))
    fixed = story.drv.create("self_hazard", title="2号配电箱门锁损坏", rectification_days=3,
                             description="2号楼北侧二级配电箱门锁损坏，箱门无法关闭", location="2号楼北侧")
    forgotten = story.drv.create("self_hazard", title="外架剪刀撑缺失", rectification_days=5,
                                 description="3号楼东侧外架8-10层剪刀撑未连续设置", location="3号楼东侧外架")
    assert fixed["number"] == "320508-ZC-2026-000001" and forgotten["number"] == "320508-ZC-2026-000002"
    assert forgotten["deadlines"][0]["due_date"] == "2026-11-30"  # Saturday 28 → the next working day
    # the district officer sees both in his jurisdiction's self-inspection ledger, before anything is due
    ledger = story.client(world.officer).get("/api/self-inspection").json()
    assert ledger["summary"][0]["found"] == 2 and ledger["summary"][0]["rectifying"] == 2

    # Tuesday, before any reminder was due: the first is rectified, with its photo
    story.advance(to=beijing(2026, 11, 24, 16, 0), step=timedelta(hours=6))
    fixed = story.act(fixed, "start_rectification", contact)
    refused = story.try_act(fixed, "report_completion", contact, with_photo=False)
    assert refused.status_code == 409 and "尚未上传整改后照片" in refused.json()["message"]
    upload_photo(story.client(contact), fixed["id"])
    fixed = story.act(fixed, "report_completion", contact, completion_report="已更换门锁，箱门可正常关闭上锁")
    assert fixed["state"] == "rectified"

    # Friday 09:00, one working day before the 30th: the unit — and only the unit — is reminded
    story.advance(to=beijing(2026, 11, 27, 10, 0), step=timedelta(hours=6))
    assert story.notified(forgotten) == {"contact"}

    # the 30th ends: the sweep hands the forgotten one over to the bureau
    story.advance(to=beijing(2026, 12, 1, 1, 0), step=timedelta(hours=1))
    now = story.get(forgotten, world.officer)
    assert now["kind"] == "hazard" and now["state"] == "registered" and now["source"] == "self_check"
    assert now["number"] == "320508-YH-2026-000001" and now["previous_numbers"] == ["320508-ZC-2026-000002"]
    assert now["jurisdiction"]["code"] == "320508"
    [clock_] = now["deadlines"]
    assert clock_["label"] == "整改期限" and clock_["party"] == "enterprise"
    assert clock_["due_date"] == "2026-12-10"  # 一般隐患: 7 days, in working days, from 1 December
    # the timeline as the officer reads it
    events = story.events(forgotten, world.officer)
    actions = [(e["action"], (e.get("payload") or {}).get("rung")) for e in events]
    assert actions == [("create", None), ("rung_fired", "remind_before"), ("rung_fired", "remind_due_day"),
                       ("handed_over", None), ("rung_fired", "hand_over")]
    handed = next(e for e in events if e["action"] == "handed_over")
    assert handed["from_state"] == "found" and handed["to_state"] == "registered"
    at = datetime.fromisoformat(handed["at"])
    assert datetime.fromisoformat(forgotten["deadlines"][0]["due_at"]) <= at < beijing(2026, 12, 1, 1, 0)
    assert "2026年11月30日" in handed["comment"] and "苏州市姑苏区住房和城乡建设局" in handed["comment"]
    assert {p["name"] for p in handed["payload"]["notified"]} == {"officer", "contact"}
    # who was told of the hand-over, and what they read
    assert story.notified(forgotten, "self_check_handover") == {"officer", "contact"}
    [told] = [m for m in story.messages(forgotten, "self_check_handover") if m.recipient_user_id == world.officer.id]
    assert told.status == "sent"
    page = story.client(world.officer).get("/api/inbox").json()["items"]
    text = next(m["text"] for m in page if m["case_id"] == forgotten["id"])
    assert "320508-ZC-2026-000002" in text and "2026年11月30日" in text and "2026年12月10日" in text
    # the officer's queue and lists have it; the unit still sees it as its case
    queue = story.client(world.officer).get("/api/queue").json()["items"]
    assert forgotten["id"] in [c["id"] for c in queue]
    assert story.get(forgotten, contact)["number"] == "320508-YH-2026-000001"
    # the unit's ledger: one rectified on time, one handed over
    mine = story.client(contact).get("/api/self-inspection").json()
    assert {r["number"]: r["status"] for r in mine["items"]} == {
        "320508-ZC-2026-000001": "rectified_on_time", "320508-YH-2026-000001": "handed_over"}

    # the rectified one never entered the ladder, and the bureau never heard of it
    with story.db.session() as s:
        assert s.scalar(select(func.count()).select_from(RungFiring)
                        .where(RungFiring.case_id == fixed["id"])) == 0
    assert story.notified(fixed) == set()
    assert story.get(fixed, world.officer)["kind"] == "self_hazard"

    # from here on the ordinary ladder: the 整改期限 passes, the 警示函 goes to the unit
    story.advance(to=beijing(2026, 12, 11, 10, 0), step=timedelta(hours=12))
    [letter] = story.document_rows(forgotten, "warning_letter")
    assert "320508-YH-2026-000001" in story.text_of(letter)
    with story.db.session() as s:
        fired = list(s.scalars(select(RungFiring.rung).where(RungFiring.case_id == forgotten["id"])
                               .order_by(RungFiring.id)))
    assert fired.count("hand_over") == 1 and "overdue" in fired
