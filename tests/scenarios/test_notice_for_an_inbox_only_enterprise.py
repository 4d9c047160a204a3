"""An enterprise whose contact has no e-mail address, in a bureau that has configured no SMTP server.

The contact reads everything in the in-app inbox. A hazard is registered on Monday morning; after
the next sweep the contact downloads the 隐患整改通知书 from the case and reads its number. Nothing
is e-mailed, so nothing "fails" to be e-mailed. Forty-five days later, with the ladder having
climbed (警示函, 挂牌督办, 督办函, 约谈, 通报批评), every document is there to download; none waits in
待生成 because nobody was e-mailed it.
"""
from datetime import timedelta
from io import BytesIO

import pypdf
from sqlalchemy import select, update

from cases.models import DeliveryAttempt, OutboxMessage, User
from tests.scenarios.conftest import beijing, squash


def pdf_text(data: bytes) -> str:
    return squash("".join(p.extract_text() or "" for p in pypdf.PdfReader(BytesIO(data)).pages))


def test_an_inbox_only_contact_downloads_the_notice_and_nothing_waits_for_an_email(story):
    world = story.world
    # 苏州测试建设's contact has no e-mail address; the bureau has no SMTP server configured.
    with story.db.transaction() as s:
        s.execute(update(User).where(User.id == world.contact.id).values(email=None))
    story.clock.set(beijing(2026, 11, 23, 9, 0))  # Monday

    case = story.drv.create("hazard", title="3号楼临边防护缺失", description="3号楼5层临边未设置防护栏杆",
                            location="3号楼5层")
    case = story.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "general",
                                               "requirements": "立即设置临边防护栏杆"})
    contact = story.client(world.contact)
    [notice] = story.documents(case, world.contact)
    assert notice["doc_type"] == "rectification_notice" and notice["status"] == "issued"

    story.advance(hours=1)  # the next sweep: the notice is rendered, whoever gets it by whatever channel

    [notice] = story.documents(case, world.contact)
    assert notice["status"] == "rendered", notice["error"]
    r = contact.get(notice["pdf_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert squash(notice["number"]) in text and "3号楼5层" in text and "立即设置临边防护栏杆" in text
    assert "contact" in story.notified(case, "rectification_notice")
    # Nothing is e-mailed (no SMTP), so nothing fails.
    messages = story.messages(case)
    assert {m.channel for m in messages} == {"inbox"}
    assert not [m for m in messages if m.status == "failed"]

    story.advance(days=45, step=timedelta(hours=6))

    documents = story.documents(case, world.officer)
    assert {d["doc_type"] for d in documents} >= {"rectification_notice", "warning_letter", "supervision_notice"}
    stuck = [(d["title"], d["number"], d["status_label"], d["error"]) for d in documents if d["status"] != "rendered"]
    assert stuck == [], stuck
    # The contact reads every notice addressed to the enterprise from the case, each with its number.
    for d in story.documents(case, world.contact):
        r = contact.get(d["pdf_url"])
        assert r.status_code == 200, (d["title"], r.text)
        assert squash(d["number"]) in pdf_text(r.content), d["title"]
    with story.db.session() as s:
        failed = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
        assert failed == [], [(m.template, m.channel, m.last_error) for m in failed]
        assert set(s.scalars(select(OutboxMessage.channel))) == {"inbox"}
        assert not s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.status == "failed")).all()
