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
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clock import SHANGHAI
from cases.config import Settings, get_settings
from cases.db import Database
from cases.errors import Conflict, NotFound
from cases.models import OutboxMessage
from notifications import channels
from notifications.catalog import CATALOG
from notifications.render import RenderError, render_document, render_message
from notifications.variables import build_variables

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


def _claim(db: Database, now: datetime, limit: int, counts: Counter) -> list[int]:
    with db.transaction() as s:
        stmt = (select(OutboxMessage)
                .where(OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        claimed = []
        for msg in s.scalars(stmt):
            if msg.channel in channels.BOT_CHANNELS and not msg.urgent:
                until = quiet_until(now)
                if until is not None:
                    msg.status = "pending"
                    msg.next_attempt_at = until
                    counts["postponed"] += 1
                    continue
            if msg.status == "sending":
                counts["reclaimed"] += 1  # lease expired: the previous worker died mid-delivery
            msg.status = "sending"
            msg.attempts += 1
            msg.next_attempt_at = now + LEASE
            claimed.append((msg.id, msg.attempts))
        return claimed


def _record(db: Database, msg_id: int, attempt: int, now: datetime, *, ok: bool, response: str | None,
            error: str | None, final: bool = False) -> str:
    with db.transaction() as s:
        q = select(OutboxMessage).where(OutboxMessage.id == msg_id)
        if db.dialect == "postgresql":
            q = q.with_for_update()
        msg = s.scalars(q).one()
        if msg.status != "sending" or msg.attempts != attempt:
            return "stale"  # another worker re-claimed it after our lease expired
        msg.provider_response = response
        if ok:
            msg.status, msg.sent_at, msg.last_error = "sent", now, None
            return "sent"
        msg.last_error = error
        if final or msg.attempts >= MAX_ATTEMPTS:
            msg.status = "failed"
            return "failed"
        msg.status = "pending"
        msg.next_attempt_at = now + backoff(msg.attempts)
        return "retry"


def _prepare(db: Database, msg_id: int, settings: Settings):
    with db.session() as s:
        msg = s.get(OutboxMessage, msg_id)
        variables = build_variables(s, msg, settings)
        s.expunge(msg)
    return msg, variables


def deliver_one(db: Database, msg_id: int, attempt: int, now: datetime, *, settings: Settings,
                endpoints: dict[str, str] | None = None, crash_hook=None) -> str:
    msg, variables = _prepare(db, msg_id, settings)
    try:
        rendered = render_message(msg.template, variables)
        attachments = None
        spec = CATALOG[msg.template]
        if msg.channel == "email" and spec.is_document:
            doc = render_document(msg.template, variables)
            name = f"{doc.title}-{msg.document_no or msg.id}.pdf".replace("/", "_")
            attachments = {name: doc.pdf}
    except RenderError as exc:  # never send a half-rendered message
        return _record(db, msg_id, attempt, now, ok=False, response=None, error=f"模板渲染失败：{exc}", final=True)
    if msg.channel == "inbox":
        result = channels.SendResult(ok=True, response="inbox")
    else:
        try:
            url = channels.channel_url(msg.channel, settings, address=msg.recipient_address,
                                       dedupe_key=msg.dedupe_key)
            channels.validate_url(msg.channel, url)
        except channels.ChannelConfigError as exc:
            return _record(db, msg_id, attempt, now, ok=False, response=None, error=f"渠道配置错误：{exc}",
                           final=True)
        result = channels.send(msg.channel, url, subject=rendered.subject, short_text=rendered.short_text,
                               html=rendered.html, attachments=attachments, endpoints=endpoints)
    if crash_hook is not None:
        crash_hook(msg)  # tests: simulate the worker dying after the channel answered
    return _record(db, msg_id, attempt, now, ok=result.ok, response=result.response,
                   error=None if result.ok else f"发送失败：{result.response}")


def deliver_pending(db: Database, now: datetime, *, limit: int = 100, worker: str | None = None, crash_hook=None,
                    settings: Settings | None = None, endpoints: dict[str, str] | None = None) -> dict[str, int]:
    """Deliver due rows; returns counts (sent / retry / failed / postponed / reclaimed / stale)."""
    settings = settings or get_settings()
    counts: Counter = Counter()
    for msg_id, attempt in _claim(db, now, limit, counts):
        outcome = deliver_one(db, msg_id, attempt, now, settings=settings, endpoints=endpoints,
                              crash_hook=crash_hook)
        counts[outcome] += 1
        log.info("outbox %s attempt %s → %s (worker %s)", msg_id, attempt, outcome, worker)
    return dict(counts)


def resend(db: Database, message_id: int, now: datetime) -> OutboxMessage:
    """Admin re-send of a failed message: pending again, due now, same dedupe key, attempts kept."""
    with db.transaction() as s:
        msg = s.get(OutboxMessage, message_id)
        if msg is None:
            raise NotFound(f"消息（编号{message_id}）不存在")
        if msg.status != "failed":
            raise Conflict(f"只能重新发送失败的消息（当前状态：{msg.status}）")
        msg.status, msg.next_attempt_at = "pending", now
        s.flush()
        s.expunge(msg)
        return msg


def mark_read(session: Session, msg: OutboxMessage, now: datetime) -> None:
    if msg.read_at is None:
        msg.read_at = now


__all__ = ["deliver_pending", "deliver_one", "resend", "backoff", "quiet_until", "MAX_ATTEMPTS", "LEASE"]
