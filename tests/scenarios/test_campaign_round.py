"""A campaign round with one district behind.

苏州市 starts “2轮全覆盖精准排查” for 姑苏区 and 吴中区: the first round must cover every project under
construction by the end of November, the second by the end of December. 姑苏区 inspects both its
projects; 吴中区 only one of its two. Three working days before the due date (Wed 25 Nov, 09:00) 吴中区
is reminded, 姑苏区 is not. At 24:00 on 30 Nov the city's 督办函 goes to 吴中区 only — numbered, with
the figures it saw — and however often the sweep runs afterwards it is not sent again. The time passes
through the real sweep (tests/scenarios/conftest.py: timers, the campaigns' round clocks, rendering,
delivery)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.models import OutboxMessage, Project
from cases.models.inspections import CampaignRoundFiring, Inspection
from tests.scenarios.conftest import beijing


def _project(story, name: str, code: str) -> int:
    with story.db.transaction() as s:
        p = Project(name=name, jurisdiction_code=code, address="测试路8号", created_at=story.clock.now())
        s.add(p)
        s.flush()
        return p.id


def _inspected(story, project_id: int, code: str, campaign_id: int, by) -> None:
    """The inspection record as the inspections service writes it (recorded here with the ORM)."""
    with story.db.transaction() as s:
        s.add(Inspection(jurisdiction_code=code, project_id=project_id, inspected_on=story.clock.now().date(),
                         inspection_type="special", campaign_id=campaign_id, round_no=1, inspectors=[],
                         document={}, created_by_id=by.id, created_at=story.clock.now()))


def _campaign_messages(story, template: str) -> list[OutboxMessage]:
    with story.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == template).order_by(OutboxMessage.id)))
        s.expunge_all()
        return rows


def _inbox(story, user, template_title: str) -> list[dict]:
    r = story.client(user).get("/api/inbox")
    assert r.status_code == 200, r.text
    return [m for m in r.json()["items"] if template_title in (m.get("subject") or "")]


def test_a_campaign_round_with_one_district_behind(story):
    w = story.world
    city = story.client(w.supervisor)
    r = city.post("/api/campaigns", json={
        "name": "2轮全覆盖精准排查", "starts_on": "2026-11-01", "ends_on": "2026-12-31",
        "rounds": [{"name": "第一轮", "starts_on": "2026-11-01", "due_on": "2026-11-30"},
                   {"name": "第二轮", "starts_on": "2026-12-01", "due_on": "2026-12-31"}],
        "scope_codes": ["320508", "320506"], "coverage_target": 100,
        "description": "对辖区内在建房屋市政工程开展两轮全覆盖精准排查"})
    assert r.status_code == 201, r.text
    campaign = r.json()
    gusu_second = _project(story, "姑苏第二个在建项目", "320508")
    _project(story, "吴中第二个在建项目", "320506")

    # Tue 24 Nov: 姑苏区 inspects both its projects, 吴中区 one of two.
    story.advance(to=beijing(2026, 11, 24, 10), step=story_step())
    _inspected(story, w.p1.id, "320508", campaign["id"], w.officer)
    _inspected(story, gusu_second, "320508", campaign["id"], w.officer)
    _inspected(story, w.p2.id, "320506", campaign["id"], w.officer_wz)
    figures = {x["code"]: x for x in city.get(f"/api/campaigns/{campaign['id']}/coverage", params={"round": 1}).json()["districts"]}
    assert (figures["320508"]["inspected"], figures["320508"]["in_scope"], figures["320508"]["covered"]) == (2, 2, True)
    assert (figures["320506"]["inspected"], figures["320506"]["in_scope"], figures["320506"]["covered"]) == (1, 2, False)

    # Nothing before Wed 25 Nov 09:00 (3 working days before Mon 30 Nov).
    story.advance(to=beijing(2026, 11, 25, 8), step=story_step())
    assert _campaign_messages(story, "campaign_round_reminder") == []
    story.advance(to=beijing(2026, 11, 25, 9), step=story_step())
    reminders = _campaign_messages(story, "campaign_round_reminder")
    assert {m.recipient_user_id for m in reminders} == {w.officer_wz.id}
    seen = _inbox(story, w.officer_wz, "专项行动提醒")
    assert len(seen) == 1
    assert "苏州市吴中区住房和城乡建设局：《2轮全覆盖精准排查》第一轮将于2026年11月30日到期" in seen[0]["text"]
    assert "尚有1个未检查" in seen[0]["text"]
    assert _inbox(story, w.officer, "专项行动提醒") == []

    # Still no letter on the due date itself (the district has the whole day) …
    story.advance(to=beijing(2026, 11, 30, 23), step=story_step())
    assert _campaign_messages(story, "campaign_supervision_letter") == []
    # … at 24:00 the city's 督办函 to 吴中区, and to nobody else.
    story.advance(to=beijing(2026, 12, 1, 0), step=story_step())
    letters = _campaign_messages(story, "campaign_supervision_letter")
    assert {m.recipient_user_id for m in letters} == {w.officer_wz.id}
    assert {m.document_no for m in letters} == {"苏州建质督函〔2026〕1号"}
    text = letters[0].variables["letter_text"]
    assert text.split("\n") == [
        "督办函", "苏州建质督函〔2026〕1号", "苏州市吴中区住房和城乡建设局：",
        "根据苏州市住房和城乡建设局《2轮全覆盖精准排查》工作安排，第一轮应于2026年11月30日前完成辖区内在建项目检查全覆盖"
        "（覆盖率目标100%）。截至2026年11月30日，你辖区范围内在建项目2个，已检查1个，未检查1个，覆盖率50%，未完成工作要求。",
        "请于收到本函后立即组织对未检查项目逐一开展检查，并于2026年12月8日前将整改落实情况书面报告组织单位。",
        "苏州市住房和城乡建设局", "2026年12月1日"]
    inbox = _inbox(story, w.officer_wz, "督办函")
    assert len(inbox) == 1 and "苏州建质督函〔2026〕1号" in inbox[0]["subject"]
    assert "未检查1个（覆盖率50%，目标100%）" in inbox[0]["text"]
    assert _inbox(story, w.officer, "督办函") == [] and _inbox(story, w.supervisor, "督办函") == []

    # The sweep goes on for days: nothing is sent again, and the record says what each district saw.
    story.advance(days=3, step=story_step())
    assert len(_campaign_messages(story, "campaign_supervision_letter")) == len(letters)
    assert len(_campaign_messages(story, "campaign_round_reminder")) == len(reminders)
    with story.db.session() as s:
        rows = {(f.jurisdiction_code, f.rung): f for f in s.scalars(select(CampaignRoundFiring))}
    assert sorted(rows) == [("320506", "reminder"), ("320506", "supervision_letter"),
                            ("320508", "reminder"), ("320508", "supervision_letter")]
    assert rows[("320508", "supervision_letter")].coverage["sent"] is False
    assert rows[("320508", "supervision_letter")].coverage["reason"] == "已达到覆盖率目标"
    assert rows[("320506", "supervision_letter")].document_number == "苏州建质督函〔2026〕1号"
    assert rows[("320506", "supervision_letter")].coverage["letter"] == text


def story_step() -> timedelta:
    return timedelta(hours=3)  # the rungs' moments (09:00 and 24:00 Beijing) fall on these steps
