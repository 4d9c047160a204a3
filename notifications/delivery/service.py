"""Delivering outbox rows: claim, render, send, record — with retries, backoff and quiet hours.

Guarantee (see docs/notifications.md):

* **Exactly once in the database.** A row is claimed by moving it to ``sending`` (attempts + 1,
  ``next_attempt_at`` = now + ``LEASE``) and committing *before* the channel is called; on
  PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED`` so two workers never claim the same row,
  on SQLite the write transaction (BEGIN IMMEDIATE) serialises claimers. The outcome is then
  recorded in a new transaction, and only by a worker whose claim is still current.
* **At least once towards the channel.** If the worker dies after the channel accepted the message
  but before the outcome is recorded, the row stays ``sending``; once its lease has expired it is
  claimed again and sent again. That crash window is the only way a second copy can reach a
  channel. Webhook receivers get ``X-Anjian-Dedupe-Key`` to drop such a copy; e-mail and bots
  cannot dedupe, so a recipient may see the copy twice.
* **No duplicates from the cause side:** ``dedupe_key`` (cause, template, recipient, channel) is
  unique, so a retried or re-fired cause never produces a second row.

Every attempt leaves a receipt in ``delivery_attempts`` (written in the claim transaction as
``sending``, completed in the record transaction), quiet-hour postponements too. A message that
fails because its template cannot be rendered raises one ``system_alert`` inbox message per
administrator of the case's province (dedupe key per failed message), in the same transaction
that marks it failed.
"""
from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from datetime import datetime, time, timedelta

from sqlalchemy import and_, not_, select, update
from sqlalchemy.orm import Session

import notifications.delivery.preferences as preferences  # installs cases.issuance.outbox.channel_resolver
from cases.platform.clock import SHANGHAI
from cases.platform.config import Settings, get_settings
from cases.platform.db import Database
from cases.platform.errors import ActionNotAllowed, NotFound
from cases.models import DeliveryAttempt, OutboxMessage, User
from notifications.channels import config as channel_config
from notifications.channels import send as channels
from notifications.channels import outbound
from notifications.rendering.catalog import CATALOG
from notifications.delivery.alerts import ALERT_TEMPLATE, enqueue_alert
from notifications.rendering.render import RenderError, render_document, render_message
from notifications.rendering.variables import build_variables

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=30)  # retry n waits 30 s × 2^(n-1): 30 s, 60 s, 2 min, 4 min
LEASE = timedelta(minutes=10)  # a `sending` row older than this is considered abandoned
QUIET_START, QUIET_END = time(22, 0), time(7, 0)  # Asia/Shanghai


def backoff(attempts: int) -> timedelta:
    return BACKOFF_BASE * (2 ** max(0, attempts - 1))


def quiet_until(now: datetime) -> datetime | None:
    """The end of the quiet period ``now`` falls in (07:00 Shanghai), or None outside it."""
    local = now.astimezone(SHANGHAI)
    t = local.time()
    if t >= QUIET_START:
        end = datetime.combine(local.date() + timedelta(days=1), QUIET_END, tzinfo=SHANGHAI)
    elif t < QUIET_END:
        end = datetime.combine(local.date(), QUIET_END, tzinfo=SHANGHAI)
    else:
        return None
    return end.astimezone(now.tzinfo)


# False (the default): an e-mail whose document is still only issued is rendered by the deliverer
# (render_one). True: this process leaves rendering to another (``anjian serve``: the derive process,
# workflows/derive_launcher.py — WeasyPrint's heap never enters the API process); such an e-mail is not
# claimed until its document is rendered or failed, and the renderer's commit wakes delivery
# (notifications/documents/store.py), so the message waits for the render, not for a postponement.
_rendering_elsewhere = False


def render_elsewhere(on: bool = True) -> None:
    """Say whether documents are rendered by another process (see ``_rendering_elsewhere``)."""
    global _rendering_elsewhere
    _rendering_elsewhere = bool(on)


def deliverable(now: datetime):
    """The WHERE clause of a message that is due: pending (or its lease expired) and, when rendering
    happens elsewhere, not an e-mail waiting for its document's render."""
    due = and_(OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= now)
    if not _rendering_elsewhere:
        return due
    from cases.issuance.documents import ISSUED
    from cases.models import Document

    unrendered = (select(Document.id).where(Document.number == OutboxMessage.document_no,
                                            Document.doc_type == OutboxMessage.template,
                                            Document.status == ISSUED).exists())
    waiting = and_(OutboxMessage.channel == "email", OutboxMessage.document_no.is_not(None), unrendered)
    return and_(due, not_(waiting))


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _claim(db: Database, now: datetime, limit: int, counts: Counter, worker: str | None) -> list[tuple[int, int, int]]:
    """Claim due rows: (message id, attempt number, receipt id) for each. Quiet-hour bot rows are
    postponed instead (with a ``postponed`` receipt); a ``sending`` row whose lease expired is
    claimed again and its unfinished receipt marked ``abandoned``."""
    with db.transaction() as s:
        stmt = (select(OutboxMessage).where(deliverable(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        claimed: list[tuple[OutboxMessage, DeliveryAttempt]] = []
        for msg in s.scalars(stmt):
            if msg.channel in channels.BOT_CHANNELS and not msg.urgent:
                until = quiet_until(now)
                if until is not None and preferences.quiet_hours_apply(s, msg.recipient_user_id, msg.template):
                    msg.status = "pending"
                    msg.next_attempt_at = until
                    s.add(DeliveryAttempt(message_id=msg.id, attempt_no=msg.attempts + 1, started_at=now,
                                          finished_at=now, status="postponed", worker=worker,
                                          error=f"免打扰时段（22:00—07:00），推迟至{until.astimezone(SHANGHAI):%m月%d日 %H:%M}发送"))
                    counts["postponed"] += 1
                    continue
            if msg.status == "sending":
                counts["reclaimed"] += 1  # lease expired: the previous worker died mid-delivery
                s.execute(update(DeliveryAttempt)
                          .where(DeliveryAttempt.message_id == msg.id, DeliveryAttempt.attempt_no == msg.attempts,
                                 DeliveryAttempt.status == "sending")
                          .values(status="abandoned", finished_at=now,
                                  error="租约到期仍未记录结果（工作进程可能已中断），消息被重新领取"))
            msg.status = "sending"
            msg.attempts += 1
            msg.next_attempt_at = now + LEASE
            attempt = DeliveryAttempt(message_id=msg.id, attempt_no=msg.attempts, started_at=now, status="sending",
                                      worker=worker)
            s.add(attempt)
            claimed.append((msg, attempt))
        s.flush()
        return [(msg.id, msg.attempts, attempt.id) for msg, attempt in claimed]


def _record(db: Database, msg_id: int, attempt: int, now: datetime, *, ok: bool, response: str | None,
            error: str | None, final: bool = False, attempt_id: int | None = None,
            alert: bool = False, delivered: tuple[str, str] | None = None) -> str:
    with db.transaction() as s:
        q = select(OutboxMessage).where(OutboxMessage.id == msg_id)
        if db.dialect == "postgresql":
            q = q.with_for_update()
        msg = s.scalars(q).one()
        receipt = _receipt_row(s, msg_id, attempt, attempt_id)
        if receipt is not None:
            receipt.finished_at, receipt.provider_response = now, response
            receipt.error = None if ok else error
        if msg.status != "sending" or msg.attempts != attempt:
            if receipt is not None:  # another worker re-claimed it after our lease expired
                receipt.status = "stale"
                receipt.error = (f"{error}；" if error else "") + "结果未记录到消息：租约已过期，消息已被重新领取"
            return "stale"
        msg.provider_response = response
        if ok:
            msg.status, msg.sent_at, msg.last_error = "sent", now, None
            if delivered is not None:  # an in-app message: what the inbox shows from now on
                msg.sent_subject, msg.sent_text = delivered[0][:300], delivered[1]
            outcome = "sent"
        else:
            msg.last_error = error
            if final or msg.attempts >= MAX_ATTEMPTS:
                msg.status = "failed"
                outcome = "failed"
                if alert:
                    enqueue_alert(s, msg, error or "", now)
            else:
                msg.status = "pending"
                msg.next_attempt_at = now + backoff(msg.attempts)
                outcome = "retry"
        if receipt is not None:
            receipt.status = outcome
        return outcome


def _postpone(db: Database, msg_id: int, attempt: int, now: datetime, until: datetime, reason: str, *,
              attempt_id: int | None = None) -> str:
    """Give a claimed message back without counting the attempt: pending again until ``until``,
    with a ``postponed`` receipt saying why (e.g. its document is not generated yet)."""
    with db.transaction() as s:
        msg = s.get(OutboxMessage, msg_id)
        receipt = _receipt_row(s, msg_id, attempt, attempt_id)
        if msg.status != "sending" or msg.attempts != attempt:
            if receipt is not None:
                receipt.status, receipt.finished_at = "stale", now
            return "stale"
        msg.status, msg.attempts, msg.next_attempt_at = "pending", attempt - 1, until
        if receipt is not None:
            receipt.status, receipt.finished_at, receipt.error = "postponed", now, reason
        return "postponed"


def resend_for_document(s: Session, document_no: str, now: datetime) -> int:
    """Messages that failed because the document they carry had not been generated (``DocumentFailed``)
    become pending again, due now (same dedupe key): the document has been put back in the queue."""
    result = s.execute(update(OutboxMessage).where(
        OutboxMessage.document_no == document_no, OutboxMessage.status == "failed",
        OutboxMessage.last_error.like(f"%文书{document_no}未能生成%"))
        .values(status="pending", next_attempt_at=now).execution_options(synchronize_session=False))
    return result.rowcount or 0


def _receipt_row(s: Session, msg_id: int, attempt: int, attempt_id: int | None) -> DeliveryAttempt | None:
    if attempt_id is not None:
        return s.get(DeliveryAttempt, attempt_id)
    return s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id == msg_id,
                                                   DeliveryAttempt.attempt_no == attempt,
                                                   DeliveryAttempt.status == "sending")
                     .order_by(DeliveryAttempt.id.desc())).first()


def _prepare(db: Database, msg_id: int, settings: Settings):
    with db.session() as s:
        msg = s.get(OutboxMessage, msg_id)
        variables = build_variables(s, msg, settings)
        s.expunge(msg)
    return msg, variables


def deliver_one(db: Database, msg_id: int, attempt: int, now: datetime, *, settings: Settings,
                endpoints: dict[str, str] | None = None, crash_hook=None, attempt_id: int | None = None,
                setup: channel_config.ChannelSetup | None = None, policy=None) -> str:
    if setup is None:
        with db.session() as s:
            setup = channel_config.load_setup(s, settings)
    policy = policy or outbound.policy_for(settings)
    endpoints = {**setup.endpoints, **(endpoints or {})}
    msg, variables = _prepare(db, msg_id, setup.settings)
    record = dict(attempt_id=attempt_id)
    try:
        rendered = render_message(msg.template, variables)
        attachments = None
        spec = CATALOG[msg.template]
        if msg.channel == "email" and spec.is_document:
            # A document issued by a transition is attached as stored (rendered once, same bytes
            # and sha256 as on the case); other numbered messages are rendered from the row.
            from notifications.documents.store import DocumentFailed, DocumentNotReady, stored_pdf_for_message

            try:
                stored = stored_pdf_for_message(db, msg, now, setup.settings)
            except DocumentNotReady as exc:  # the render flow has not made it yet: wait, no attempt counted
                return _postpone(db, msg_id, attempt, now, exc.until, str(exc), attempt_id=attempt_id)
            except DocumentFailed as exc:  # alerted once as the document's failure, not per message
                return _record(db, msg_id, attempt, now, ok=False, response=None, error=f"模板渲染失败：{exc}",
                               final=True, **record)
            if stored is not None:
                name = f"{stored[0]}-{msg.document_no}.pdf".replace("/", "_")
                attachments = {name: stored[1]}
            else:
                doc = render_document(msg.template, variables)
                name = f"{doc.title}-{msg.document_no or msg.id}.pdf".replace("/", "_")
                attachments = {name: doc.pdf}
    except RenderError as exc:  # never send a half-rendered message; tell the administrators
        return _record(db, msg_id, attempt, now, ok=False, response=None, error=f"模板渲染失败：{exc}", final=True,
                       alert=True, **record)
    delivered = None
    if msg.channel == "inbox":
        result = channels.SendResult(ok=True, response="inbox")
        delivered = (rendered.subject, rendered.short_text)
    else:
        if msg.channel in setup.errors and msg.channel not in setup.disabled:  # saved secrets unreadable: retry later
            return _record(db, msg_id, attempt, now, ok=False, response=None,
                           error=f"渠道配置错误：{setup.errors[msg.channel]}", **record)
        try:
            if msg.channel in setup.disabled:
                raise channels.ChannelConfigError(f"{channels.CHANNEL_NAMES.get(msg.channel, msg.channel)}渠道已被管理员停用")
            url = channels.channel_url(msg.channel, setup.settings, address=msg.recipient_address,
                                       dedupe_key=msg.dedupe_key)
            channels.validate_url(msg.channel, url)
        except channels.ChannelConfigError as exc:
            return _record(db, msg_id, attempt, now, ok=False, response=None, error=f"渠道配置错误：{exc}",
                           final=True, **record)
        result = channels.send(msg.channel, url, subject=rendered.subject, short_text=rendered.short_text,
                               html=rendered.html, attachments=attachments, endpoints=endpoints, policy=policy)
    if crash_hook is not None:
        crash_hook(msg)  # tests: simulate the worker dying after the channel answered
    return _record(db, msg_id, attempt, now, ok=result.ok, response=result.response,
                   error=None if result.ok else f"发送失败：{result.response}", final=result.final,
                   delivered=delivered, **record)


def deliver_pending(db: Database, now: datetime, *, limit: int = 100, worker: str | None = None, crash_hook=None,
                    settings: Settings | None = None, endpoints: dict[str, str] | None = None) -> dict[str, int]:
    """Deliver due rows; returns counts (sent / retry / failed / postponed / reclaimed / stale).

    Channel settings: ``settings`` (default: the environment) with the configurations saved by
    administrators applied over them (``channel_config.load_setup``); ``endpoints`` overrides the bots'
    endpoints (saved ones included)."""
    settings = settings or get_settings()
    worker = worker or default_worker()
    counts: Counter = Counter()
    with db.session() as s:
        setup = channel_config.load_setup(s, settings)
    policy = outbound.policy_for(settings)
    for msg_id, attempt, attempt_id in _claim(db, now, limit, counts, worker):
        outcome = deliver_one(db, msg_id, attempt, now, settings=settings, endpoints=endpoints,
                              crash_hook=crash_hook, attempt_id=attempt_id, setup=setup, policy=policy)
        counts[outcome] += 1
        log.info("outbox %s attempt %s → %s (worker %s)", msg_id, attempt, outcome, worker)
    return dict(counts)


def attempts_of(session: Session, message_ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    """The receipts of some messages, oldest first, by message id."""
    out: dict[int, list[DeliveryAttempt]] = {i: [] for i in message_ids}
    if message_ids:
        for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(message_ids))
                                 .order_by(DeliveryAttempt.message_id, DeliveryAttempt.id)):
            out[a.message_id].append(a)
    return out


def resend(db: Database, message_id: int, now: datetime, *, user: User | None = None) -> OutboxMessage:
    """Admin re-send of a failed message: pending again, due now, same dedupe key, attempts kept.
    With ``user``: an admin, and the message one they may act on (cases/ledger/policy.py: a case in their
    subtree; a system alert: the root admin or its recipient); otherwise 404 as if missing."""
    from cases.ledger.policy import message_for_admin

    with db.transaction() as s:
        if user is not None:
            msg = message_for_admin(s, user, message_id)
        else:
            msg = s.get(OutboxMessage, message_id)
        if msg is None:
            raise NotFound(f"消息（编号{message_id}）不存在")
        if msg.status != "failed":
            raise ActionNotAllowed(f"只能重新发送失败的消息（当前状态：{msg.status}）", state=msg.status)  # 409
        msg.status, msg.next_attempt_at = "pending", now
        s.flush()
        s.expunge(msg)
        return msg


def send_test(channel: str, *, now: datetime, to: str | None = None, db: Database | None = None,
              settings: Settings | None = None, endpoints: dict[str, str] | None = None) -> channels.SendResult:
    """``anjian notify test``: send a test message (a ``system_alert``) through one channel now,
    with the configuration delivery would use (environment + saved configurations). ``to``: the
    e-mail address for ``email``, the username for ``inbox``. Never raises for a channel problem;
    the result's ``response`` is what to show (Chinese around the provider's own words)."""
    settings = settings or get_settings()
    if channel not in channels.CHANNELS:
        return channels.SendResult(False, f"未知的通知渠道“{channel}”，可选：{'、'.join(channels.CHANNELS)}")
    label = channels.CHANNEL_NAMES[channel]
    notes = []
    setup = channel_config.overlay(settings, {})
    if db is not None:
        try:
            with db.session() as s:
                setup = channel_config.load_setup(s, settings)
        except Exception as exc:  # noqa: BLE001 - a missing database must not stop an SMTP test
            if channel == "inbox":
                return channels.SendResult(False, f"无法连接数据库：{exc}")
            notes.append(f"（未能读取数据库中保存的渠道配置，按环境变量发送：{type(exc).__name__}）")
    variables = {"recipient_name": to or "系统管理员", "alert_title": "通知渠道测试（无需处理）",
                 "alert_detail": f"这是一条由 anjian notify test 通过{label}渠道发送的测试消息，收到即说明该渠道配置可用。",
                 "raised_at": now}
    rendered = render_message(ALERT_TEMPLATE, variables)
    if channel == "inbox":
        if db is None or not to:
            return channels.SendResult(False, "站内信测试需要用 --to 指定接收用户的用户名")
        with db.transaction() as s:
            user = s.scalar(select(User).where(User.username == to.strip().lower()))  # stored lower-case
            if user is None:
                return channels.SendResult(False, f"用户“{to}”不存在")
            msg = OutboxMessage(dedupe_key=f"test:{now.isoformat()}:{ALERT_TEMPLATE}:{user.id}:inbox", case_id=None,
                                template=ALERT_TEMPLATE, recipient_user_id=user.id, channel="inbox",
                                variables={**variables, "recipient_name": user.display_name,
                                           "raised_at": now.isoformat()},
                                urgent=False, status="sent", attempts=1, next_attempt_at=now, created_at=now,
                                sent_at=now, provider_response="inbox")
            s.add(msg)
            s.flush()
            s.add(DeliveryAttempt(message_id=msg.id, attempt_no=1, started_at=now, finished_at=now, status="sent",
                                  provider_response="inbox", worker=default_worker()))
            return channels.SendResult(True, f"已写入用户“{to}”的站内信（消息编号{msg.id}）")
    if channel == "email" and not to:
        return channels.SendResult(False, "电子邮件测试需要用 --to 指定收件邮箱地址")
    try:
        if channel in setup.disabled:
            raise channels.ChannelConfigError(f"{label}渠道已被管理员停用")
        if channel in setup.errors:
            raise channels.ChannelConfigError(setup.errors[channel])
        url = channels.channel_url(channel, setup.settings, address=to, dedupe_key=f"test:{now.isoformat()}")
        channels.validate_url(channel, url)
        result = channels.send(channel, url, subject=rendered.subject, short_text=rendered.short_text,
                               html=rendered.html, endpoints={**setup.endpoints, **(endpoints or {})},
                               policy=outbound.policy_for(settings))
    except channels.ChannelConfigError as exc:
        return channels.SendResult(False, f"渠道配置错误：{exc}")
    if notes:
        result = channels.SendResult(result.ok, f"{result.response}\n{''.join(notes)}")
    return result


def mark_read(session: Session, msg: OutboxMessage, now: datetime) -> None:
    if msg.read_at is None:
        msg.read_at = now


__all__ = ["deliver_pending", "deliver_one", "resend", "backoff", "quiet_until", "attempts_of", "enqueue_alert",
           "send_test", "MAX_ATTEMPTS", "LEASE"]
