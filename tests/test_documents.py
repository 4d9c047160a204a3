"""Documents issued by transitions: numbered in the transition's transaction, rendered once,
stored content-addressed with their SHA-256, served over HTTP with it as ETag, attached as stored."""
from __future__ import annotations

import email
import email.policy
import hashlib
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pypdf
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from cases.platform.config import Settings
from cases.issuance.docnumbers import issue_document_number
from cases.models import Document, DocumentNumberCounter, Jurisdiction, OutboxMessage, User
from notifications.delivery import service as delivery
from notifications.documents.store import render_pending_documents
from notifications.rendering.render import render_message
from notifications.rendering.variables import build_variables
from tests.conftest import complete_project
from tests.machine_paths import HttpDriver

NOTICE_1 = "姑苏建质改〔2026〕1号"
NOTICE_2 = "姑苏建质改〔2026〕2号"


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def settings(fresh_data_settings):
    return fresh_data_settings


@pytest.fixture
def drv(api, world, clock) -> HttpDriver:
    return HttpDriver(api, world, clock)


def register_hazard(drv: HttpDriver, world, title: str = "3号楼临边防护缺失", **fields) -> dict:
    case = drv.create("hazard", title=title, description="3号楼5层临边未设置防护栏杆", location="3号楼5层")
    payload = {"enterprise_id": world.e1.id, "severity": "general",
               "requirements": "立即设置临边防护栏杆\n整改完成后报送整改回复单", **fields}
    return drv.act(case, "register", fields=payload)


def documents(api_client, case: dict) -> list[dict]:
    r = api_client.get(f"/api/cases/{case['id']}/documents")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def doc_row(db, number: str) -> Document:
    with db.session() as s:
        return s.scalars(select(Document).where(Document.number == number)).one()


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(BytesIO(data))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def event_documents(drv: HttpDriver, case: dict, action: str) -> list[dict]:
    [event] = [e for e in drv.events(case) if e["action"] == action][-1:]
    return [{"type": d["type"], "number": d["number"]} for d in event["payload"].get("documents", [])]


# ---------------------------------------------------------------- issue, render, download


def test_register_issues_numbered_notice_rendered_once_and_downloadable(api, drv, db, world, clock, settings):
    officer = api(world.officer)
    case = register_hazard(drv, world)
    case2 = register_hazard(drv, world, title="2号楼卸料平台限载牌缺失")
    # Numbered in the transition, shown in the history.
    assert event_documents(drv, case, "register") == [{"type": "rectification_notice", "number": NOTICE_1}]
    assert event_documents(drv, case2, "register") == [{"type": "rectification_notice", "number": NOTICE_2}]
    [item] = documents(officer, case)
    assert item["number"] == NOTICE_1 and item["title"] == "隐患整改通知书" and item["status"] == "issued"
    assert item["issuing_jurisdiction_code"] == "320508" and item["sha256"] is None and item["pdf_url"] is None
    # Messages to the enterprise contact and the assignee, carrying the number.
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case["id"],
                                                          OutboxMessage.template == "rectification_notice")))
    assert {m.recipient_user_id for m in rows} == {world.contact.id, world.officer.id}
    assert {m.document_no for m in rows} == {NOTICE_1} and not any(m.urgent for m in rows)
    # Not rendered yet: 404 with a Chinese message.
    r = officer.get(f"/api/documents/{item['id']}.pdf")
    assert r.status_code == 404 and "尚未生成" in r.json()["message"]

    complete_project(db, world, clock)
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 2}
    doc = doc_row(db, NOTICE_1)
    assert doc.status == "rendered" and doc.rendered_at == clock.now() and doc.error is None
    stored = Path(settings.data_dir) / doc.pdf_path
    assert doc.pdf_path == f"documents/{doc.sha256}.pdf" and doc.html_path == f"documents/{doc.sha256}.html"
    data = stored.read_bytes()
    assert hashlib.sha256(data).hexdigest() == doc.sha256 and data.startswith(b"%PDF")

    r = officer.get(f"/api/documents/{doc.id}.pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content == data
    assert r.headers["etag"] == f'"{doc.sha256}"' and r.headers["x-content-sha256"] == doc.sha256
    text = pdf_text(r.content)
    assert case["number"] in text and "苏州测试建设有限公司" in text and NOTICE_1 in text and "立即设置临边防护栏杆" in text
    assert officer.get(f"/api/documents/{doc.id}.pdf", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    html = officer.get(f"/api/documents/{doc.id}.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert case["number"] in html.text and html.headers["x-document-sha256"] == doc.sha256
    [item] = documents(officer, case)
    assert item["status"] == "rendered" and item["sha256"] == doc.sha256 and item["pdf_url"] == f"/api/documents/{doc.id}.pdf"
    # The enterprise contact of the case sees it too; another county's officer does not.
    assert api(world.contact).get(f"/api/documents/{doc.id}.pdf").content == data
    other = api(world.officer_wz)
    for path in (f"/api/documents/{doc.id}.pdf", f"/api/documents/{doc.id}.html", f"/api/documents/{doc.id}",
                 f"/api/cases/{case['id']}/documents"):
        r = other.get(path)
        assert r.status_code == 404 and "不存在" in r.json()["message"], path
    assert officer.get("/api/documents/999999.pdf").status_code == 404
    # Rendered once: another run does nothing, the file stays.
    assert render_pending_documents(db, clock.now(), settings=settings) == {}
    assert stored.read_bytes() == data


def test_reject_verify_close_issue_reinspection_opinions_and_closure(api, drv, db, world, clock, settings):
    complete_project(db, world, clock)
    case = register_hazard(drv, world)
    case = drv.act(case, "start_rectification")
    case = drv.act(case, "reject", fields={"opinion": "临边防护栏杆高度不足1.2米", "inspectors": "张伟、李明"})
    assert event_documents(drv, case, "reject") == [{"type": "reinspection_opinion", "number": "姑苏建质复〔2026〕1号"}]
    first = doc_row(db, "姑苏建质复〔2026〕1号")
    v = first.variables
    assert v["rectification_round"] == 1 and v["reinspection_passed"] is False
    assert v["original_doc_number"] == NOTICE_1 and v["inspectors"] == "张伟、李明"
    assert v["findings"] == "临边防护栏杆高度不足1.2米" and v["due_date"]  # the new rectification deadline
    case = drv.act(case, "verify", fields={"opinion": "已整改到位", "inspectors": "张伟"})
    second = doc_row(db, "姑苏建质复〔2026〕2号")
    assert second.variables["rectification_round"] == 2 and second.variables["reinspection_passed"] is True
    case = drv.act(case, "close")
    assert event_documents(drv, case, "close") == [{"type": "closure_confirmation", "number": "姑苏建质销〔2026〕1号"}]
    closure = doc_row(db, "姑苏建质销〔2026〕1号")
    assert closure.variables["original_doc_number"] == NOTICE_1 and closure.variables["lookback_due_date"]

    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 4}
    officer = api(world.officer)
    text = pdf_text(officer.get(f"/api/documents/{first.id}.pdf").content)
    assert "第1次复查" in text and "不予通过" in text and NOTICE_1 in text
    assert "予以通过" in pdf_text(officer.get(f"/api/documents/{second.id}.pdf").content)
    assert "销号" in pdf_text(officer.get(f"/api/documents/{closure.id}.pdf").content)
    assert [d["doc_type"] for d in documents(officer, case)] == [
        "rectification_notice", "reinspection_opinion", "reinspection_opinion", "closure_confirmation"]


def test_reclassify_issues_stop_work_order(api, drv, db, world, clock, settings):
    complete_project(db, world, clock)
    case = register_hazard(drv, world)
    case = drv.act(case, "reclassify", fields={
        "hazard_item_code": "7.2", "stop_work_scope": "partial",
        "reason": "经判定属于重大事故隐患", "requirements": "立即撤出作业人员\n按专项方案整改", "enterprise_id": world.e1.id})
    docs = event_documents(drv, case, "reclassify")
    assert docs == [{"type": "stop_work_order", "number": "姑苏建质停〔2026〕1号"}]
    order = doc_row(db, "姑苏建质停〔2026〕1号")
    assert order.variables["partial_stop"] is True
    assert order.variables["hazard_catalog_item"] == (
        "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》（建质规〔2022〕2号）第七条第（二）项：未设置连墙件或连墙件整层缺失")
    assert order.variables["requirements"] == ["立即撤出作业人员", "按专项方案整改"]
    # 整改通知书 (register) + 责令停工通知书 + 挂牌督办通知书 (a major hazard is listed at once).
    assert render_pending_documents(db, clock.now(), settings=settings)["rendered"] == 3
    text = pdf_text(api(world.officer).get(f"/api/documents/{order.id}.pdf").content)
    assert "责令局部停工通知书" in text and "姑苏建质停〔2026〕1号" in text


def test_ladder_listing_issues_supervision_notice_and_letter_as_documents(api, drv, db, world, clock, settings):
    """An overdue case listed by the city: 挂牌督办通知书 and 督办函 are stored, rendered documents."""
    from cases.clocks.sweep import fire_all_due

    complete_project(db, world, clock)
    case = register_hazard(drv, world)
    clock.advance(timedelta(days=20))  # far past the 7-day period and the 5 working days before listing
    fire_all_due(db, clock.now())
    docs = {d["doc_type"]: d for d in documents(api(world.officer), case)}
    assert docs["supervision_notice"]["number"] == "苏州建质督〔2026〕1号"
    assert docs["supervision_letter"]["number"] == "苏州建质督函〔2026〕1号"
    render_pending_documents(db, clock.now(), settings=settings)
    letter = doc_row(db, "苏州建质督函〔2026〕1号")
    assert letter.status == "rendered", letter.error
    text = pdf_text(api(world.supervisor).get(f"/api/documents/{letter.id}.pdf").content)
    assert "督办函" in text and "逾期" in text
    # The overdue rung's 警示函 (fired on the bulk path) is a stored document too.
    assert docs["warning_letter"]["number"] == "姑苏建质警〔2026〕1号"
    warning = doc_row(db, "姑苏建质警〔2026〕1号")
    assert warning.status == "rendered", warning.error
    # The supervision's own ladder: 约谈 and 通报批评 letters from the listing authority (the city).
    clock.advance(timedelta(days=60))
    fire_all_due(db, clock.now())
    docs = {d["doc_type"]: d for d in documents(api(world.supervisor), case)}
    assert docs["interview_notice"]["number"].startswith("苏州建质约〔")
    assert docs["public_criticism"]["number"].startswith("苏州建质通〔")
    render_pending_documents(db, clock.now(), settings=settings)
    for doc_type in ("interview_notice", "public_criticism"):
        row = doc_row(db, docs[doc_type]["number"])
        assert row.status == "rendered", row.error


def test_accident_creation_issues_urgent_flash_report_to_the_city(api, drv, db, world, clock, settings):
    complete_project(db, world, clock)
    case = drv.create("accident", deaths=1)
    assert event_documents(drv, case, "create") == [{"type": "accident_flash_report", "number": "姑苏建质快〔2026〕1号"}]
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == "accident_flash_report")))
    assert rows and all(m.urgent and m.document_no == "姑苏建质快〔2026〕1号" for m in rows)
    assert {m.recipient_user_id for m in rows} == {world.supervisor.id}  # 苏州市 (the parent of 姑苏区)
    with db.session() as s:  # nobody is assigned yet: the reporting officer is the contact, the message renders
        inbox = s.scalars(select(OutboxMessage).where(OutboxMessage.template == "accident_flash_report",
                                                      OutboxMessage.channel == "inbox")).one()
        text = render_message(inbox.template, build_variables(s, inbox)).short_text
    assert "姑苏建质快〔2026〕1号" in text or case["number"] in text
    report = doc_row(db, "姑苏建质快〔2026〕1号")
    assert report.variables["accident_type"] == "高处坠落" and report.variables["accident_grade"] == "general"
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 1}, doc_row(db, report.number).error
    text = pdf_text(api(world.supervisor).get(f"/api/documents/{report.id}.pdf").content)
    assert "事故快报" in text and "高处坠落" in text and case["number"] in text


def test_dangerous_building_register_issues_notice(api, drv, db, world, clock, settings):
    from cases.models import Building

    with db.transaction() as s:
        s.execute(update(Building).where(Building.id == world.b1.id).values(owner_name="顾某某"))
        s.execute(update(User).where(User.id == world.officer.id).values(phone="0512-65000000"))
    case = drv.create("dangerous_building")
    case = drv.act(case, "register")  # D grade, stop use
    [d] = event_documents(drv, case, "register")
    assert d == {"type": "dangerous_building_notice", "number": "姑苏建质危〔2026〕1号"}
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 1}
    notice = doc_row(db, d["number"])
    text = pdf_text(api(world.officer).get(f"/api/documents/{notice.id}.pdf").content)
    assert "危险房屋通知书" in text and "顾某某" in text and "平江路5号老公房" in text


# ---------------------------------------------------------------- bad input


def test_missing_variable_marks_failed_with_reason_visible_on_the_case(api, drv, db, world, clock, settings):
    complete_project(db, world, clock)
    case = register_hazard(drv, world)
    # The contact officer's phone is removed after the notice was issued, before it is rendered.
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone=None))
    assert render_pending_documents(db, clock.now(), settings=settings) == {"failed": 1}
    doc = doc_row(db, NOTICE_1)
    assert doc.status == "failed" and "contact_phone" in doc.error and doc.error.startswith("文书生成失败")
    assert doc.sha256 is None and doc.pdf_path is None
    assert not (Path(settings.data_dir) / "documents").exists() or not any((Path(settings.data_dir) / "documents").iterdir())
    officer = api(world.officer)
    [item] = documents(officer, case)
    assert item["status"] == "failed" and "contact_phone" in item["error"] and item["status_label"] == "生成失败"
    r = officer.get(f"/api/documents/{doc.id}.pdf")
    assert r.status_code == 404 and "生成失败" in r.json()["message"] and "contact_phone" in r.json()["message"]
    [failed] = [e for e in drv.events(case) if e["action"] == "document_failed"]
    assert failed["payload"]["number"] == NOTICE_1 and "contact_phone" in failed["payload"]["error"]
    # Not retried by itself; an admin re-queues it once the data is fixed (same number).
    assert render_pending_documents(db, clock.now(), settings=settings) == {}
    assert officer.post(f"/api/admin/documents/{doc.id}/rerender").status_code == 403
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone="0512-65000000"))
    r = api(world.admin).post(f"/api/admin/documents/{doc.id}/rerender")
    assert r.status_code == 200 and r.json()["status"] == "issued" and r.json()["number"] == NOTICE_1
    assert api(world.admin).post(f"/api/admin/documents/{doc.id}/rerender").status_code == 409
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 1}
    assert officer.get(f"/api/documents/{doc.id}.pdf").status_code == 200


def test_an_action_whose_notice_cannot_be_filled_is_refused_naming_the_field(api, drv, db, world, clock, settings):
    """Caught when the action is taken (422, Chinese label), never later at render time: no
    document, no 文号 taken, the case unchanged."""
    complete_project(db, world, clock)
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone=None))
    case = drv.create("hazard", title="3号楼临边防护缺失", description="3号楼5层临边未设置防护栏杆", location="3号楼5层")
    payload = {"enterprise_id": world.e1.id, "severity": "general", "requirements": "立即设置临边防护栏杆"}
    r = drv.try_act(case, "register", fields=payload)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["label"]) for e in r.json()["errors"]] == [("assignee_id", "承办人联系电话")]
    assert "隐患整改通知书" in r.json()["message"]
    assert documents(api(world.officer), case) == [] and drv.get(case)["state"] == "found"
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone="0512-65000000"))
    # No project and no location: nothing says where the hazard is.
    bare = drv.create("hazard", title="临时用电隐患", description="开关箱无漏保", location="", project_id=None)
    r = drv.try_act(bare, "register", fields=payload)
    assert r.status_code == 422, r.text
    labels = {e["label"] for e in r.json()["errors"]}
    assert {"地点", "工程项目"} <= labels, r.json()
    # Once the officer is reachable, the first notice still gets number 1: the refused ones took none.
    case = drv.act(case, "register", fields=payload)
    [d] = event_documents(drv, case, "register")
    assert d["number"] == NOTICE_1


def alerts(db, number: str) -> list[OutboxMessage]:
    """The administrators' system alerts about a document."""
    with db.session() as s:
        rows = [m for m in s.scalars(select(OutboxMessage).where(OutboxMessage.template == "system_alert"))
                if number in (m.variables or {}).get("alert_title", "")]
        s.expunge_all()
        return rows


def test_inbox_only_contact_downloads_the_notice_after_one_render_run_without_delivery(api, drv, db, world,
                                                                                         clock, settings):
    """No e-mail anywhere: the render run alone makes the PDF downloadable; nothing is delivered."""
    with db.transaction() as s:
        s.execute(update(User).values(email=None))
    complete_project(db, world, clock)
    case = register_hazard(drv, world)
    with db.session() as s:
        assert {m.channel for m in s.scalars(select(OutboxMessage))} == {"inbox"}
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 1}
    contact = api(world.contact)
    [item] = documents(contact, case)
    assert item["status"] == "rendered" and item["number"] == NOTICE_1
    r = contact.get(item["pdf_url"])
    assert r.status_code == 200 and NOTICE_1 in pdf_text(r.content)
    with db.session() as s:  # no delivery ran: every message still waits for it
        assert {m.status for m in s.scalars(select(OutboxMessage))} == {"pending"}


def test_failed_render_shows_reason_on_the_case_alerts_once_and_the_officer_retries_same_number(
        api, drv, db, world, clock, settings):
    complete_project(db, world, clock)
    case = register_hazard(drv, world)
    with db.transaction() as s:  # the phone is removed between issue and rendering
        s.execute(update(User).where(User.id == world.officer.id).values(phone=None))
    assert render_pending_documents(db, clock.now(), settings=settings) == {"failed": 1}
    officer, contact = api(world.officer), api(world.contact)
    [item] = documents(officer, case)
    assert item["status"] == "failed" and item["status_label"] == "生成失败" and "contact_phone" in item["error"]
    assert item["retry_url"] == f"/api/documents/{item['id']}/rerender"
    # One alert per administrator of the province, for this failure.
    [alert] = alerts(db, NOTICE_1)
    assert alert.recipient_user_id == world.admin.id and alert.case_id == case["id"] and alert.channel == "inbox"
    assert "contact_phone" in alert.variables["alert_detail"]
    # The enterprise contact sees the failure but cannot retry; the officer of the case can.
    assert contact.post(item["retry_url"]).status_code == 403
    assert api(world.officer_wz).post(item["retry_url"]).status_code == 404
    r = officer.post(item["retry_url"])  # data not fixed yet: it fails again, a new failure, a new alert
    assert r.status_code == 200 and r.json()["status"] == "issued" and r.json()["number"] == NOTICE_1
    assert officer.post(item["retry_url"]).status_code == 409  # only a failed document is retried
    assert render_pending_documents(db, clock.now(), settings=settings) == {"failed": 1}
    assert len(alerts(db, NOTICE_1)) == 2
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone="0512-65000000"))
    assert officer.post(item["retry_url"]).status_code == 200
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 1}
    [item] = documents(officer, case)
    assert item["status"] == "rendered" and item["number"] == NOTICE_1 and item["error"] is None
    assert NOTICE_1 in pdf_text(contact.get(item["pdf_url"]).content)
    actions = [e["action"] for e in drv.events(case)]
    assert actions.count("document_failed") == 2 and actions.count("document_rerender") == 2
    with db.session() as s:  # still one number of that type issued
        assert s.scalar(select(DocumentNumberCounter.last_value).where(
            DocumentNumberCounter.doc_type == "rectification_notice")) == 1


def test_transient_render_errors_retry_with_backoff_then_fail_with_one_alert(api, drv, db, world, clock, settings,
                                                                            monkeypatch):
    import notifications.documents.store as documents_module

    complete_project(db, world, clock)
    case = register_hazard(drv, world)

    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(documents_module, "_write_once", disk_full)
    waits = []
    for attempt in range(1, documents_module.MAX_RENDER_ATTEMPTS):
        assert render_pending_documents(db, clock.now(), settings=settings) == {"retry": 1}
        doc = doc_row(db, NOTICE_1)
        assert doc.status == "issued" and doc.render_attempts == attempt and "No space left" in doc.error
        waits.append(doc.next_render_at - clock.now())
        assert render_pending_documents(db, clock.now(), settings=settings) == {}  # backing off
        clock.set(doc.next_render_at)
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert alerts(db, NOTICE_1) == []  # attempts are not alerted
    assert render_pending_documents(db, clock.now(), settings=settings) == {"failed": 1}
    doc = doc_row(db, NOTICE_1)
    assert doc.status == "failed" and "连续5次" in doc.error and "No space left" in doc.error
    assert len(alerts(db, NOTICE_1)) == 1
    monkeypatch.undo()  # the disk has room again
    r = api(world.admin).post(f"/api/documents/{doc.id}/rerender")
    assert r.status_code == 200 and r.json()["render_attempts"] == 0
    assert render_pending_documents(db, clock.now(), settings=settings) == {"rendered": 1}
    assert doc_row(db, NOTICE_1).number == NOTICE_1


# ---------------------------------------------------------------- e-mail carries the stored PDF


class _Smtp:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def configure_smtp(db, clock, port: int, settings: Settings) -> None:
    """SMTP saved by an administrator (as PUT /api/admin/channels/email does): e-mail is in use."""
    from notifications.channels import config as channel_config

    with db.transaction() as s:
        channel_config.save_config(s, "email", {"host": "127.0.0.1", "port": port, "from_address": "anjian@test.local"},
                             enabled=True, now=clock.now(), user_id=None, settings=settings)


@pytest.fixture
def smtp():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = _Smtp()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    yield ctl, handler
    ctl.stop()


@pytest.mark.parametrize("render_first", [True, False], ids=["rendered-before", "rendered-at-delivery"])
def test_email_attaches_the_stored_pdf_byte_identical(drv, db, world, clock, settings, smtp, render_first):
    ctl, handler = smtp
    mail_settings = Settings(**{**settings.model_dump(), "smtp_host": "127.0.0.1", "smtp_port": ctl.port,
                                "smtp_from": "anjian@test.local", "outbound_allow": "127.0.0.1"})  # SMTP on loopback
    configure_smtp(db, clock, ctl.port, mail_settings)
    complete_project(db, world, clock)
    register_hazard(drv, world)
    with db.transaction() as s:  # only the document's e-mails
        s.execute(update(OutboxMessage).where((OutboxMessage.channel != "email") |
                                              (OutboxMessage.template != "rectification_notice"))
                  .values(status="sent"))
    if render_first:
        assert render_pending_documents(db, clock.now(), settings=mail_settings) == {"rendered": 1}
    counts = delivery.deliver_pending(db, clock.now(), settings=mail_settings)
    assert counts == {"sent": 2}, counts
    doc = doc_row(db, NOTICE_1)
    assert doc.status == "rendered"
    stored = (Path(settings.data_dir) / doc.pdf_path).read_bytes()
    assert {tuple(e.rcpt_tos) for e in handler.messages} == {("contact@example.com",), ("off@example.gov.cn",)}
    for envelope in handler.messages:
        mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        [pdf] = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert pdf.get_content() == stored
        assert hashlib.sha256(pdf.get_content()).hexdigest() == doc.sha256
        assert NOTICE_1 in pdf.get_filename()


def test_an_email_whose_document_failed_is_not_sent(drv, db, world, clock, settings, smtp):
    ctl, handler = smtp
    mail_settings = Settings(**{**settings.model_dump(), "smtp_host": "127.0.0.1", "smtp_port": ctl.port,
                                "outbound_allow": "127.0.0.1"})  # SMTP on loopback
    configure_smtp(db, clock, ctl.port, mail_settings)
    complete_project(db, world, clock)
    register_hazard(drv, world)
    with db.transaction() as s:  # the phone is removed between issue and rendering
        s.execute(update(User).where(User.id == world.officer.id).values(phone=None))
    with db.transaction() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.channel != "email").values(status="sent"))
    assert render_pending_documents(db, clock.now(), settings=mail_settings) == {"failed": 1}
    # The phone is added afterwards: the message itself would now render, its document did not.
    with db.transaction() as s:
        s.execute(update(User).where(User.id == world.officer.id).values(phone="0512-65000000"))
    counts = delivery.deliver_pending(db, clock.now(), settings=mail_settings)
    assert counts == {"failed": 2, "sent": 1}, counts  # sent: the administrator's alert about the document
    assert handler.messages == []
    with db.session() as s:
        errors = s.scalars(select(OutboxMessage.last_error).where(OutboxMessage.channel == "email",
                                                                   OutboxMessage.template == "rectification_notice")).all()
    assert len(errors) == 2 and all(NOTICE_1 in e and "未能生成" in e and "contact_phone" in e for e in errors)
    assert len(alerts(db, NOTICE_1)) == 1  # the document's failure, not one alert per e-mail
    # Retried once the data is fixed: the document renders and its e-mails go out after all.
    doc = doc_row(db, NOTICE_1)
    assert drv.client(world.officer).post(f"/api/documents/{doc.id}/rerender").status_code == 200
    assert render_pending_documents(db, clock.now(), settings=mail_settings) == {"rendered": 1}
    assert delivery.deliver_pending(db, clock.now(), settings=mail_settings) == {"sent": 2}
    assert len(handler.messages) == 2


# ---------------------------------------------------------------- 文号 under concurrency


def test_two_hundred_numbers_from_parallel_workers_are_unique_and_contiguous(db):
    """Each worker: its own session and transaction; some roll back (their numbers must not be lost)."""
    total, rolled_back, workers = 200, 25, 16
    barrier = threading.Barrier(workers)
    started = threading.local()

    def issue(i: int) -> str | None:
        if not getattr(started, "done", False):
            started.done = True
            barrier.wait(timeout=30)  # every worker starts at once
        try:
            with db.transaction() as s:
                number = issue_document_number(s, s.get(Jurisdiction, "320508"), "rectification_notice", 2026)
                if i % 9 == 0 and i // 9 < rolled_back:
                    raise RuntimeError("rolled back")
                return number
        except RuntimeError:
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(issue, range(total + rolled_back)))
    numbers = [n for n in results if n is not None]
    assert len(numbers) == total
    assert len(set(numbers)) == total
    serials = sorted(int(re.fullmatch(r"姑苏建质改〔2026〕(\d+)号", n).group(1)) for n in numbers)
    assert serials == list(range(1, total + 1))
    with db.session() as s:
        assert s.scalar(select(DocumentNumberCounter.last_value).where(
            DocumentNumberCounter.authority_code == "320508", DocumentNumberCounter.doc_type == "rectification_notice",
            DocumentNumberCounter.year == 2026)) == total
