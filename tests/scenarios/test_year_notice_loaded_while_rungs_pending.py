"""The 2027 holiday notice is loaded while a listed case's 约谈 is pending on 元旦.

A major hazard registered on Monday 23 November 2026 with 36 days is listed by the city at
registration; its 督办期限 ends on Tuesday 29 December 2026. The supervision ladder holds 约谈 three
working days after that and 通报批评 ten. 2027 is not in the package yet, so early 2027 is counted
with weekends only (provisional): 约谈 falls on Friday 1 January 2027 — 元旦.

On 31 December the administrator loads the 2027 notice (tests/data/calendar/2027-example.yaml:
synthetic, 元旦 1–3 January off). The due date itself does not change (it lies in 2026), but the
pending rungs do: 约谈 moves to Monday 4 January, 通报批评 from 12 to 13 January, and the case
says so in an event. The sweep then fires each on its new date, once.
"""
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from cases.calendar.calendar_store import read_notice_file
from cases.models import Deadline, Timer
from tests.scenarios.conftest import SHANGHAI, beijing

NOTICE = Path(__file__).parent.parent / "data" / "calendar" / "2027-example.yaml"


def _as_json(value):
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def _pending(story, case) -> dict[str, date]:
    """The supervision deadline's pending rungs: {rung: Beijing date}."""
    with story.db.session() as s:
        rows = s.execute(select(Timer.rung, Timer.fire_at).join(Deadline, Deadline.id == Timer.deadline_id).where(
            Timer.case_id == case["id"], Timer.status == "pending", Deadline.key == "supervision")).all()
    return {rung: at.astimezone(SHANGHAI).date() for rung, at in rows}


def _fired(story, case) -> list[tuple[str, date]]:
    return [(e["payload"]["rung"], datetime.fromisoformat(e["at"]).astimezone(SHANGHAI).date())
            for e in story.events(case) if e["action"] == "rung_fired" and e["payload"]["deadline"] == "督办期限"]


def test_loading_2027_moves_the_pending_interview_off_new_year(story):
    officer, admin = story.world.officer, story.world.admin
    case = story.drv.create("major_hazard", title="高支模立杆间距超标", description="立杆间距超方案要求",
                            location="5号楼地下室顶板")
    case = story.act(case, "register", rectification_days=36)
    assert case["supervision"]["status"] == "listed"
    deadlines = story.client(officer).get(f"/api/cases/{case['id']}/deadlines").json()["items"]
    sup = next(d for d in deadlines if d["key"] == "supervision")
    assert sup["due_date"] == "2026-12-29" and sup["provisional"] is False  # it lies in 2026
    pending = _pending(story, case)
    assert pending["interview"] == date(2027, 1, 1)      # 元旦, while 2027 is weekends-only
    assert pending["criticism"] == date(2027, 1, 12)

    # The weeks pass; the supervision runs out on 29 December and the overdue warning goes out.
    story.advance(to=beijing(2026, 12, 31, 9, 0), step=timedelta(hours=12))
    assert [r for r, _ in _fired(story, case)] == ["remind_before", "overdue"]

    # 31 December: the administrator loads the 2027 notice.
    r = story.client(admin).post("/api/admin/calendar/years", json=_as_json(read_notice_file(NOTICE)))
    assert r.status_code == 200, r.text
    assert r.json()["cases"] >= 1

    pending = _pending(story, case)
    assert pending["interview"] == date(2027, 1, 4)
    assert pending["criticism"] == date(2027, 1, 13)
    deadlines = story.client(officer).get(f"/api/cases/{case['id']}/deadlines").json()["items"]
    assert next(d for d in deadlines if d["key"] == "supervision")["due_date"] == "2026-12-29"  # unchanged

    # The case tells why its 约谈 moved.
    [event] = [e for e in story.events(case) if e["action"] == "deadline_recomputed"]
    assert "2027" in event["comment"]
    moved = {m["rung"]: m for item in event["payload"]["deadlines"] for m in item["rungs"]
             if item["deadline"] == "督办期限"}
    assert moved["interview"]["label"] == "约谈"
    assert moved["interview"]["from"].startswith("2027-01-01") and moved["interview"]["to"].startswith("2027-01-04")
    assert "overdue" not in moved  # what fired stays fired

    # Through 元旦 nothing fires; on Monday 4 January at 09:00 the 约谈通知书 goes out, once.
    story.advance(to=beijing(2027, 1, 3, 21, 0), step=timedelta(hours=12))
    assert [r for r, _ in _fired(story, case)] == ["remind_before", "overdue"]
    story.advance(to=beijing(2027, 1, 14, 9, 0), step=timedelta(hours=12))
    fired = _fired(story, case)
    assert fired[2:] == [("interview", date(2027, 1, 4)), ("criticism", date(2027, 1, 13))]
    [letter] = story.document_rows(case, "interview_notice")
    assert letter.issued_at.astimezone(SHANGHAI).date() == date(2027, 1, 4)
    text = story.text_of(letter)
    assert "2027年1月7日" in text  # the interview itself: the third working day after the letter
    assert len(story.document_rows(case, "public_criticism")) == 1
    assert "officer" in story.notified(case, "interview_notice")  # the supervised bureau is summoned
