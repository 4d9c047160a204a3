"""A notice reaches the unit the case holds responsible — not the project's 施工单位.

On 姑苏测试项目 (施工单位: 苏州测试建设有限公司, "A") the officer finds a curtain-wall hazard of the
subcontractor 江苏天成幕墙装饰工程有限公司 ("B") and names B as the responsible unit at
registration; nobody types a location. The 整改通知书 is addressed to B, says where (the
project's site), and copies the 施工单位, 建设单位 and 监理单位. B lets the deadline pass: the sweep
sends B a 警示函, dated in Chinese, asking for completion by a new date after its own. The city
lists the case; the 督办函 goes to the 姑苏区 bureau. The bureau lets the supervision run over:
the 约谈通知书 and the 通报批评 are addressed to the 姑苏区 bureau, and its staff are the ones
notified. B's contact gets what is addressed to B; A's contact gets nothing.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from cases.platform.clock import to_local
from cases.ledger.identifiers import make_credit_code
from cases.models import Enterprise, User
from tests.conftest import password_hash
from tests.scenarios.conftest import cn

GUSU_BUREAU = "苏州市姑苏区住房和城乡建设局"
CITY_BUREAU = "苏州市住房和城乡建设局"
B_NAME = "江苏天成幕墙装饰工程有限公司"
CN_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")


def add_subcontractor(story) -> tuple[Enterprise, User]:
    """B, a curtain-wall subcontractor on the project (not one of its registered parties), and its contact."""
    now = story.clock.now()
    with story.db.transaction() as s:
        b = Enterprise(credit_code=make_credit_code("91320508MA1N6K2R3"), name=B_NAME, jurisdiction_code="320508",
                       credit_score=100, created_at=now, contact_name="沈立新", contact_phone="13962100002")
        s.add(b)
        s.flush()
        contact = User(username="b_contact", display_name="沈立新", password_hash=password_hash(), role="enterprise",
                       jurisdiction_code="320508", enterprise_id=b.id, active=True, created_at=now,
                       email="b@example.com")
        s.add(contact)
        s.flush()
        s.expunge_all()
    return b, contact


def dates_in(text: str) -> list[date]:
    return [date(int(y), int(m), int(d)) for y, m, d in CN_DATE.findall(text)]


def requested_by(text: str) -> date:
    """The date the letter asks the work to be done by (请于…前 / 应当于…前)."""
    m = re.search(r"于(\d{4})年(\d{1,2})月(\d{1,2})日(?:（[^）]*）)?前", text)
    assert m, text
    return date(*(int(x) for x in m.groups()))


def test_notice_reaches_the_responsible_unit_not_the_projects_contractor(story):
    world = story.world
    b, b_contact = add_subcontractor(story)

    # Monday 2026-11-23: found and registered, B named responsible; no location typed.
    case = story.drv.create("hazard", title="3#楼幕墙吊篮安全锁失效", location="",
                            description="3#楼东立面幕墙施工吊篮安全锁失效，安全绳未独立设置")
    case = story.act(case, "register", fields={"enterprise_id": b.id, "severity": "general",
                                               "requirements": "立即停止使用该吊篮，更换安全锁并经检测合格"})
    story.advance(hours=2)

    [notice] = story.document_rows(case, "rectification_notice")
    text = story.text_of(notice)
    assert text.startswith(GUSU_BUREAU) and f"{B_NAME}：" in text
    assert f"{world.e1.name}：" not in text, "addressed to the 施工单位 instead of the responsible unit"
    assert "平江路1号施工现场" in text, "no location typed: the project's site"
    copies = text[text.index("抄送："):text.index("印发")]
    assert world.e1.name in copies and "姑苏城市建设发展有限公司" in copies and "苏州工程监理咨询有限公司" in copies
    assert B_NAME not in copies, "the addressee is not also a copy"
    assert "b_contact" in story.notified(case, "rectification_notice")
    assert "contact" not in story.notified(case), "A's contact is told nothing about B's hazard"

    # The 整改期限 (7 days ≤ 10: working days, to Wed 2 December) passes; the sweep sends B a 警示函.
    story.advance(days=10, step=timedelta(hours=3))
    [warning] = story.document_rows(case, "warning_letter")
    text = story.text_of(warning)
    assert f"{B_NAME}：" in text and f"{world.e1.name}：" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text), "a date a person reads is a Chinese date"
    assert f"{cn(warning.issued_at)}印发" in text
    missed = date(2026, 12, 2)
    assert f"已于{cn(missed)}届满" in text
    asked = requested_by(text)
    assert asked > missed and asked > to_local(warning.issued_at).date()
    assert "立即完成整改期限" not in text
    assert "b_contact" in story.notified(case, "warning_letter")
    assert "contact" not in story.notified(case)

    # Five working days later the city lists it: the 督办函 goes to the 姑苏区 bureau.
    story.advance(days=8, step=timedelta(hours=6))
    [letter] = story.document_rows(case, "supervision_letter")
    text = story.text_of(letter)
    assert text.startswith(CITY_BUREAU) and f"{GUSU_BUREAU}：" in text
    assert f"原定期限{cn(missed)}" in text and f"已于{cn(missed)}届满" in text, "one missed date, the same everywhere"
    assert requested_by(text) > to_local(letter.issued_at).date()
    assert "联系人：supervisor" in text and "联系人：officer" not in text, "the city's letter names the city's contact"
    [listing_notice] = story.document_rows(case, "supervision_notice")
    text = story.text_of(listing_notice)
    assert f"{GUSU_BUREAU}：" in text and f"责任单位为{B_NAME}" in text

    # The bureau lets the supervision run over: 约谈, then 通报批评 of the bureau.
    story.advance(days=45, step=timedelta(hours=6))
    [interview] = story.document_rows(case, "interview_notice")
    text = story.text_of(interview)
    assert f"{GUSU_BUREAU}：" in text and f"{B_NAME}：" not in text
    held = re.search(r"约谈时间" + CN_DATE.pattern, text)
    assert held and date(*(int(x) for x in held.groups())) > to_local(interview.issued_at).date()
    assert story.notified(case, "interview_notice") == {"officer"}, "the bureau's staff, not the enterprise"

    [criticism] = story.document_rows(case, "public_criticism")
    text = story.text_of(criticism)
    assert f"{GUSU_BUREAU}：" in text and f"关于对{GUSU_BUREAU}予以通报批评的通报" in text
    assert "规定的有关规定" not in text and text.count(CITY_BUREAU + "苏州建质通") == 1
    assert requested_by(text) > to_local(criticism.issued_at).date(), "asks for a reply after its own date"
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert "officer" in story.notified(case, "public_criticism")
    assert not {"contact", "b_contact"} & story.notified(case, "public_criticism")

    # Throughout, A's contact was never sent anything about this case.
    assert "contact" not in story.notified(case)
