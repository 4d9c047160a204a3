"""Every letter and message about every kind of case can be read — with or without a project.

In 姑苏区 the officer has, on the same morning: a hazard on 姑苏测试项目 that its unit lets run over;
a hazard whose unit reports completion that nobody re-inspects, and one whose extension request
nobody decides; a major hazard on the project; an accident on the project and one in a building
with no project; two dangerous buildings — 平江路5号老公房 whose owner nobody registered and no
unit is named for (D grade, its 24-hour stop-use clock runs over), and 木渎自建房's twin in 姑苏区
with a registered owner and a responsible unit (C grade, treated but never accepted). Nobody acts
again for half a year. Every rung climbs: reminders, overdue warnings, 警示函, 挂牌督办通知书,
督办函, 约谈通知书, 通报批评 and 提级. Every document the system wrote renders, every message
renders from its stored variables, and no administrator is ever alerted. A building's letters
name the building (房屋名称, 房屋地址) and never print 工程名称; a project's name the project.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.models import Building, Case, Document, OutboxMessage
from notifications.rendering.catalog import CATALOG
from notifications.rendering.render import RenderError, render_message
from notifications.rendering.variables import build_variables
from tests.scenarios.conftest import beijing

LADDER_LETTERS = {"warning_letter", "supervision_notice", "supervision_letter", "interview_notice", "public_criticism"}


def _unreadable(story) -> list[str]:
    """Every document not rendered and every message whose templates fail, with the reason."""
    bad = []
    with story.db.session() as s:
        for doc in s.scalars(select(Document)):
            if doc.status != "rendered":
                bad.append(f"document {doc.doc_type} {doc.number}: {doc.status} {doc.error}")
        for m in s.scalars(select(OutboxMessage)):
            if m.status == "failed":
                bad.append(f"outbox {m.id} {m.template}: failed")
            if CATALOG[m.template].is_message:
                try:
                    render_message(m.template, build_variables(s, m, story.settings))
                except RenderError as exc:
                    bad.append(f"message {m.id} {m.template}: {exc}")
    return bad


def _texts(story, case: dict, doc_type: str) -> list[str]:
    return [story.text_of(d) for d in story.document_rows(case, doc_type)]


def _short_texts(story, case: dict, template: str) -> list[str]:
    with story.db.session() as s:
        return [render_message(m.template, build_variables(s, m, story.settings)).short_text
                for m in s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case["id"],
                                                               OutboxMessage.template == template))]


def test_every_letter_and_message_of_every_kind_of_case_renders(story):
    w = story.world
    story.clock.set(beijing(2026, 11, 23, 9))  # a Monday
    # A second building in 姑苏区, with its owner registered.
    with story.db.transaction() as s:
        b3 = Building(name="十全街8号沿街楼", jurisdiction_code="320508", address="十全街8号", structure="砖木",
                      owner_name="苏州市姑苏区十全街8号业主委员会", created_at=story.clock.now())
        s.add(b3)
        s.flush()
        b3_id = b3.id

    def hazard(title: str, **kw) -> dict:
        case = story.drv.create("hazard", title=title, **kw)
        return story.act(case, "register", w.officer, fields={
            "enterprise_id": w.e1.id, "severity": "general", "requirements": "立即整改并书面报告"})

    # 1. a hazard on the project whose unit lets every deadline pass
    overdue = hazard("2号楼外架连墙件缺失")
    # 2. completion reported early; the officer never re-inspects (the officer's ladder)
    unchecked = story.act(hazard("塔吊标准节螺栓松动"), "start_rectification", w.contact)
    unchecked = story.act(unchecked, "report_completion", w.contact, fields={"completion_report": "已紧固并自检合格"})
    # 3. an extension request nobody decides (the approver's ladder)
    waiting = story.act(hazard("基坑临边防护缺失"), "start_rectification", w.contact)
    waiting = story.act(waiting, "request_extension", w.contact, fields={"extension_days": 5, "reason": "材料未到场"})
    # 4. a major hazard on the project (listed at registration)
    major = story.drv.create("major_hazard", title="高支模未按方案搭设")
    major = story.act(major, "register", w.officer)
    # 5. accidents: on the project, and in a building with no project
    accident = story.drv.create("accident", title="1号楼高处坠落")
    accident = story.act(accident, "register", w.officer)
    building_accident = story.drv.create("accident", title="老公房楼梯坍塌致一人受伤", project_id=None,
                                         building_id=w.b1.id, enterprise_id=None, location="")
    # 6. dangerous buildings: no owner registered, no unit named (D); a registered owner and a unit (C)
    bare = story.drv.create("dangerous_building", title="平江路5号老公房D级危房", enterprise_id=None, location="")
    bare = story.act(bare, "register", w.officer, fields={
        "appraisal_grade": "D", "appraisal_org": "苏州市房屋安全鉴定中心", "appraisal_report_no": "苏房鉴〔2026〕120号",
        "appraised_on": "2026-11-20", "handling": "stop_use"})
    owned = story.drv.create("dangerous_building", title="十全街8号沿街楼C级危房", building_id=b3_id, location="")
    owned = story.act(owned, "register", w.officer, fields={
        "appraisal_grade": "C", "appraisal_org": "苏州市房屋安全鉴定中心", "appraisal_report_no": "苏房鉴〔2026〕121号",
        "appraised_on": "2026-11-20", "handling": "treat"})
    owned = story.act(owned, "start_rectification", w.officer, fields={
        "plan": "局部加固", "responsible_person": "业主委员会主任"})
    with story.db.session() as s:  # the machine allowed a building case with no project
        assert s.get(Case, bare["id"]).project_id is None and s.get(Case, bare["id"]).enterprise_id is None

    # The D-grade building's 24-hour clock runs over before anyone records the evacuation; then
    # its treatment starts and, like everything else, is left alone for half a year.
    story.advance(hours=30, step=timedelta(hours=1))
    bare = story.act(story.get(bare), "record_evacuation", w.officer, fields={
        "use_stopped": True, "evacuated_count": 6, "evacuated_at": story.clock.now().isoformat()})
    bare = story.act(bare, "start_rectification", w.officer, fields={
        "plan": "整体加固", "responsible_person": "平江街道城建科科长"})
    assert story.messages(bare, "overdue_warning"), "the stop-use clock's ladder"
    story.advance(days=200, step=timedelta(days=1))

    bad = _unreadable(story)
    assert bad == [], "\n".join(bad)
    with story.db.session() as s:
        alerts = s.scalars(select(OutboxMessage).where(OutboxMessage.template == "system_alert")).all()
        assert [(a.variables or {}).get("alert_title") for a in alerts] == []

    # Every ladder was climbed: the project's hazard and both buildings reached every letter and 提级.
    for case in (overdue, owned, bare):
        kinds = {d.doc_type for d in story.document_rows(case)}
        assert LADDER_LETTERS <= kinds, (case["title"], kinds)
        assert story.messages(case, "escalation_transfer"), case["title"]
        for m in story.messages(case, "overdue_warning") + story.messages(case, "reminder"):
            assert m.status == "sent"
    for case in (unchecked, waiting, accident, building_accident, major):
        assert story.messages(case, "overdue_warning") or story.messages(case, "reminder"), case["title"]

    # What the letters say the case is about: the project, or the building — never a wrong label.
    for doc_type in LADDER_LETTERS:
        for text in _texts(story, overdue, doc_type):
            assert "工程名称：姑苏测试项目" in text or "工程名称姑苏测试项目" in text, (doc_type, text)
        for case, name, address in ((bare, "平江路5号老公房", "平江路5号"), (owned, "十全街8号沿街楼", "十全街8号")):
            for text in _texts(story, case, doc_type):
                assert "工程名称" not in text and name in text and address in text, (doc_type, text)
    [warning] = _texts(story, bare, "warning_letter")
    assert "房屋所有人、使用人：" in warning and "作为该危险房屋的治理责任人" in warning
    [warning] = _texts(story, owned, "warning_letter")
    assert f"{w.e1.name}：" in warning
    [listing] = _texts(story, bare, "supervision_notice")
    assert "经查，位于平江路5号的平江路5号老公房存在下列房屋安全隐患，治理责任人为房屋所有人、使用人" in listing
    for template in ("reminder", "overdue_warning", "escalation_transfer"):
        for text in _short_texts(story, bare, template):
            assert "房屋：平江路5号老公房（平江路5号）" in text and "工程：" not in text
        for text in _short_texts(story, overdue, template):
            assert "工程：姑苏测试项目" in text and "房屋：" not in text
    # 提级 says why: which deadline was missed, since when, by how long.
    reasons = {m.variables["reason"] for m in story.messages(bare, "escalation_transfer")}
    assert reasons and all("届满" in r and "逾期" in r and "提级至" in r for r in reasons), reasons
    [notice_msg] = _short_texts(story, bare, "dangerous_building_notice")[:1]
    assert "平江路5号（平江路5号老公房）" in notice_msg
