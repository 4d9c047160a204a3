"""Outbox delivery through real channels: SMTP on loopback (aiosmtpd), HTTP receivers on loopback;
receipts per attempt, the admin alert on a template failure, saved channel configuration, and
``anjian notify test`` run as a real subprocess."""
from __future__ import annotations

import email
import email.policy
from collections import Counter
import json
import os
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiosmtpd.controller import Controller
from sqlalchemy import delete, select

from cases.platform.clock import SHANGHAI
from cases.platform.config import Settings
from cases.models import Base, DeliveryAttempt, OutboxMessage, User
from notifications.channels import config as channel_config
from notifications.channels import send as channels
from notifications.delivery import service as delivery
from notifications.delivery import preferences
from tests.conftest import complete_project

REPO = Path(__file__).resolve().parents[1]
# The SMTP server and HTTP receivers are on loopback: allowed explicitly (nothing internal is by default).
OUTBOUND = {"outbound_allow": "127.0.0.1", "channel_key": "test-channel-key-0123456789abcdef0123"}


@pytest.fixture(scope="module", autouse=True)
def _tables(database):
    """Create any table the migrations do not have yet (no-op once they do)."""
    Base.metadata.create_all(database.engine, checkfirst=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _SmtpHandler:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    handler = _SmtpHandler()
    ctl = Controller(handler, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    yield ctl, handler
    ctl.stop()


class Receiver:
    """A loopback HTTP server recording every POST; answers with queued status codes (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                payload = b'{"errcode": 0, "errmsg": "ok"}' if status == 200 else b"boom"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json(self, i: int) -> dict:
        return json.loads(self.requests[i]["body"])


@pytest.fixture(scope="module")
def http_receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def receiver(http_receiver):
    http_receiver.requests.clear()
    http_receiver.statuses.clear()
    return http_receiver


@pytest.fixture
def settings(smtp, http_receiver):
    ctl, _ = smtp
    return Settings(smtp_host="127.0.0.1", smtp_port=ctl.port, smtp_from="anjian@test.local",
                    base_url="http://anjian.test", webhook_url=f"json://127.0.0.1:{http_receiver.port}/hook",
                    wecom_webhook_key="wecomkey123", dingtalk_token="dingtoken456", **OUTBOUND)


@pytest.fixture
def endpoints(http_receiver):
    base = f"http://127.0.0.1:{http_receiver.port}"
    return {"wecom": base + "/cgi-bin/webhook/send?key={key}",
            "dingtalk": base + "/robot/send?access_token={token}"}


@pytest.fixture
def case(api, world, db, clock, smtp):
    """A registered hazard on p1 (contractor e1), assignee = officer (with a phone); outbox emptied."""
    officer = api(world.officer)
    c = officer.post("/api/cases", json={"kind": "hazard", "title": "3号楼临边防护缺失", "project_id": world.p1.id,
                                         "description": "3号楼5层临边未设置防护栏杆", "location": "3号楼5层"}).json()
    c = officer.act(c, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改").json()
    complete_project(db, world, clock)
    with db.transaction() as s:
        s.execute(delete(OutboxMessage))
    smtp[1].messages.clear()
    return c


REMINDER_VARS = {"task": "完成隐患整改", "days_left": 2, "light": "yellow", "deadline_at": "2026-11-30T16:00:00+00:00",
                 "due_date": "2026-11-30", "deadline_provisional": False}


def _row(db, clock, case_id, user, template, channel, variables, *, urgent=False, document_no=None, key=None):
    with db.transaction() as s:
        m = OutboxMessage(dedupe_key=key or f"test:{template}:{user.id}:{channel}", case_id=case_id, template=template,
                          recipient_user_id=user.id, recipient_address=user.email if channel == "email" else None,
                          channel=channel, variables=variables, document_no=document_no, urgent=urgent,
                          status="pending", attempts=0, next_attempt_at=clock.now(), created_at=clock.now())
        s.add(m)
        s.flush()
        return m.id


def _get(db, msg_id) -> OutboxMessage:
    with db.session() as s:
        return s.get(OutboxMessage, msg_id)


def _attempts(db, msg_id) -> list[DeliveryAttempt]:
    with db.session() as s:
        return list(s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id == msg_id)
                              .order_by(DeliveryAttempt.id)))


def test_rectification_notice_email_with_pdf_over_real_smtp(db, world, clock, case, smtp, settings):
    variables = {"legal_basis": "《建设工程安全生产管理条例》第二十八条",
                 "requirements": ["立即设置临边防护栏杆", "整改完成后报送整改回复单"]}
    mid = _row(db, clock, case["id"], world.contact, "rectification_notice", "email", variables,
               document_no="姑苏建质改〔2026〕1号")
    counts = delivery.deliver_pending(db, clock.now(), settings=settings)
    assert counts == {"sent": 1}, _get(db, mid).last_error
    m = _get(db, mid)
    assert m.status == "sent" and m.attempts == 1 and m.sent_at == clock.now() and m.provider_response
    [envelope] = smtp[1].messages
    assert envelope.rcpt_tos == ["contact@example.com"]
    mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    # 7 days from Mon 23 Nov: ≤10 days run in working days → Wed 2 Dec.
    assert mail["Subject"] == "【隐患整改通知书】姑苏建质改〔2026〕1号｜姑苏测试项目｜请于2026年12月2日前完成整改"
    body = mail.get_body(preferencelist=("html",)).get_content()
    assert "苏州测试建设有限公司" in body and "3号楼5层临边未设置防护栏杆" in body and "立即设置临边防护栏杆" in body
    [pdf] = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename().endswith(".pdf") and "隐患整改通知书" in pdf.get_filename()
    assert pdf.get_content().startswith(b"%PDF")


def test_webhook_gets_json_payload(db, world, clock, case, receiver, settings):
    mid = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 1}
    [req] = receiver.requests
    assert req["path"] == "/hook"
    payload = receiver.json(0)
    assert payload["title"].startswith("【催办提醒】" + case["number"])
    assert "3号楼临边防护缺失" in payload["message"] and "http://anjian.test/cases/" in payload["message"]
    assert req["headers"]["X-Anjian-Dedupe-Key"] == _get(db, mid).dedupe_key


def test_wecom_and_dingtalk_payloads_to_loopback(db, world, clock, case, receiver, settings, endpoints):
    _row(db, clock, case["id"], world.officer, "reminder", "wecom", REMINDER_VARS)
    _row(db, clock, case["id"], world.officer, "reminder", "dingtalk", REMINDER_VARS)
    assert delivery.deliver_pending(db, clock.now(), settings=settings, endpoints=endpoints) == {"sent": 2}
    by_path = {r["path"].split("?")[0]: (r["path"], json.loads(r["body"])) for r in receiver.requests}
    path, body = by_path["/cgi-bin/webhook/send"]
    assert "key=wecomkey123" in path and body["msgtype"] == "text" and "【催办提醒】" in body["text"]["content"]
    path, body = by_path["/robot/send"]
    assert "access_token=dingtoken456" in path and "【催办提醒】" in body["text"]["content"]


def test_fails_twice_then_succeeds_one_delivery_three_attempts(db, world, clock, case, receiver, settings):
    receiver.statuses[:] = [500, 500]
    mid = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"retry": 1}
    m = _get(db, mid)
    assert m.status == "pending" and m.attempts == 1 and "500" in m.last_error
    assert m.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {}  # backoff respected
    clock.advance(timedelta(seconds=30))
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"retry": 1}
    assert _get(db, mid).next_attempt_at == clock.now() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=60))
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 1}
    m = _get(db, mid)
    assert m.status == "sent" and m.attempts == 3 and m.last_error is None
    assert len(receiver.requests) == 3
    clock.advance(timedelta(hours=1))
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {}
    assert len(receiver.requests) == 3
    # exactly one delivered message, three recorded attempts
    with db.session() as s:
        assert s.query(OutboxMessage).filter_by(status="sent").count() == 1
    rows = _attempts(db, mid)
    assert [(a.attempt_no, a.status) for a in rows] == [(1, "retry"), (2, "retry"), (3, "sent")]
    t0 = clock.now() - timedelta(hours=1, seconds=90)
    assert [a.started_at for a in rows] == [t0, t0 + timedelta(seconds=30), t0 + timedelta(seconds=90)]
    assert all(a.finished_at == a.started_at and a.worker for a in rows)
    assert all("500" in a.error and a.error.startswith("发送失败") and a.provider_response for a in rows[:2])
    assert rows[2].error is None and rows[2].provider_response


def test_receipts_on_the_case_api(api, db, world, clock, case, receiver, settings):
    receiver.statuses[:] = [500]
    mid = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)
    delivery.deliver_pending(db, clock.now(), settings=settings, worker="worker-a")
    clock.advance(timedelta(seconds=30))
    delivery.deliver_pending(db, clock.now(), settings=settings, worker="worker-b")
    items = api(world.admin).get(f"/api/cases/{case['id']}/messages").json()["items"]  # details: admins only
    [item] = [i for i in items if i["id"] == mid]
    assert item["status"] == "sent" and item["attempts"] == 2
    receipts = item["receipts"]
    assert [(r["attempt"], r["status"], r["worker"]) for r in receipts] == [(1, "retry", "worker-a"),
                                                                          (2, "sent", "worker-b")]
    assert "500" in receipts[0]["error"] and receipts[1]["error"] is None
    assert receipts[0]["provider_response"] and receipts[1]["finished_at"]


def test_unreachable_channel_fails_after_max_attempts_with_provider_error(db, world, clock, case, settings):
    dead = Settings(**{**settings.model_dump(), "webhook_url": f"json://127.0.0.1:{_free_port()}/hook"})
    mid = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.deliver_pending(db, clock.now(), settings=dead)
        clock.advance(timedelta(hours=1))
    m = _get(db, mid)
    assert m.status == "failed" and m.attempts == delivery.MAX_ATTEMPTS and m.last_error.startswith("发送失败")
    rows = _attempts(db, mid)
    assert [a.status for a in rows] == ["retry"] * (delivery.MAX_ATTEMPTS - 1) + ["failed"]
    assert rows[-1].error == m.last_error
    with db.session() as s:  # an unreachable channel is not a template problem: no admin alert
        assert s.query(OutboxMessage).filter_by(template="system_alert").count() == 0


def test_crash_between_sent_and_recorded(db, world, clock, case, receiver, settings):
    mid = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)

    def crash(msg):
        raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        delivery.deliver_pending(db, clock.now(), settings=settings, crash_hook=crash)
    assert len(receiver.requests) == 1
    m = _get(db, mid)
    assert m.status == "sending" and m.attempts == 1 and m.sent_at is None
    # Within the lease nobody touches it: no second copy.
    clock.advance(delivery.LEASE - timedelta(seconds=1))
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {}
    assert len(receiver.requests) == 1
    # After the lease: at-least-once towards the channel — resent once, with the same dedupe header.
    clock.advance(timedelta(seconds=1))
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"reclaimed": 1, "sent": 1}
    assert len(receiver.requests) == 2
    keys = {r["headers"]["X-Anjian-Dedupe-Key"] for r in receiver.requests}
    assert keys == {m.dedupe_key}
    # Exactly once in the database: one row, sent, never again.
    m = _get(db, mid)
    assert m.status == "sent" and m.attempts == 2
    clock.advance(timedelta(days=1))
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {}
    with db.session() as s:
        assert s.query(OutboxMessage).count() == 1
    # the receipts say what happened: attempt 1 abandoned (lease expired), attempt 2 sent
    first, second = _attempts(db, mid)
    assert (first.attempt_no, first.status, second.attempt_no, second.status) == (1, "abandoned", 2, "sent")
    assert "租约" in first.error and first.finished_at == first.started_at + delivery.LEASE


def test_stale_outcome_is_kept_on_the_receipt_only(db, world, clock, case, receiver, settings):
    """A worker whose lease expired while it was sending records nothing on the message."""
    mid = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)
    claims = delivery._claim(db, clock.now(), 10, Counter(), "slow")
    [(msg_id, attempt, attempt_id)] = claims
    clock.advance(delivery.LEASE)
    assert delivery.deliver_pending(db, clock.now(), settings=settings, worker="fast") == {"reclaimed": 1, "sent": 1}
    # the slow worker finally answers
    assert delivery.deliver_one(db, msg_id, attempt, clock.now(), settings=settings, attempt_id=attempt_id) == "stale"
    m = _get(db, mid)
    assert m.status == "sent" and m.attempts == 2
    assert [(a.worker, a.status) for a in _attempts(db, mid)] == [("slow", "stale"), ("fast", "sent")]


def test_missing_variable_fails_without_sending_visible_and_resendable(api, db, world, clock, case, smtp, settings):
    mid = _row(db, clock, case["id"], world.contact, "rectification_notice", "email",
               {"requirements": ["立即整改"]}, document_no="姑苏建质改〔2026〕2号")
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"failed": 1}
    assert smtp[1].messages == []
    m = _get(db, mid)
    assert m.status == "failed" and "legal_basis" in m.last_error and m.last_error.startswith("模板渲染失败")
    # Visible on the case.
    items = api(world.admin).get(f"/api/cases/{case['id']}/messages").json()["items"]
    [item] = [i for i in items if i["id"] == mid]
    assert item["status"] == "failed" and "legal_basis" in item["last_error"] and item["title"] == "隐患整改通知书"
    assert api(world.officer_wz).get(f"/api/cases/{case['id']}/messages").status_code == 404
    # Only admins re-send; same dedupe key, due now.
    assert api(world.officer).post(f"/api/admin/messages/{mid}/resend").status_code == 403
    clock.advance(timedelta(minutes=5))
    r = api(world.admin).post(f"/api/admin/messages/{mid}/resend")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["dedupe_key"] == m.dedupe_key
    assert api(world.admin).post(f"/api/admin/messages/{mid}/resend").status_code in (400, 409)
    with db.transaction() as s:
        row = s.get(OutboxMessage, mid)
        row.variables = {**row.variables, "legal_basis": "《建设工程安全生产管理条例》第二十八条"}
    counts = delivery.deliver_pending(db, clock.now(), settings=settings)
    assert counts == {"sent": 2}  # the re-sent notice, and the admin alert written by the failure
    assert len(smtp[1].messages) == 1
    assert [a.status for a in _attempts(db, mid)] == ["failed", "sent"]


def test_template_failure_alerts_the_province_admins_once(api, db, world, clock, case, smtp, settings):
    with db.transaction() as s:  # an admin of 苏州市 (above 姑苏区) and one of 南京市 (not above it)
        for username, code in (("admin_sz", "320500"), ("admin_nj", "320100")):
            s.add(User(username=username, display_name=username, password_hash="x", role="admin",
                       jurisdiction_code=code, active=True, created_at=clock.now()))
        admins = {u.username: u.id for u in s.scalars(select(User).where(User.role == "admin"))}
    mid = _row(db, clock, case["id"], world.contact, "rectification_notice", "email",
               {"requirements": ["立即整改"]}, document_no="姑苏建质改〔2026〕3号")
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"failed": 1}
    assert smtp[1].messages == []
    with db.session() as s:
        alerts = list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == "system_alert")
                                .order_by(OutboxMessage.recipient_user_id)))
    assert {a.recipient_user_id for a in alerts} == {admins["admin"], admins["admin_sz"]}  # not 南京's admin
    assert all(a.channel == "inbox" and a.case_id == case["id"] and a.status == "pending" for a in alerts)
    assert alerts[0].variables["failed_message_id"] == mid and "legal_basis" in alerts[0].variables["alert_detail"]
    # delivered like any inbox message; the admin reads it in the inbox
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 2}
    inbox = api(world.admin).get("/api/inbox").json()
    [item] = [i for i in inbox["items"] if i["template"] == "system_alert"]
    assert item["title"] == "系统告警" and item["unread"] is True
    assert "隐患整改通知书" in item["text"] and "legal_basis" in item["text"] and case["number"] in item["text"]
    assert f"消息编号{mid}" in item["text"] and "【系统告警】" in item["subject"]
    # visible on the case too, next to the failed message
    items = api(world.officer).get(f"/api/cases/{case['id']}/messages").json()["items"]
    assert sorted(i["template"] for i in items) == ["rectification_notice", "system_alert", "system_alert"]
    # re-sent and failing again: no second alert (once per failed message)
    assert api(world.admin).post(f"/api/admin/messages/{mid}/resend").status_code == 200
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"failed": 1}
    with db.session() as s:
        assert s.query(OutboxMessage).filter_by(template="system_alert").count() == 2
    assert [a.status for a in _attempts(db, mid)] == ["failed", "failed"]


def test_failing_alert_does_not_alert_about_itself(db, world, clock, case, settings):
    mid = _row(db, clock, case["id"], world.admin, "system_alert", "inbox", {"alert_title": "x"})  # no detail
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"failed": 1}
    assert "alert_detail" in _get(db, mid).last_error
    with db.session() as s:
        assert s.query(OutboxMessage).count() == 1


def test_quiet_hours_postpone_bots_but_not_urgent(db, world, clock, case, receiver, settings, endpoints):
    night = datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI)
    clock.set(night)
    quiet = _row(db, clock, case["id"], world.officer, "reminder", "wecom", REMINDER_VARS)
    quiet_ding = _row(db, clock, case["id"], world.officer, "reminder", "dingtalk", REMINDER_VARS)
    urgent = _row(db, clock, case["id"], world.officer, "reminder", "wecom", REMINDER_VARS, urgent=True, key="urgent")
    mail = _row(db, clock, case["id"], world.officer, "reminder", "email", REMINDER_VARS)
    counts = delivery.deliver_pending(db, clock.now(), settings=settings, endpoints=endpoints)
    assert counts == {"postponed": 2, "sent": 2}
    assert _get(db, urgent).status == "sent" and _get(db, mail).status == "sent"
    seven = datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI)
    for mid in (quiet, quiet_ding):
        m = _get(db, mid)
        assert m.status == "pending" and m.attempts == 0 and m.next_attempt_at == seven
    assert len(receiver.requests) == 1
    [postponed] = _attempts(db, quiet)
    assert postponed.status == "postponed" and postponed.attempt_no == 1 and "免打扰" in postponed.error
    clock.set(seven)
    assert delivery.deliver_pending(db, clock.now(), settings=settings, endpoints=endpoints) == {"sent": 2}
    assert [a.status for a in _attempts(db, quiet)] == ["postponed", "sent"]
    assert delivery.quiet_until(datetime(2026, 11, 24, 3, 0, tzinfo=SHANGHAI)) == seven
    assert delivery.quiet_until(datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)) is None


def test_quiet_hours_lifted_by_the_recipients_preference(db, world, clock, case, receiver, settings, endpoints):
    clock.set(datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI))
    with db.transaction() as s:  # a preference may only name a configured channel
        channel_config.save_config(s, "wecom", {"key": "wecomkey123"}, enabled=True, now=clock.now(), user_id=None,
                                 settings=settings)
        preferences.set_role_preferences(s, "officer", [{"template": "reminder", "channels": ["wecom"],
                                                         "quiet_hours": False}], now=clock.now(), by=None)
    night_ok = _row(db, clock, case["id"], world.officer, "reminder", "wecom", REMINDER_VARS)
    other = _row(db, clock, case["id"], world.supervisor, "reminder", "wecom", REMINDER_VARS)
    assert delivery.deliver_pending(db, clock.now(), settings=settings, endpoints=endpoints) == {"postponed": 1,
                                                                                                 "sent": 1}
    assert _get(db, night_ok).status == "sent" and _get(db, other).status == "pending"


def test_saved_channel_configuration_is_used_over_the_environment(db, world, clock, case, receiver, settings):
    dead = Settings(**{**settings.model_dump(), "webhook_url": f"json://127.0.0.1:{_free_port()}/hook",
                       "wecom_webhook_key": "envkey"})
    with db.transaction() as s:
        channel_config.save_config(s, "webhook", {"url": f"http://127.0.0.1:{receiver.port}/saved"}, enabled=True,
                             now=clock.now(), user_id=world.admin.id, settings=settings)
        channel_config.save_config(s, "wecom", {"key": "savedkey",
                                          "endpoint": f"http://127.0.0.1:{receiver.port}/gw?key={{key}}"},
                             enabled=True, now=clock.now(), user_id=world.admin.id, settings=settings)
        channel_config.save_config(s, "dingtalk", {}, enabled=False, now=clock.now(), user_id=world.admin.id,
                             settings=settings)
    hook = _row(db, clock, case["id"], world.officer, "reminder", "webhook", REMINDER_VARS)
    bot = _row(db, clock, case["id"], world.officer, "reminder", "wecom", REMINDER_VARS)
    off = _row(db, clock, case["id"], world.officer, "reminder", "dingtalk", REMINDER_VARS)
    assert delivery.deliver_pending(db, clock.now(), settings=dead) == {"sent": 2, "failed": 1}
    paths = sorted(r["path"] for r in receiver.requests)
    assert paths == ["/gw?key=savedkey", "/saved"]
    assert _get(db, hook).status == "sent" and _get(db, bot).status == "sent"
    m = _get(db, off)
    assert m.status == "failed" and m.last_error == "渠道配置错误：钉钉群机器人渠道已被管理员停用"


def test_inbox_unread_count_and_mark_read(api, db, world, clock, case, settings):
    a = _row(db, clock, case["id"], world.officer, "reminder", "inbox", REMINDER_VARS)
    b = _row(db, clock, case["id"], world.officer, "overdue_warning", "inbox",
             {**REMINDER_VARS, "overdue_days": 1, "next_measure": "挂牌督办"})
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 2}
    officer = api(world.officer)
    inbox = officer.get("/api/inbox").json()
    assert inbox["unread"] == 2 and inbox["total"] == 2
    texts = {i["id"]: i for i in inbox["items"]}
    assert texts[a]["text"].startswith("【催办提醒】") and texts[b]["unread"] is True
    assert "逾期" in texts[b]["subject"]
    assert api(world.officer_wz).post(f"/api/inbox/{a}/read").status_code == 404
    clock.advance(timedelta(minutes=1))
    r = officer.post(f"/api/inbox/{a}/read")
    assert r.status_code == 200
    inbox = officer.get("/api/inbox").json()
    assert inbox["unread"] == 1 and {i["id"]: i["unread"] for i in inbox["items"]} == {a: False, b: True}
    assert officer.get("/api/inbox", params={"unread_only": True}).json()["total"] == 1
    assert api(world.officer_wz).get("/api/inbox").json()["unread"] == 0


def test_the_inbox_shows_a_message_as_it_was_delivered(api, db, world, clock, case, settings):
    """An in-app message keeps the subject and text it was delivered with: the case retitled later
    does not rewrite it (an e-mail sent cannot be rewritten either), and the inbox renders no
    template for it. A row delivered before the text was kept is rendered as the case is now."""
    from cases.models import Case

    a = _row(db, clock, case["id"], world.officer, "reminder", "inbox", REMINDER_VARS)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 1}
    officer = api(world.officer)
    first = officer.get("/api/inbox").json()["items"][0]
    assert first["id"] == a and first["text"].startswith("【催办提醒】") and case["title"][:10] in first["text"]
    with db.session() as s:
        m = s.get(OutboxMessage, a)
        assert (m.sent_subject, m.sent_text) == (first["subject"], first["text"])
    with db.transaction() as s:
        s.get(Case, case["id"]).title = "三号楼卸料平台限载标识缺失"
    again = officer.get("/api/inbox").json()["items"][0]
    assert (again["subject"], again["text"]) == (first["subject"], first["text"])
    with db.transaction() as s:  # as a row delivered before 0023_inbox_text
        m = s.get(OutboxMessage, a)
        m.sent_subject = m.sent_text = None
    old = officer.get("/api/inbox").json()["items"][0]
    assert "三号楼卸料平台限载标识缺失" in old["text"] and old["text"] != first["text"]


def test_invalid_channel_configuration_is_refused_in_chinese():
    with pytest.raises(channels.ChannelConfigError, match="渠道配置无效"):
        channels.validate_url("webhook", "nosuchscheme://x")
    with pytest.raises(channels.ChannelConfigError, match="Webhook渠道配置无效"):
        channels.validate_settings(Settings(webhook_url="bogus://127.0.0.1/hook"))
    with pytest.raises(channels.ChannelConfigError, match="未配置"):
        channels.validate_url("wecom", "")
    assert channels.validate_settings(Settings(smtp_host="127.0.0.1", webhook_url="http://127.0.0.1:9/h",
                                               wecom_webhook_key="k1", dingtalk_token="t1")) == \
        ["inbox", "email", "webhook", "wecom", "dingtalk"]


# ---------------------------------------------------------------- anjian notify test (a real subprocess)


def _notify(db, *args, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANJIAN_")}
    base.update({"ANJIAN_DATABASE_URL": db.url, "PYTHONPATH": str(REPO),
                 **{f"ANJIAN_{k.upper()}": v for k, v in OUTBOUND.items()}, **env})
    return subprocess.run([sys.executable, "-m", "anjian.cli", "notify", "test", *args], cwd=REPO, env=base,
                          capture_output=True, text=True, timeout=120)


def test_cli_notify_test_webhook_success_and_failure(db, world, receiver):
    url = f"json://127.0.0.1:{receiver.port}/cli"
    r = _notify(db, "--channel", "webhook", ANJIAN_WEBHOOK_URL=url)
    assert r.returncode == 0, r.stderr
    assert "测试消息已通过Webhook发送成功" in r.stdout and "渠道响应：" in r.stdout
    [req] = receiver.requests
    assert req["path"] == "/cli" and "通知渠道测试" in receiver.json(0)["title"]
    receiver.statuses[:] = [500]
    r = _notify(db, "--channel", "webhook", ANJIAN_WEBHOOK_URL=url)
    assert r.returncode == 1
    assert "测试消息发送失败（Webhook）" in r.stderr and "500" in r.stderr


def test_cli_notify_test_email_over_real_smtp(db, world, smtp):
    ctl, handler = smtp
    handler.messages.clear()
    r = _notify(db, "--channel", "email", "--to", "duty@example.gov.cn", ANJIAN_SMTP_HOST="127.0.0.1",
                ANJIAN_SMTP_PORT=str(ctl.port), ANJIAN_SMTP_FROM="anjian@test.local")
    assert r.returncode == 0, r.stderr
    [envelope] = handler.messages
    assert envelope.rcpt_tos == ["duty@example.gov.cn"]
    mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert mail["Subject"].startswith("【系统告警】通知渠道测试")
    assert "电子邮件渠道发送的测试消息" in mail.get_body(preferencelist=("html",)).get_content()
    r = _notify(db, "--channel", "email", ANJIAN_SMTP_HOST="127.0.0.1", ANJIAN_SMTP_PORT=str(ctl.port))
    assert r.returncode == 1 and "--to" in r.stderr


def test_cli_notify_test_uses_the_saved_configuration(db, world, clock, receiver, settings):
    with db.transaction() as s:
        channel_config.save_config(s, "wecom", {"key": "clikey", "endpoint": f"http://127.0.0.1:{receiver.port}"
                                                                       "/cgi-bin/webhook/send?key={key}"},
                             enabled=True, now=clock.now(), user_id=world.admin.id, settings=settings)
        channel_config.save_config(s, "dingtalk", {"token": "t1"}, enabled=False, now=clock.now(), user_id=world.admin.id,
                             settings=settings)
    r = _notify(db, "--channel", "wecom", ANJIAN_WECOM_WEBHOOK_KEY="envkey")
    assert r.returncode == 0, r.stderr
    [req] = receiver.requests
    assert req["path"] == "/cgi-bin/webhook/send?key=clikey"
    assert "通知渠道测试" in json.loads(req["body"])["text"]["content"]
    r = _notify(db, "--channel", "dingtalk", ANJIAN_DINGTALK_TOKEN="envtoken")
    assert r.returncode == 1 and "钉钉群机器人渠道已被管理员停用" in r.stderr


def test_cli_notify_test_inbox_and_bad_configuration(db, world):
    r = _notify(db, "--channel", "inbox", "--to", "officer")
    assert r.returncode == 0, r.stderr
    assert "已写入用户“officer”的站内信" in r.stdout
    with db.session() as s:
        [m] = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_user_id == world.officer.id))
        [a] = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id == m.id))
    assert m.template == "system_alert" and m.status == "sent" and a.status == "sent"
    r = _notify(db, "--channel", "inbox", "--to", "nobody")
    assert r.returncode == 1 and "用户“nobody”不存在" in r.stderr
    r = _notify(db, "--channel", "webhook", ANJIAN_WEBHOOK_URL="bogus://127.0.0.1/hook")
    assert r.returncode == 1 and "Webhook渠道配置无效" in r.stderr
    r = _notify(db, "--channel", "wecom")
    assert r.returncode == 1 and "企业微信群机器人渠道未配置地址" in r.stderr


def _issued_document(db, case_id):
    from cases.models import Document

    with db.session() as s:
        doc = s.scalars(select(Document).where(Document.case_id == case_id, Document.status == "issued")
                        .order_by(Document.id)).first()
        assert doc is not None, "registering the hazard issues a notice, rendered later"
        s.expunge(doc)
        return doc


def _due(db, clock) -> bool:
    """What the delivery lane's check asks (workflows/loop.py outbox_due), on this database."""
    with db.session() as s:
        return s.execute(select(OutboxMessage.id).where(delivery.deliverable(clock.now())).limit(1)).first() is not None


@pytest.fixture
def rendering_elsewhere():
    """This process leaves rendering to another (as ``anjian serve`` does: the derive process)."""
    delivery.render_elsewhere(True)
    yield
    delivery.render_elsewhere(False)


def test_email_waits_for_its_document_render_while_the_webhook_goes(db, world, clock, case, smtp, receiver, settings,
                                                                      rendering_elsewhere):
    from cases.issuance import wakeup
    from notifications.documents.store import render_one

    doc = _issued_document(db, case["id"])
    variables = {"legal_basis": "《建设工程安全生产管理条例》第二十八条", "requirements": ["立即设置临边防护栏杆"]}
    mail_id = _row(db, clock, case["id"], world.contact, doc.doc_type, "email", variables, document_no=doc.number)
    hook_id = _row(db, clock, case["id"], world.contact, doc.doc_type, "webhook", variables, document_no=doc.number)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 1}, _get(db, hook_id).last_error
    assert _get(db, hook_id).status == "sent" and len(receiver.requests) == 1
    # The e-mail is not claimed while its PDF is not rendered: no attempt, no receipt, nothing due.
    m = _get(db, mail_id)
    assert (m.status, m.attempts, _attempts(db, mail_id)) == ("pending", 0, [])
    assert not _due(db, clock) and smtp[1].messages == []
    woken = []
    wakeup.add_outbox_waker(lambda: woken.append(1))
    try:
        assert render_one(db, doc.id, clock.now(), settings=settings) == "rendered"
    finally:
        wakeup._wakers.clear()
    assert woken, "the render's commit wakes the deliverer"
    assert _due(db, clock)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 1}
    [envelope] = smtp[1].messages
    mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    [pdf] = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    import hashlib
    from cases.models import Document

    with db.session() as s:
        stored = s.get(Document, doc.id)
        assert stored.status == "rendered" and hashlib.sha256(pdf.get_content()).hexdigest() == stored.sha256


def test_email_of_a_document_that_failed_is_claimed_and_fails(db, world, clock, case, smtp, settings,
                                                             rendering_elsewhere):
    from notifications.documents.store import _record_failure

    doc = _issued_document(db, case["id"])
    variables = {"legal_basis": "《建设工程安全生产管理条例》第二十八条", "requirements": ["立即设置临边防护栏杆"]}
    mail_id = _row(db, clock, case["id"], world.contact, doc.doc_type, "email", variables, document_no=doc.number)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {}
    assert _record_failure(db, doc.id, "文书生成失败：测试", clock.now()) == "failed"
    counts = delivery.deliver_pending(db, clock.now(), settings=settings)
    m = _get(db, mail_id)
    # (the other one sent: the administrators' inbox alert about the document, raised once)
    assert counts == {"failed": 1, "sent": 1} and m.status == "failed" and f"文书{doc.number}未能生成" in m.last_error
    assert smtp[1].messages == []
